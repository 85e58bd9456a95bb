"""ALL-IDB lymphoblast segmentation in mmseg's img_dir/ann_dir layout."""
from __future__ import annotations

import os.path as osp
from typing import List

import mmengine
from mmengine import fileio
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from ..utils import IMAGE_SUFFIXES


@DATASETS.register_module()
class ALLIDBDataset(BaseSegDataset):
    """Two classes: 0 background, 1 lymphoblast; 255 is ignored.

    Masks are uint8 PNGs of class indices, ``ann_dir/<stem>.png``. Images may be of any
    format in ``img_suffix`` (any case), where mmseg's base class takes one suffix. With
    ``ann_file`` (stems, e.g. ``splits/val.txt``) each stem may have any of them.

    Args:
        img_suffix: an extension or a tuple of them; default: all of IMAGE_SUFFIXES.
        seg_map_suffix: extension of the masks.
        reduce_zero_label: kept False: 0 is a real class (background).
    """

    METAINFO = dict(classes=('background', 'lymphoblast'), palette=[[0, 0, 0], [220, 40, 140]])

    def __init__(self, img_suffix: str | tuple[str, ...] = IMAGE_SUFFIXES,
                 seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False, **kwargs) -> None:
        if isinstance(img_suffix, str):
            img_suffix = (img_suffix,)
        super().__init__(img_suffix=tuple(s.lower() for s in img_suffix),
                         seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)

    def load_data_list(self) -> List[dict]:
        """One entry per image, whatever its extension, paired by stem."""
        img_dir = self.data_prefix.get('img_path', '')
        ann_dir = self.data_prefix.get('seg_map_path', None)
        images = sorted(
            f for f in fileio.list_dir_or_file(
                img_dir, list_dir=False, recursive=True,
                backend_args=self.backend_args)
            if osp.splitext(f)[1].lower() in self.img_suffix)
        by_stem: dict[str, str] = {}
        for img in images:
            stem = osp.splitext(img)[0]
            if stem in by_stem:
                raise ValueError(f'{img_dir}: {by_stem[stem]} and {img} share '
                                 f'the stem {stem!r}; their masks would clash')
            by_stem[stem] = img
        if self.ann_file and not osp.isdir(self.ann_file):
            stems = [line.strip() for line in mmengine.list_from_file(
                self.ann_file, backend_args=self.backend_args) if line.strip()]
            missing = [s for s in stems if s not in by_stem]
            if missing:
                raise FileNotFoundError(
                    f'{self.ann_file}: no image under {img_dir} for '
                    f'{missing[:5]}{" ..." if len(missing) > 5 else ""}')
            images = [by_stem[s] for s in stems]
        data_list = []
        for img in images:
            info = dict(img_path=osp.join(img_dir, img), label_map=self.label_map,
                        reduce_zero_label=self.reduce_zero_label, seg_fields=[])
            if ann_dir is not None:
                info['seg_map_path'] = osp.join(ann_dir,
                                                osp.splitext(img)[0] + self.seg_map_suffix)
            data_list.append(info)
        return data_list
