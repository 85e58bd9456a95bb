"""Scoring a segmenter on a labelled split: pixels (mIoU) and blasts (F1)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from allidb_mmseg.evaluation.detection import label_blast_centres
from allidb_mmseg.evaluation.split_scores import score_split


@pytest.fixture
def labelled(tmp_path):
    """Two 100x120 masks: three blasts in the first, none in the second."""
    pairs = []
    for i, centres in enumerate([[(30, 30), (80, 40), (60, 80)], []]):
        mask = np.zeros((100, 120), np.uint8)
        for c in centres:
            cv2.circle(mask, c, 12, 1, -1)
        cv2.imwrite(str(tmp_path / f'm{i}.png'), mask)
        pairs.append((str(tmp_path / f'i{i}.png'), str(tmp_path / f'm{i}.png')))
    return pairs


def label_of(image: str) -> np.ndarray:
    return cv2.imread(image.replace('/i', '/m'), cv2.IMREAD_UNCHANGED)


def test_perfect_segmenter_scores_full_marks(labelled):
    s = score_split(label_of, labelled)
    assert s['mIoU'] == 100.0 and s['IoU.lymphoblast'] == 100.0
    assert s['blast_f1'] == 1.0 and s['images'] == 2 and s['seconds'] >= 0


def test_missed_and_extra_blasts_lower_f1(labelled):
    def one_missed_one_extra(image):
        pred = label_of(image).copy()
        pred[:50, :55] = 0                          # the blast at (30, 30) is lost
        cv2.circle(pred, (100, 85), 10, 1, -1)      # a blast that is not there
        return pred
    s = score_split(one_missed_one_extra, labelled)
    # 2 hits, 1 miss, 2 false positives (one per image)
    assert s['blast_precision'] == pytest.approx(2 / 4)
    assert s['blast_recall'] == pytest.approx(2 / 3)
    assert s['blast_f1'] == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3))
    assert s['mIoU'] < 100
    empty = score_split(lambda f: np.zeros((100, 120), np.uint8), labelled)
    assert empty['blast_f1'] == 0.0 and empty['IoU.lymphoblast'] == 0.0


def test_blast_centres_are_the_ground_truth_blasts(labelled):
    c = label_blast_centres(label_of(labelled[0][0]), min_area=150)
    assert sorted(map(tuple, np.round(c).astype(int))) == [(30, 30), (60, 80), (80, 40)]
