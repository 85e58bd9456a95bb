"""The inference core: a torch model, the tiling engine and test-time augmentation.

:mod:`.model` loads a trained model and segments one image (``segment``) or a
row source in bands (``segment_bands``); :mod:`.tiling` is the backend-free
engine both the torch and the onnxruntime backend run; :mod:`.tta` the flips.
"""
