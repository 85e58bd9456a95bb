"""int8: static quantization, offered only within 0.5 mIoU points of fp32."""
from __future__ import annotations

import json
import shutil

import pytest

from helpers import call_tool, write_random_seg_root


@pytest.fixture
def fp32_copy(tiny_export, tmp_path):
    onnx = tmp_path / 'model.onnx'
    shutil.copy(tiny_export.onnx, onnx)
    shutil.copy(tiny_export.sidecar, onnx.with_suffix('.json'))
    return onnx


def synth_pairs(synth_set) -> list[tuple[str, str]]:
    return [(str(i), str(synth_set / 'masks' / f'{i.stem}.png'))
            for i in sorted((synth_set / 'images').iterdir())]


def test_int8_is_written_with_its_scores_when_close_enough(fp32_copy, synth_set,
                                                          monkeypatch):
    from allidb_mmseg.deployment import load_onnx_model
    from allidb_mmseg.deployment import quantize as q
    from allidb_mmseg.deployment.sidecar import file_sha256

    monkeypatch.setattr(q, 'MAX_MIOU_LOSS', 100.0)
    pairs = synth_pairs(synth_set)
    res = q.offer_int8(fp32_copy, pairs[:4], [p for p, _ in pairs[4:6]], split='synth')
    out = fp32_copy.with_name('model.int8.onnx')
    assert res['offered'] and res['path'] == str(out) and out.is_file()
    assert res['miou_loss'] == pytest.approx(res['fp32']['mIoU'] - res['int8']['mIoU'])
    side = json.loads(out.with_suffix('.json').read_text())
    assert side['onnx_sha256'] == file_sha256(out)
    assert side['quantization']['int8']['mIoU'] == res['int8']['mIoU']
    assert side['quantization']['calibration_images'] == 2
    model = load_onnx_model(out)
    import onnx
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {'QLinearConv', 'QuantizeLinear', 'DequantizeLinear'} <= ops
    assert 'MultiHeadAttention' in ops  # attention stays in float, fused
    mask = model.segment(pairs[0][0])
    assert mask.shape == (240, 320)


def test_int8_is_not_offered_beyond_the_loss_limit(fp32_copy, synth_set, monkeypatch):
    from allidb_mmseg.deployment import quantize as q

    monkeypatch.setattr(q, 'MAX_MIOU_LOSS', -1000.0)  # any model loses "too much"
    pairs = synth_pairs(synth_set)
    res = q.offer_int8(fp32_copy, pairs[:2], [pairs[2][0]])
    assert res['offered'] is False
    assert sorted(p.name for p in fp32_copy.parent.iterdir()) == ['model.json',
                                                                  'model.onnx']


def test_export_tool_with_int8_reports_the_accuracy_change(tiny_export, tmp_path):
    root = write_random_seg_root(tmp_path / 'data', {'train': 2, 'val': 2}, size=64)
    out = tmp_path / 'model.onnx'
    r = call_tool('deployment/export_onnx', tiny_export.config, tiny_export.checkpoint,
                  '--out', out, '--int8', '--data-root', root)
    assert r.returncode == 0, r.stderr
    text = r.stdout + r.stderr
    assert 'mIoU' in text and 'blast F1' in text and 'on 2 val images' in text
    int8 = tmp_path / 'model.int8.onnx'
    assert int8.is_file() == ('wrote ' + str(int8) in r.stdout)
    assert int8.is_file() != ('int8 not written' in r.stderr)
