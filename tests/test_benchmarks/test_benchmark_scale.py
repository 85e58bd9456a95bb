"""tools/analysis_tools/benchmark_scale.py on test-sized inputs (--quick)."""
from __future__ import annotations

import json

import tifffile

from helpers import TINY_CONFIG, TINY_MIT, call_tool, write_tiny_config

# Quick inputs have red cells of ~5 px: the tiny model works at that scale,
# with tiles large enough to be quick on a CPU.
TILED_TAIL = '''
model.update(test_cfg=dict(mode='slide', crop_size=(256, 256), stride=(192, 192)))
working_rbc_px = 5
'''


def test_scale_benchmark_quick(tmp_path):
    cfg = tmp_path / 'tiny_tiled.py'
    cfg.write_text(TINY_CONFIG.format(backbone=TINY_MIT) + TILED_TAIL)
    out = tmp_path / 'res.json'
    r = call_tool('analysis_tools/benchmark_scale', cfg, '--quick',
                  '--cache', tmp_path / 'inputs', '--out', out, '--threads', 1,
                  '--cases', 'field', 'slide_pyramid', '--no-progress',
                  '--blast-fraction', 0.05)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())['cases']
    assert set(res) == {'field', 'slide_pyramid'}
    slide = res['slide_pyramid']
    assert (slide['width'], slide['height']) == (2000, 2000)
    assert slide['inference']['level'] == 0 and slide['inference']['reader'] == 'tiffslide'
    # the untrained model's blast logit was moved: 5 % of the field is blast
    assert 0.02 < res['field']['blast_area_fraction'] < 0.1
    for case in res.values():
        assert case['seconds'] > 0 and case['mp_per_s'] > 0
        assert case['peak_rss'] >= case['start_rss'] > 100e6
    lines = r.stdout.splitlines()
    assert lines[0].startswith('| input |')
    assert any(ln.startswith('| slide_pyramid (pyramid) | 2000x2000 | level 0') for ln in lines)
    # the input was a real 4-level pyramid, the output mask one too
    src = next((tmp_path / 'inputs').glob('slide_pyramid_*.tif'))
    with tifffile.TiffFile(src) as tif:
        assert len(tif.series[0].levels) >= 3
    mask = tmp_path / 'tiny_tiled_outputs' / 'slide_pyramid' / 'masks' / 'slide_pyramid.ome.tif'
    with tifffile.TiffFile(mask) as tif:
        assert tif.series[0].levels[0].shape == (2000, 2000)
    again = call_tool('analysis_tools/benchmark_scale', cfg, '--quick',
                      '--cache', tmp_path / 'inputs', '--out', out)
    assert again.returncode == 2 and 'exists' in again.stderr


def test_whole_image_config_is_refused(tmp_path):
    cfg = write_tiny_config(tmp_path / 'whole.py')
    r = call_tool('analysis_tools/benchmark_scale', cfg, '--quick',
                  '--out', tmp_path / 'x.json')
    assert r.returncode == 2
    assert r.stderr.startswith('error: ') and 'does not tile' in r.stderr
