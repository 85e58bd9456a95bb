"""Per-blast detection scores of a predicted mask against a label mask.

IoU says how many pixels agree; a haematologist counts cells. Each label blast
(touching ones split as :func:`~.counting.count_blasts` splits a prediction)
gives one centre, its innermost pixel, matched to the predicted blasts by
:func:`~.matching.match_centres`. Both sides count only blasts of at least
the minimum blast area.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
from scipy import ndimage as ndi

from ..utils import BLAST_CLASS
from .count_scoring import score_counts
from .counting import AllRule, count_blasts
from .matching import CountScore

__all__ = ['DETECTION_KEYS', 'label_blast_centres', 'detection_row', 'summarize_detection']

# Keys of :func:`summarize_detection` (fractions 0-1, count MAE in blasts).
DETECTION_KEYS = ('blast_precision', 'blast_recall', 'blast_F1', 'count_MAE',
                  'ALL_accuracy', 'true_blasts', 'predicted_blasts', 'images')


def label_blast_centres(label: np.ndarray, min_area: int) -> np.ndarray:
    """(N, 2) x, y centres of the label's blasts: each one's innermost pixel.

    Args:
        label: (H, W) class indices (1 = lymphoblast; 255 is not a blast).
        min_area: blasts smaller than this (pixels) are not counted.
    """
    blasts = count_blasts(np.asarray(label) == BLAST_CLASS, min_area=min_area)
    centres = []
    for b in blasts.blasts:
        x, y, w, h = b.bbox
        piece = blasts.labels[y:y + h, x:x + w] == b.label
        dist = ndi.distance_transform_edt(np.pad(piece, 1))[1:-1, 1:-1]
        r, c = np.unravel_index(int(dist.argmax()), dist.shape)
        centres.append((x + c, y + r))
    return np.asarray(centres, np.float64).reshape(-1, 2)


def detection_row(pred: np.ndarray, label: np.ndarray, min_area: int,
                  rule: AllRule = AllRule()) -> dict:
    """One image's detection numbers.

    Args:
        pred: (H, W) predicted class indices, at the label's resolution.
        label: (H, W) true class indices.
        min_area: the minimum blast area in pixels of these masks.
        rule: when an image is called ALL (default: one blast or more).

    Returns:
        ``CountScore.as_dict()`` plus ``pred_all``, ``true_all`` and
        ``min_blast_area``.
    """
    if pred.shape != label.shape:
        raise ValueError(f'prediction {pred.shape} and label {label.shape} differ in size')
    row = score_counts(pred, label_blast_centres(label, min_area), min_area, rule)
    del row['all_correct']
    return dict(row, min_blast_area=int(min_area))


def summarize_detection(rows: Iterable[dict]) -> dict:
    """Micro-averaged precision/recall/F1 (hits summed over images), the
    mean absolute count error and the ALL-vs-healthy accuracy per image."""
    rows = list(rows)
    total = CountScore.summed(rows)
    n = len(rows)
    return dict(
        blast_precision=round(total.precision, 4),
        blast_recall=round(total.recall, 4), blast_F1=round(total.f1, 4),
        count_MAE=round(float(np.mean([abs(r['count_error']) for r in rows])), 4)
        if n else 0.0,
        ALL_accuracy=round(float(np.mean([r['pred_all'] == r['true_all'] for r in rows])), 4)
        if n else 0.0,
        true_blasts=total.true_count, predicted_blasts=total.pred_count,
        images=n)
