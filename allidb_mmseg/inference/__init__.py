"""The inference core: a torch model (:mod:`.model`), the tiling engine every
backend runs (:mod:`.tiling`) and test-time augmentation (:mod:`.tta`)."""
