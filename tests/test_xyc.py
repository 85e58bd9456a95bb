"""ALL-IDB1 centre files: reading, count scoring, polygon bootstrap, tools."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from allidb_mmseg.xyc import (XycError, bootstrap_polygons, evaluate_folders,
                              match_centres, read_xyc, score_counts, write_xyc)

REPO = Path(__file__).resolve().parents[1]
# Measured on render_field 320x240 fields, seeds 0-19: mean 0.93 (see
# docs/parts/inference.md); asserted with a margin.
BOOTSTRAP_MEAN_IOU_FLOOR = 0.88
BOOTSTRAP_MIN_IOU_FLOOR = 0.7


def tool(script, *args):
    """Run ``tools/<script>``'s main() in this process (the package is
    already imported, a subprocess would spend seconds importing mmseg)."""
    import contextlib
    import importlib.util
    import io

    spec = importlib.util.spec_from_file_location(
        Path(script).stem, REPO / script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = mod.main([str(a) for a in args])
        except SystemExit as e:
            rc = e.code
    return subprocess.CompletedProcess(script, rc, out.getvalue(), err.getvalue())


def test_eval_counts_cli_runs_as_script(synth):
    r = subprocess.run([sys.executable, 'tools/eval_counts.py', str(synth / 'masks'),
                        str(synth / 'centres'), '--no-progress'], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert 'precision 1.000, recall 1.000' in r.stdout


@pytest.fixture(scope='module')
def synth(tmp_path_factory):
    from allidb_mmseg.synthetic import make_synthetic

    out = tmp_path_factory.mktemp('xyc') / 'synth'
    info = make_synthetic(out, num_images=10, size=(320, 240), seed=5)
    assert info['num_blasts'] > 5 and info['num_healthy'] == 5
    return out


def test_read_xyc_formats(tmp_path):
    p = tmp_path / 'a.xyc'
    p.write_text('10 20\n\n30\t40\n 5,6 \n7;8\n')
    assert read_xyc(p).tolist() == [[10, 20], [30, 40], [5, 6], [7, 8]]
    p.write_text('')
    assert read_xyc(p).shape == (0, 2)
    write_xyc(p, [(1.4, 2.6), (3, 4)])
    assert read_xyc(p).tolist() == [[1, 3], [3, 4]]


@pytest.mark.parametrize('bad', ['10 20 30\n', 'x y\n', '10\n', 'nan 3\n'])
def test_read_xyc_rejects_malformed(tmp_path, bad):
    p = tmp_path / 'b.xyc'
    p.write_text('1 2\n' + bad)
    with pytest.raises(XycError, match='line 2'):
        read_xyc(p)


def test_match_rules():
    labels = np.zeros((50, 50), np.int32)
    labels[5:15, 5:15] = 1      # holds two centres: one hit, one miss
    labels[30:40, 30:40] = 2    # holds one centre: hit
    labels[5:15, 30:40] = 3     # no centre: false positive
    centres = np.array([[7, 7], [12, 12], [35, 35], [45, 5], [80, 80]])
    s = match_centres(labels, centres)
    assert (s.hits, s.false_positives, s.misses) == (2, 1, 3)
    assert s.true_count == 5 and s.pred_count == 3 and s.count_error == -2
    assert s.precision == pytest.approx(2 / 3) and s.recall == pytest.approx(2 / 5)
    empty = match_centres(np.zeros((5, 5), np.int32), np.zeros((0, 2)))
    assert empty.precision == 1.0 and empty.recall == 1.0


def test_score_counts_all_call():
    mask = np.zeros((100, 100), np.uint8)
    cv2.circle(mask, (30, 30), 12, 1, -1)
    r = score_counts(mask, np.zeros((0, 2)), min_area=50)
    assert r['pred_all'] and not r['true_all'] and not r['all_correct']
    assert r['false_positives'] == 1 and r['precision'] == 0.0
    r = score_counts(mask, np.array([[30, 30]]), min_area=50)
    assert r['all_correct'] and r['precision'] == 1.0 and r['recall'] == 1.0


def test_ground_truth_masks_score_perfectly(synth):
    res = evaluate_folders(synth / 'masks', synth / 'centres', min_area=100)
    t = res['total']
    assert t['images'] == 10
    assert t['precision'] == 1.0 and t['recall'] == 1.0
    assert t['mean_abs_count_error'] == 0.0 and t['all_accuracy'] == 1.0
    assert all(r['count_error'] == 0 for r in res['images'])


def test_eval_counts_tool(synth, tmp_path):
    pred = tmp_path / 'pred'
    pred.mkdir()
    for p in sorted((synth / 'masks').glob('*.png')):
        m = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if p.stem == 'synth_000':   # drop every blast of one image
            m[:] = 0
        cv2.imwrite(str(pred / p.name), m)
    n_true = len(read_xyc(synth / 'centres' / 'synth_000.xyc'))
    out = tmp_path / 'scores.json'
    r = tool('tools/eval_counts.py', pred, synth / 'centres', '--min-blast-area', 100,
             '--out', out, '--no-progress')
    assert r.returncode == 0, r.stderr
    assert 'total: 10 images' in r.stdout and 'synth_000' in r.stdout
    res = json.loads(out.read_text())
    row = next(x for x in res['images'] if x['image'] == 'synth_000')
    assert row['misses'] == n_true and row['count_error'] == -n_true
    assert res['total']['precision'] == 1.0
    assert res['total']['recall'] < 1.0 or n_true == 0
    again = tool('tools/eval_counts.py', pred, synth / 'centres', '--out', out)
    assert again.returncode == 2 and again.stderr.startswith('error: ')
    assert 'exists' in again.stderr and len(again.stderr.strip().splitlines()) == 1
    bad = tool('tools/eval_counts.py', tmp_path / 'nope', synth / 'centres')
    assert bad.returncode == 2 and 'no such folder' in bad.stderr


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_bootstrap_polygons_match_truth():
    from allidb_mmseg.synthetic import polygons_to_mask, render_field

    ious = []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        img, polys, centres = render_field(rng, (320, 240), n_blasts=int(rng.integers(1, 6)),
                                           touching_prob=0.5)
        boot, notes = bootstrap_polygons(img, np.array(centres))
        assert len(boot) == len(polys) and notes == [''] * len(polys)
        for g, p in zip(polys, boot):
            ious.append(_iou(polygons_to_mask([g], 240, 320) > 0,
                             polygons_to_mask([p], 240, 320) > 0))
    ious = np.array(ious)
    assert len(ious) >= 15
    assert ious.mean() >= BOOTSTRAP_MEAN_IOU_FLOOR, ious.mean()
    assert ious.min() >= BOOTSTRAP_MIN_IOU_FLOOR, ious.min()


def test_bootstrap_centre_on_background_gets_disc():
    img = np.full((120, 160, 3), 225, np.uint8)
    cv2.circle(img, (40, 60), 15, (200, 60, 110), -1)   # purple-blue cell (BGR)
    boot, notes = bootstrap_polygons(img, np.array([[40, 60], [120, 60]]), radius=15)
    assert notes[0] == '' and 'disc' in notes[1]
    assert abs(boot[0].mean(0) - (40.5, 60.5)).max() < 2


def test_xyc_to_coco_feeds_converter(synth, tmp_path):
    ann = tmp_path / 'boot.json'
    r = tool('tools/xyc_to_coco.py', synth / 'images', synth / 'centres', '--out', ann,
             '--no-progress')
    assert r.returncode == 0, r.stderr
    doc = json.loads(ann.read_text())
    truth = json.loads((synth / 'annotations' / 'instances_default.json').read_text())
    assert len(doc['images']) == 10
    assert len(doc['annotations']) == len(truth['annotations'])
    assert doc['categories'] == truth['categories']
    out = tmp_path / 'data'
    c = tool('tools/convert_coco.py', '--ann', ann, '--img-dir', synth / 'images',
             '--out', out, '--no-progress')
    assert c.returncode == 0, c.stderr
    assert len(list(out.glob('ann_dir/*/*.png'))) == 10
    again = tool('tools/xyc_to_coco.py', synth / 'images', synth / 'centres', '--out', ann)
    assert again.returncode == 2 and 'exists' in again.stderr
