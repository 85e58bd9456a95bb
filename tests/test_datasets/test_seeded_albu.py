"""SeededAlbu: the configs' albumentations views follow the run's seed."""
from __future__ import annotations

import numpy as np
from mmengine.config import Config

from allidb_mmseg.datasets.transforms import SeededAlbu


def _build() -> SeededAlbu:
    from mmseg.registry import TRANSFORMS

    t = TRANSFORMS.build(Config.fromfile('configs/_base_/datasets/allidb.py').table1_augmentation)
    assert isinstance(t, SeededAlbu)
    return t


def _run(t: SeededAlbu, img: np.ndarray, n: int = 3) -> np.ndarray:
    return np.stack([t(dict(img=img.copy(), gt_seg_map=np.zeros(img.shape[:2], np.uint8)))['img']
                     for _ in range(n)])


def _augment(numpy_seed: int, img: np.ndarray) -> np.ndarray:
    np.random.seed(numpy_seed)
    return _run(_build(), img)


def test_same_numpy_seed_same_augmentations():
    img = (np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8)
    first, again, other = _augment(0, img), _augment(0, img), _augment(1, img)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first[0], first[1])  # draws go on between calls


def test_a_forked_worker_reseeds_from_its_own_numpy_state(monkeypatch):
    """A worker forked after the parent used the transform must not replay the
    parent's draws: it reseeds from its own (mmengine-seeded) numpy state."""
    import os

    img = (np.random.default_rng(2).random((64, 64, 3)) * 255).astype(np.uint8)
    np.random.seed(0)
    used = _build()
    _run(used, img, 1)  # seeded in this process
    monkeypatch.setattr(os, 'getpid', lambda: -1)  # as in a forked worker
    np.random.seed(7)
    in_worker = _run(used, img)
    np.random.seed(7)
    assert np.array_equal(in_worker, _run(_build(), img))
