"""Per-blast detection: label centres, matching, the metric and the report."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from allidb_mmseg.evaluation.detection import (detection_row,
                                               label_blast_centres,
                                               summarize_detection)
from allidb_mmseg.evaluation.summary import format_metrics, metrics_report


def discs(shape, circles) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    for x, y, r in circles:
        cv2.circle(m, (x, y), r, 1, -1)
    return m


LABEL = discs((200, 300), [(50, 50, 20), (88, 50, 20),   # two touching blasts
                           (200, 140, 25), (270, 180, 3)])  # one, and a speck


def test_touching_label_blasts_give_one_centre_each_inside_it():
    centres = label_blast_centres(LABEL, min_area=100)
    assert len(centres) == 3  # the 3 px speck is below the minimum area
    for x, y in centres:
        assert LABEL[int(y), int(x)] == 1
    xs = sorted(c[0] for c in centres if c[1] < 100)
    assert xs[0] < 69 < xs[1]  # one on each side of the neck


def test_hits_misses_and_false_positives():
    perfect = detection_row(LABEL, LABEL, min_area=100)
    assert (perfect['hits'], perfect['misses'], perfect['false_positives']) == (3, 0, 0)
    assert perfect['pred_all'] and perfect['true_all']
    # Miss the lone blast, add a blob where there is none.
    pred = discs(LABEL.shape, [(50, 50, 20), (88, 50, 20), (150, 170, 15)])
    row = detection_row(pred, LABEL, min_area=100)
    assert (row['hits'], row['misses'], row['false_positives']) == (2, 1, 1)
    assert row['count_error'] == 0
    # Everything below the minimum area is no blast: healthy call.
    empty = detection_row(np.zeros_like(LABEL), LABEL, min_area=100)
    assert not empty['pred_all'] and empty['misses'] == 3
    with pytest.raises(ValueError, match='differ in size'):
        detection_row(LABEL[:10], LABEL, 100)


def test_summary_is_micro_averaged():
    rows = [dict(hits=3, false_positives=1, misses=0, count_error=1,
                 true_count=3, pred_count=4, pred_all=True, true_all=True),
            dict(hits=0, false_positives=0, misses=2, count_error=-2,
                 true_count=2, pred_count=0, pred_all=False, true_all=True)]
    s = summarize_detection(rows)
    assert s['blast_precision'] == 0.75 and s['blast_recall'] == 0.6
    assert s['blast_F1'] == pytest.approx(2 * 0.75 * 0.6 / 1.35, abs=1e-4)
    assert s['count_MAE'] == 1.5 and s['ALL_accuracy'] == 0.5
    assert (s['true_blasts'], s['predicted_blasts'], s['images']) == (5, 4, 2)


def test_metric_scores_pixel_data_and_the_report_prints_it(tmp_path):
    from allidb_mmseg.evaluation.metrics import BlastDetectionMetric

    metric = BlastDetectionMetric(source_rbc_px=12)  # min area 90 px
    assert metric.min_area_for('any.jpg') == 90
    pred = discs(LABEL.shape, [(50, 50, 20), (88, 50, 20)])
    sample = dict(pred_sem_seg=dict(data=torch.from_numpy(pred)[None]),
                  gt_sem_seg=dict(data=torch.from_numpy(LABEL)[None]),
                  img_path='x.jpg')
    metric.process(None, [sample])
    out = metric.compute_metrics(metric.results)
    assert out['blast_precision'] == 1.0
    assert out['blast_recall'] == pytest.approx(2 / 3, abs=1e-4)
    # An image whose red cells cannot be measured falls back to 150 px.
    blank = tmp_path / 'blank.png'
    cv2.imwrite(str(blank), np.full((64, 64, 3), 230, np.uint8))
    assert BlastDetectionMetric().min_area_for(str(blank)) == 150

    report = metrics_report({'mIoU': 80.0, 'IoU.lymphoblast': 61.5,
                             'Dice.lymphoblast': 76.2, **out},
                            ['background', 'lymphoblast'])
    assert report['detection']['blast_F1'] == out['blast_F1']
    text = format_metrics(report)
    assert text.splitlines()[0] == ('lymphoblast IoU 61.50 %, Dice 76.20 %  '
                                    '(mIoU 80.00 %)')
    assert 'precision 1.000, recall 0.667, F1 0.800' in text


def test_test_tool_adds_detection_once():
    from allidb_mmseg.engine.runner import with_detection_metric

    one = with_detection_metric(dict(type='PerClassIoUMetric'))
    assert [m['type'] for m in one] == ['PerClassIoUMetric', 'BlastDetectionMetric']
    assert with_detection_metric(one) == one
