"""The evidence-based smear call: score, fitted threshold, saved with the model."""
from __future__ import annotations

import pytest

from allidb_mmseg.evaluation.counting import Blast
from allidb_mmseg.evaluation.smear_call import (SmearCall, detection_f1, find_smear_call,
                                                fit_call, fit_min_area_factor,
                                                fit_smear_call, kept_blasts, smear_score)
from allidb_mmseg.utils import AllidbError

MIN_AREA = 100  # a typical blast is then 500 px


def _b(area, prob):
    return dict(area=area, mean_prob=prob)


def test_score_weighs_blasts_by_probability_and_size():
    assert smear_score([], MIN_AREA) == 0.0
    assert smear_score([_b(500, 0.9)], MIN_AREA) == pytest.approx(0.9)
    assert smear_score([_b(2000, 0.9)], MIN_AREA) == pytest.approx(0.9)   # capped
    assert smear_score([_b(250, 0.8)], MIN_AREA) == pytest.approx(0.4)
    blast = Blast(label=1, area=500, centroid=(0, 0), bbox=(0, 0, 1, 1), mean_prob=None)
    assert smear_score([blast, _b(500, 0.5)], MIN_AREA) == pytest.approx(1.5)


def test_one_false_blast_does_not_flip_a_healthy_field_after_fitting():
    healthy = [dict(true_count=0, blasts=[_b(300, 0.6)]), dict(true_count=0, blasts=[])]
    ill = [dict(true_count=2, blasts=[_b(500, 0.9), _b(500, 0.8)]),
           dict(true_count=1, blasts=[_b(500, 0.95), _b(400, 0.7)])]
    scores = [smear_score(r['blasts'], MIN_AREA) for r in healthy + ill]
    call = fit_smear_call(scores, [r['true_count'] > 0 for r in healthy + ill])
    assert [call.applies(s) for s in scores] == [False, False, True, True]
    # The middle of the gap between the highest healthy and lowest ALL score.
    assert call.threshold == pytest.approx((0.36 + 1.51) / 2)
    assert '4 validation smears, accuracy 1.000' in call.text()
    # The one-blast rule would have flagged the first healthy field.
    assert SmearCall(threshold=1e-6).applies(scores[0])


def test_call_round_trips_beside_a_checkpoint_and_bad_files_are_one_line(tmp_path):
    ckpt = tmp_path / 'best.pth'
    assert find_smear_call(ckpt) is None
    SmearCall(threshold=1.25, fitted_on='x').save(tmp_path / 'smear_call.json')
    assert find_smear_call(ckpt) == SmearCall(threshold=1.25, fitted_on='x')
    SmearCall(threshold=1.0, min_area_factor=2.5).save(tmp_path / 'smear_call.json')
    assert find_smear_call(ckpt).min_area_factor == 2.5
    (tmp_path / 'smear_call.json').write_text('{"threshold": 1, "min_area_factor": 0.5}')
    with pytest.raises(AllidbError, match='smear_call.json: is not a smear-call file.*min_area_factor must be at least 1'):
        find_smear_call(ckpt)
    (tmp_path / 'smear_call.json').write_text('{"thr": 1}')
    with pytest.raises(AllidbError, match='smear_call.json.*not a smear-call file'):
        find_smear_call(ckpt)
    with pytest.raises(AllidbError, match='no smears'):
        fit_smear_call([], [])


def _hb(area, hit, prob=0.9):
    return dict(area=area, mean_prob=prob, hit=hit)


# Whole blasts are about 500 px; false blasts are fragments of other cells.
VAL = [dict(true_count=2, min_area=MIN_AREA, blasts=[_hb(520, True), _hb(480, True),
                                                     _hb(150, False), _hb(180, False)]),
       dict(true_count=0, min_area=MIN_AREA, blasts=[_hb(160, False), _hb(210, False)]),
       dict(true_count=1, min_area=MIN_AREA, blasts=[_hb(300, True)])]


def test_size_filter_keeps_the_whole_blasts_and_drops_the_fragments():
    assert detection_f1(VAL) == pytest.approx((3 / 7, 1.0, 0.6))
    assert kept_blasts(VAL[0], 2.0) == ([_hb(520, True), _hb(480, True)], 200)
    # 2.5x (250 px) drops every fragment and keeps every blast; 1.0-2.0 keep
    # fragments, 3.5x and more lose the 300 px blast. The smallest best wins.
    assert fit_min_area_factor(VAL, (1.0, 2.0, 2.5, 3.0, 6.0)) == 2.5
    assert detection_f1(VAL, 2.5) == pytest.approx((1.0, 1.0, 1.0))
    assert fit_min_area_factor(VAL, (6.0, 1.0)) == 1.0    # 0 blasts: F1 0
    with pytest.raises(AllidbError, match='no fields'):
        fit_min_area_factor([])


def test_fit_call_scores_with_its_size_filter():
    call = fit_call(VAL, size_filter=True)
    assert call.min_area_factor == 2.5
    assert [call.applies(smear_score(*kept_blasts(f, 2.5))) for f in VAL] == [True, False, True]
    assert call.counted_area(MIN_AREA) == 250 and '2.5x the minimum area' in call.text()
    plain = fit_call(VAL)   # no size filter unless asked
    assert plain.min_area_factor == 1.0 and 'minimum area' not in plain.text()
