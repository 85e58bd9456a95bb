"""Data into the layout ALLIDBDataset reads: CVAT COCO to masks, the split,
and ALL-IDB1's ``.xyc`` centres to COCO polygons."""
from .coco import convert_coco
from .coco_masks import ConversionError, ConversionWarning, rasterize
from .splits import split_groups, split_sizes
from .xyc import XycError, bootstrap_coco, bootstrap_polygons, read_xyc, write_xyc

__all__ = ['convert_coco', 'ConversionError', 'ConversionWarning', 'rasterize',
           'split_groups', 'split_sizes', 'XycError', 'bootstrap_coco',
           'bootstrap_polygons', 'read_xyc', 'write_xyc']
