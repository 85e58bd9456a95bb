"""Test-time augmentation over flips and 90-degree rotations, for both backends."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from allidb_mmseg.inference import tta as tta_mod
from allidb_mmseg.inference.tta import (DIHEDRAL, FLIPS, apply_transform, disable_tta,
                                   enable_tta, invert_transform, tta_logits,
                                   tta_transforms)
from helpers import blob_image, load_tool, tiny_config_file


def test_the_eight_transforms_are_distinct_and_invertible():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    seen = set()
    for t in DIHEDRAL:
        for arr in (x, torch.from_numpy(x)):
            y = apply_transform(arr, t)
            back = invert_transform(y, t)
            assert np.array_equal(np.asarray(back), x)
        seen.add(np.ascontiguousarray(apply_transform(x, t)).tobytes())
    assert len(seen) == 8
    assert set(FLIPS) <= set(DIHEDRAL) and len(tta_transforms('flips')) == 4
    assert tta_transforms(None) == () and tta_transforms(True) == DIHEDRAL
    with pytest.raises(ValueError, match='unknown TTA mode'):
        tta_transforms('rot45')


def ramp_predictor(x):
    """Logits that depend on position (a ramp along w): not symmetric."""
    w = x.shape[-1]
    ramp = np.linspace(-2, 2, w, dtype=np.float32) if isinstance(x, np.ndarray) \
        else torch.linspace(-2, 2, w)
    s = x[:, :1] + ramp
    return np.concatenate([-s, s], 1) if isinstance(x, np.ndarray) else torch.cat([-s, s], 1)


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_averaged_prediction_is_symmetric_and_backend_independent():
    x = np.random.default_rng(0).standard_normal((1, 3, 6, 9)).astype(np.float32)
    plain = softmax(ramp_predictor(x))
    avg = softmax(tta_logits(ramp_predictor, x))
    assert not np.allclose(avg, plain, atol=1e-3)  # TTA changed something
    for t in DIHEDRAL:  # D4-averaging makes the predictor equivariant
        turned = softmax(tta_logits(ramp_predictor, np.ascontiguousarray(
            apply_transform(x, t))))
        np.testing.assert_allclose(turned, apply_transform(avg, t), atol=1e-5)
    via_torch = tta_logits(ramp_predictor, torch.from_numpy(x)).softmax(1).numpy()
    np.testing.assert_allclose(via_torch, avg, atol=1e-5)


def test_an_equivariant_predictor_is_unchanged():
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 7)).astype(np.float32)
    pixelwise = lambda b: np.concatenate([b[:, :1], -b[:, 1:2]], 1)  # noqa: E731
    np.testing.assert_allclose(softmax(tta_logits(pixelwise, x)),
                               softmax(pixelwise(x)), atol=1e-5)


@pytest.fixture(scope='module')
def tiny_torch(tiny_export):
    from allidb_mmseg.apis import load_model
    return load_model(tiny_export.config, tiny_export.checkpoint)


def test_segment_with_tta_is_equivariant_and_matches_onnxruntime(tiny_torch,
                                                                  tiny_export):
    from allidb_mmseg.apis import segment
    from allidb_mmseg.deployment import load_onnx_model

    img = blob_image(64, 64, seed=2)  # the model's input size: no resize
    turned = np.ascontiguousarray(np.rot90(img))
    _, p = segment(tiny_torch, img, return_prob=True)
    _, p_turned = segment(tiny_torch, turned, return_prob=True)
    assert np.abs(np.rot90(p).astype(np.float32) - p_turned).max() > 0.01

    enable_tta(enable_tta(tiny_torch))  # twice: still one level of TTA
    try:
        _, q = segment(tiny_torch, img, return_prob=True)
        _, q_turned = segment(tiny_torch, turned, return_prob=True)
        field = blob_image(90, 130, seed=3)
        m_torch, q_field = segment(tiny_torch, field, return_prob=True)
    finally:
        disable_tta(tiny_torch)
    np.testing.assert_allclose(np.rot90(q).astype(np.float32), q_turned, atol=2e-3)
    assert np.array_equal(segment(tiny_torch, img, return_prob=True)[1], p)

    runtime = load_onnx_model(tiny_export.onnx, tta='d4')
    m_ort, q_ort = runtime.segment(field, return_prob=True)
    assert (m_ort == m_torch).mean() >= 0.999
    np.testing.assert_allclose(q_ort.astype(np.float32), q_field, atol=2e-3)


def test_test_tool_tta_runs_every_view(jpg_data_root, tmp_path, monkeypatch, capsys):
    from allidb_mmseg.apis import load_model

    config = tiny_config_file(tmp_path / 'tiny.py')
    ckpt = tmp_path / 'w.pth'
    torch.save({'state_dict': load_model(config, None).state_dict()}, ckpt)
    calls = []
    real = tta_mod.tta_logits

    def spy(predict, batch, transforms=DIHEDRAL):
        calls.append(len(transforms))
        return real(predict, batch, transforms)
    monkeypatch.setattr(tta_mod, 'tta_logits', spy)
    out = tmp_path / 'metrics.json'
    rc = load_tool('test').main([str(config), str(ckpt), '--data-root',
                                 str(jpg_data_root), '--work-dir', str(tmp_path / 'w'),
                                 '--out', str(out), '--tta'])
    assert rc == 0, capsys.readouterr().err
    assert calls == [8, 8]  # two test images, eight views each
    report = json.loads(out.read_text())
    assert report['tta'] == 'd4' and 0 <= report['metrics']['mIoU'] <= 100


def test_tiled_models_average_every_tile_alike_in_both_backends(tiny_export, tmp_path):
    """TTA wraps encode_decode, so the torch tiles get it as onnxruntime's do."""
    from allidb_mmseg.apis import load_model, segment
    from allidb_mmseg.deployment import export_onnx, load_onnx_model
    from helpers import TINY_CONFIG, TINY_MIT

    cfg = tmp_path / 'tiled.py'
    cfg.write_text(TINY_CONFIG.format(backbone=TINY_MIT) + (
        "model['test_cfg'] = dict(mode='slide', crop_size=(48, 48), stride=(32, 32))\n"))
    export_onnx(cfg, tiny_export.checkpoint, tmp_path / 'tiled.onnx')
    model = load_model(cfg, tiny_export.checkpoint)
    field = blob_image(90, 130, seed=4)
    _, plain = segment(model, field, return_prob=True)
    enable_tta(model)
    m_torch, q_torch = segment(model, field, return_prob=True)
    m_ort, q_ort = load_onnx_model(tmp_path / 'tiled.onnx', tta='d4').segment(
        field, return_prob=True)
    assert np.abs(q_torch.astype(np.float32) - plain).max() > 0.01  # TTA ran
    assert (m_ort == m_torch).mean() >= 0.999
    np.testing.assert_allclose(q_ort.astype(np.float32), q_torch, atol=2e-3)
