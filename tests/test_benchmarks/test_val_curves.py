"""Validation curves of several runs in one figure."""
from __future__ import annotations

import json

from helpers import call_tool


def write_run(work, stamp, vals, train_lines=3):
    d = work / stamp / 'vis_data'
    d.mkdir(parents=True)
    lines = [dict(loss=0.5, step=i) for i in range(train_lines)]
    lines += [dict(mIoU=60 + v, **{'IoU.lymphoblast': 40 + v}, step=s) for s, v in vals]
    (d / 'scalars.json').write_text(''.join(json.dumps(x) + '\n' for x in lines))


def test_plots_the_training_run_of_each_work_dir(tmp_path):
    a, b = tmp_path / 'ce', tmp_path / 'dice'
    write_run(a, '20260101_000000', [(100, 1.0), (200, 5.0)])
    write_run(a, '20260101_010000', [(200, 9.0)])  # a later test of a checkpoint
    write_run(b, '20260101_000000', [(100, 2.0), (200, 3.0)])
    out = tmp_path / 'curves.png'
    proc = call_tool('analysis_tools/plot_val_curves', a, b, '--labels', 'CE',
                     'Dice+CE', '--metrics', 'IoU.lymphoblast', '--out', out)
    assert proc.returncode == 0, proc.stderr
    assert 'CE: IoU.lymphoblast 45.0 at iteration 200' in proc.stdout
    assert 'Dice+CE: IoU.lymphoblast 43.0 at iteration 200' in proc.stdout
    assert out.stat().st_size > 5000
    again = call_tool('analysis_tools/plot_val_curves', a, '--out', out)
    assert again.returncode == 2 and 'exists' in again.stderr
    empty = call_tool('analysis_tools/plot_val_curves', tmp_path / 'none',
                      '--out', tmp_path / 'x.png')
    assert empty.returncode == 2
    assert empty.stderr.strip() == (f'error: {tmp_path / "none"}: no validation '
                                    'results (*/vis_data/scalars.json)')
