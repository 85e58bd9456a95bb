"""benchmark.py --deployment: onnxruntime vs torch, int8 and TTA, from one run."""
from __future__ import annotations

import json
import math

from helpers import call_tool, write_random_seg_root


def test_deployment_mode_measures_every_figure(tiny_export, tmp_path):
    root = write_random_seg_root(tmp_path / 'data', {'train': 2, 'test': 2}, size=64)
    out = tmp_path / 'deploy.json'
    r = call_tool('analysis_tools/benchmark', tiny_export.config, tiny_export.checkpoint,
                  '--deployment', '--quick', '--data-root', root, '--out', out,
                  '--threads', 1)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert [f['input_hw'] for f in res['forward']] == [[64, 64], [72, 96]]
    for f in res['forward']:
        assert f['max_abs_diff_fp32'] <= 1e-4
        for k in ('ratio_fp32', 'ratio_int8', 'torch_fp32_ms', 'ort_int8_ms',
                  'cpu_ratio_fp32', 'torch_fp32_cpu_ms'):
            assert math.isfinite(f[k]) and f[k] > 0
    e2e = res['end_to_end']
    assert e2e['fields'] == 1 and e2e['field_size'] == [320, 240]
    for b in ('torch', 'onnxruntime'):
        assert e2e[b]['field_s'] > 0 and e2e[b]['tool_wall_s'] > 0
    assert res['agreement']['pixel_agreement'] >= 0.999
    assert res['agreement']['images_with_other_count'] == 0
    q = res['int8']
    assert q['offered'] == (q['miou_loss'] <= 0.5)
    assert q['fp32']['images'] == q['int8']['images'] == 2
    t = res['tta']
    assert t['torch_scores_equal'] is True  # both backends agree with and without TTA
    assert t['time_factor_onnxruntime'] > 1 and t['time_factor_torch'] > 1
    assert t['gain_miou'] == t['tta']['mIoU'] - t['plain']['mIoU']
    assert '| forward pass 64x64, onnxruntime fp32' in r.stdout
    assert '| TTA (8 flips/rotations) |' in r.stdout
    again = call_tool('analysis_tools/benchmark', tiny_export.config,
                      tiny_export.checkpoint, '--deployment', '--quick',
                      '--data-root', root, '--out', out)
    assert again.returncode == 2 and 'use --force' in again.stderr


def test_forward_only_with_session_variants(tiny_export, tmp_path):
    from benchmarks.speed.deployment import SESSION_VARIANTS

    root = write_random_seg_root(tmp_path / 'data', {'test': 1}, size=64)
    out = tmp_path / 'fwd.json'
    r = call_tool('analysis_tools/benchmark', tiny_export.config, tiny_export.checkpoint,
                  '--deployment', '--quick', '--forward-only', '--session-variants',
                  '--data-root', root, '--out', out, '--threads', 1)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert 'int8' not in res and 'end_to_end' not in res and 'tta' not in res
    names = ['fp32'] + [f'fp32_{v}' for v in SESSION_VARIANTS]
    for f in res['forward']:
        assert 'ratio_int8' not in f
        for name in names:
            assert math.isfinite(f[f'ratio_{name}']) and f[f'ratio_{name}'] > 0
            assert f[f'max_abs_diff_{name}'] <= 1e-4, name
    assert '| forward pass 64x64, onnxruntime fp32_spinning' in r.stdout
    assert 'forward pass only' in r.stdout
