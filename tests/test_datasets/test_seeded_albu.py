"""SeededAlbu: the configs' albumentations views follow the run's seed."""
from __future__ import annotations

import numpy as np
from mmengine.config import Config

from allidb_mmseg.datasets.transforms import SeededAlbu


def _augment(numpy_seed: int, img: np.ndarray) -> np.ndarray:
    from mmseg.registry import TRANSFORMS

    cfg = Config.fromfile('configs/_base_/datasets/allidb.py')
    np.random.seed(numpy_seed)
    t = TRANSFORMS.build(cfg.table1_augmentation)
    assert isinstance(t, SeededAlbu)
    out = [t(dict(img=img.copy(), gt_seg_map=np.zeros(img.shape[:2], np.uint8)))['img']
           for _ in range(3)]
    return np.stack(out)


def test_same_numpy_seed_same_augmentations():
    img = (np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8)
    first, again, other = _augment(0, img), _augment(0, img), _augment(1, img)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first[0], first[1])  # draws go on between calls
