"""ALL-IDB lymphoblast segmentation in mmseg's img_dir/ann_dir layout."""
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS


@DATASETS.register_module()
class ALLIDBDataset(BaseSegDataset):
    """Two classes: 0 background, 1 lymphoblast; 255 is ignored.

    Masks are uint8 PNGs of class indices with the image's stem. The image
    suffix is not fixed: ALL-IDB ships JPEGs and TIFFs, users bring PNG or BMP,
    so every supported image format found in the split folder is listed.
    """

    METAINFO = dict(classes=('background', 'lymphoblast'),
                    palette=[[0, 0, 0], [220, 40, 140]])

    def __init__(self, img_suffix: str = '.jpg', seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False, **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)
