"""ReviewPageHook counts blasts by the test metric's per-image minimum area."""
from __future__ import annotations

from types import SimpleNamespace

from allidb_mmseg.engine.review_hook import ReviewPageHook
from allidb_mmseg.evaluation.counting import DEFAULT_MIN_BLAST_AREA
from allidb_mmseg.evaluation.metrics import BlastDetectionMetric


def _runner(*metrics):
    return SimpleNamespace(test_evaluator=SimpleNamespace(metrics=list(metrics)))


def test_page_takes_the_detection_metrics_area(tmp_path):
    metric = BlastDetectionMetric(min_blast_area=7)
    hook = ReviewPageHook(str(tmp_path))
    assert hook._min_area(_runner(metric), 'a.png') == 7
    assert hook._min_area(_runner(), 'a.png') == DEFAULT_MIN_BLAST_AREA
    assert ReviewPageHook(str(tmp_path), min_blast_area=9)._min_area(
        _runner(metric), 'a.png') == 9
