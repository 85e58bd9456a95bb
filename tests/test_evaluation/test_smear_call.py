"""The evidence-based smear call: score, fitted threshold, saved with the model."""
from __future__ import annotations

import pytest

from allidb_mmseg.evaluation.counting import Blast
from allidb_mmseg.evaluation.smear_call import (SmearCall, find_smear_call,
                                                fit_smear_call, smear_score)
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
    (tmp_path / 'smear_call.json').write_text('{"thr": 1}')
    with pytest.raises(AllidbError, match='smear_call.json.*not a smear-call file'):
        find_smear_call(ckpt)
    with pytest.raises(AllidbError, match='no smears'):
        fit_smear_call([], [])
