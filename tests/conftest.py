"""Shared fixtures: small data and tiny models, so real mmseg code runs fast.

Plain helpers (constants, data writers, tool runners) are in ``helpers.py``.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import jpg_seg_root, write_random_seg_root

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
def tiny_export(tmp_path_factory):
    """A tiny model (:data:`helpers.TINY_CONFIG`, random weights) as config,
    checkpoint and checked ONNX export with its sidecar.

    The blast logit's bias is set so that about a fifth of a blob image's
    pixels are blasts: masks with real boundaries, where any numerical
    difference between backends would show.
    """
    from types import SimpleNamespace

    import numpy as np
    import torch

    from allidb_mmseg.apis import load_model
    from allidb_mmseg.apis.inference import _low_res_logits
    from allidb_mmseg.deployment import export_onnx
    from helpers import blob_image, write_tiny_config

    tmp = tmp_path_factory.mktemp('tiny_export')
    config = write_tiny_config(tmp / 'tiny.py')
    torch.manual_seed(0)
    model = load_model(config, None)
    logits = _low_res_logits(model, blob_image(120, 160))
    with torch.no_grad():
        model.decode_head.conv_seg.bias[1] -= float(
            np.quantile(logits[1] - logits[0], 0.8))
    checkpoint = tmp / 'tiny.pth'
    meta = dict(classes=('background', 'lymphoblast'),
                palette=[[0, 0, 0], [220, 40, 140]])
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': meta}}, checkpoint)
    onnx = tmp / 'tiny.onnx'
    export_onnx(config, checkpoint, onnx)
    return SimpleNamespace(config=config, checkpoint=checkpoint, onnx=onnx,
                           sidecar=onnx.with_suffix('.json'))
