"""Blast counts scored against ALL-IDB1 centre files (.xyc); eval_counts.py."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from allidb_mmseg.converters import read_xyc
from allidb_mmseg.evaluation import evaluate_folders, match_centres, score_counts
from helpers import call_tool, run_tool


def test_eval_counts_cli_runs_as_script(synth_set):
    r = run_tool('analysis_tools/eval_counts', synth_set / 'masks',
                 synth_set / 'centres', '--no-progress', timeout=300)
    assert r.returncode == 0, r.stderr
    assert 'precision 1.000, recall 1.000' in r.stdout


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


def test_ground_truth_masks_score_perfectly(synth_set):
    res = evaluate_folders(synth_set / 'masks', synth_set / 'centres', min_area=100)
    t = res['total']
    assert t['images'] == 10
    assert t['precision'] == 1.0 and t['recall'] == 1.0
    assert t['mean_abs_count_error'] == 0.0 and t['all_accuracy'] == 1.0
    assert all(r['count_error'] == 0 for r in res['images'])


def test_eval_counts_tool(synth_set, tmp_path):
    pred = tmp_path / 'pred'
    pred.mkdir()
    for p in sorted((synth_set / 'masks').glob('*.png')):
        m = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if p.stem == 'synth_000':   # drop every blast of one image
            m[:] = 0
        cv2.imwrite(str(pred / p.name), m)
    n_true = len(read_xyc(synth_set / 'centres' / 'synth_000.xyc'))
    out = tmp_path / 'scores.json'
    r = call_tool('analysis_tools/eval_counts', pred, synth_set / 'centres',
                  '--min-blast-area', 100, '--out', out, '--no-progress')
    assert r.returncode == 0, r.stderr
    assert 'total: 10 images' in r.stdout and 'synth_000' in r.stdout
    res = json.loads(out.read_text())
    row = next(x for x in res['images'] if x['image'] == 'synth_000')
    assert row['misses'] == n_true and row['count_error'] == -n_true
    assert res['total']['precision'] == 1.0
    assert res['total']['recall'] < 1.0 or n_true == 0
    again = call_tool('analysis_tools/eval_counts', pred,
                      synth_set / 'centres', '--out', out)
    assert again.returncode == 2 and again.stderr.startswith('error: ')
    assert 'exists' in again.stderr and len(again.stderr.strip().splitlines()) == 1
    bad = call_tool('analysis_tools/eval_counts', tmp_path / 'nope',
                    synth_set / 'centres')
    assert bad.returncode == 2 and 'no such folder' in bad.stderr


def test_min_area_follows_each_image_red_cell_size(synth_set):
    from allidb_mmseg.smear.cell_scale import (default_min_blast_area,
                                                             estimate_rbc_diameter)
    res = evaluate_folders(synth_set / 'masks', synth_set / 'centres', min_area=None,
                           images_dir=synth_set / 'images')
    img = cv2.imread(str(synth_set / 'images' / 'synth_000.jpg'))
    row = next(r for r in res['images'] if r['image'] == 'synth_000')
    assert row['min_blast_area'] == default_min_blast_area(estimate_rbc_diameter(img))
    assert 60 < row['min_blast_area'] < 150  # 320 px fields: smaller than 150
    assert res['total']['recall'] == 1.0 and res['total']['precision'] == 1.0
    assert res['total']['min_blast_area'] == 'per image, from its red-cell size'
