"""Shared fixtures: small data and tiny models, so real mmseg code runs fast.

Plain helpers (constants, data writers, tool runners) are in ``helpers.py``.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import (blobby_checkpoint, jpg_seg_root, tiny_config_file,
                     write_random_seg_root)

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


def _open_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix='allidb-open-'))
    path.chmod(0o755)  # others may read: see helpers.read_only
    return path


@pytest.fixture
def open_tmp():
    """A world-readable temporary folder (pytest's own are private to the
    user, so a block run as another user could not read its inputs)."""
    path = _open_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope='session')
def tiny_trained():
    """A tiny model trained 2 iterations with our tools' config path.

    Returns a namespace: ``config`` (inherits segformer_allidb_128, tiny MiT),
    ``checkpoint`` (iter_2.pth, with optimizer state), ``data_root``
    (train/val/test of 32x32 PNG blobs) and ``root``; all world-readable.
    """
    import torch

    from allidb_mmseg.engine.config import prepare_train_config
    from allidb_mmseg.engine.runner import train

    root = _open_dir()
    data = write_random_seg_root(root / 'data',
                                 {'train': 3, 'val': 2, 'test': 2})
    config = tiny_config_file(root / 'tiny.py', max_iters=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(prepare_train_config(str(config), data_root=str(data),
                                   work_dir=str(root / 'work')))
    finally:
        torch.set_num_threads(threads)
    for path in [root, *root.rglob('*')]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield SimpleNamespace(root=root, config=config, data_root=data,
                          checkpoint=root / 'work' / 'iter_2.pth')
    shutil.rmtree(root, ignore_errors=True)


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
    from allidb_mmseg.deployment import export_onnx

    config, checkpoint, _ = blobby_model
    onnx = tmp_path_factory.mktemp('tiny_export') / 'tiny.onnx'
    export_onnx(config, checkpoint, onnx)
    return SimpleNamespace(config=config, checkpoint=checkpoint, onnx=onnx,
                           sidecar=onnx.with_suffix('.json'))
