"""Shared fixtures: small data and tiny models, so real mmseg code runs fast.

Plain helpers (constants, data writers, tool runners) are in ``helpers.py``.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import blobby_checkpoint, jpg_seg_root, write_random_seg_root

os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')


@pytest.fixture
def tiny_seg_root(tmp_path: Path) -> Path:
    """A train/val data root of 32x32 PNG blobs."""
    return write_random_seg_root(tmp_path / 'data', {'train': 4, 'val': 2})


@pytest.fixture(scope='module')
def jpg_data_root(tmp_path_factory) -> Path:
    """A train/val/test data root of 32x32 JPEG blobs, shared by a module."""
    return jpg_seg_root(tmp_path_factory.mktemp('allidb'),
                        {'train': 3, 'val': 2, 'test': 2})


@pytest.fixture(scope='module')
def one_torch_thread():
    """One intra-op torch thread: on a shared 2-core machine it is several
    times faster than two contending ones. Restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='module')
def synth_set(tmp_path_factory) -> Path:
    """Ten 320x240 synthetic fields (five healthy) with masks and .xyc centres."""
    from allidb_mmseg.synthetic import make_synthetic

    out = tmp_path_factory.mktemp('xyc') / 'synth'
    info = make_synthetic(out, num_images=10, size=(320, 240), seed=5)
    assert info['num_blasts'] > 5 and info['num_healthy'] == 5
    return out


@pytest.fixture(scope='session')
def blobby_model(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(config, checkpoint, image folder): six 160x120 synthetic fields and a
    tiny untrained model that predicts random blobs on about a fifth of each
    (see ``helpers.blobby_checkpoint``)."""
    from allidb_mmseg.synthetic import make_synthetic

    tmp = tmp_path_factory.mktemp('blobby')
    make_synthetic(tmp / 'synth', num_images=6, size=(160, 120), seed=3)
    images = tmp / 'synth' / 'images'
    ckpt = blobby_checkpoint(tmp / 'tiny.py', tmp / 'blobby.pth',
                             sorted(images.iterdir()))
    return tmp / 'tiny.py', ckpt, images


@pytest.fixture(scope='session')
def tiny_export(blobby_model, tmp_path_factory):
    """The blobby tiny model as config, checkpoint and checked ONNX export
    with its sidecar: masks with many boundaries, where any numerical
    difference between backends would show."""
    from types import SimpleNamespace

    from allidb_mmseg.deployment import export_onnx

    config, checkpoint, _ = blobby_model
    onnx = tmp_path_factory.mktemp('tiny_export') / 'tiny.onnx'
    export_onnx(config, checkpoint, onnx)
    return SimpleNamespace(config=config, checkpoint=checkpoint, onnx=onnx,
                           sidecar=onnx.with_suffix('.json'))
