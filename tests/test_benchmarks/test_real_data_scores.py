"""benchmarks/real_data.py: scores from saved per-field records, with the fitted call."""
from __future__ import annotations

import json

import pytest

from benchmarks.real_data import score_run, split_scores

from allidb_mmseg.evaluation.smear_call import SmearCall


def _field(name, true_count, blasts, inter=0, union=1):
    hits = sum(hit for _, hit in blasts)
    return dict(name=name, inter=inter, union=union, true_count=true_count,
                pred_count=len(blasts), hits=hits, false_positives=len(blasts) - hits,
                misses=true_count - hits, ood_flag=False,
                blasts=[dict(area=a, mean_prob=0.9, hit=h) for a, h in blasts])


# min_area 100: whole blasts of ~500 px, fragments of other cells of ~150 px.
VAL = [_field('v0', 1, [(500, True), (150, False)]), _field('v1', 0, [(160, False)]),
       _field('v2', 2, [(450, True), (520, True)])]
TEST = [_field('t0', 1, [(480, True), (140, False), (170, False)], inter=300, union=600),
        _field('t1', 0, [(130, False)], inter=0, union=130)]


def test_split_scores_with_and_without_the_size_filter():
    recs = [dict(r, min_area=100) for r in TEST]
    # The filter counts blasts of 200 px or more; a typical one is then 1000 px
    # (smear_score), so t0 scores 0.9 * 480 / 1000.
    s = split_scores(recs, SmearCall(threshold=0.5),
                     SmearCall(threshold=0.4, min_area_factor=2.0))
    assert s['target_IoU'] == pytest.approx(100 * 300 / 730)
    assert (s['precision'], s['recall']) == pytest.approx((0.25, 1.0))
    assert (s['precision_sized'], s['recall_sized'], s['F1_sized']) == pytest.approx((1, 1, 1))
    assert s['count_MAE'] == pytest.approx((2 + 1) / 2) and s['count_MAE_sized'] == 0
    assert s['smear_acc_1blast'] == 0.5 and s['smear_acc_sized'] == 1.0
    # unfiltered t0 scores 0.9 * (480 + 140 + 170) / 500, t1 0.9 * 130 / 500
    assert s['smear_acc'] == 1.0


def test_score_run_fits_the_call_on_val_and_saves_it_beside_the_checkpoint(tmp_path):
    ckpt = tmp_path / 'best.pth'
    result = dict(checkpoint=str(ckpt), min_area=100,
                  records={'val': VAL, 'test|none': TEST})
    scored = score_run(result, str(ckpt))
    call = SmearCall.load(tmp_path / 'smear_call.json')
    assert scored['smear_call'] == json.loads((tmp_path / 'smear_call.json').read_text())
    assert call.min_area_factor == 1.0   # saved as allidb-fit-smear-call fits by default
    sized = scored['smear_call_sized']['min_area_factor']
    assert 1.6 <= sized <= 4.5   # between the fragments and the blasts
    assert set(scored['scores']) == {'test|none'}
    assert scored['scores']['test|none']['F1_sized'] == 1.0
    assert scored['scores']['test|none']['F1'] == pytest.approx(0.4)
