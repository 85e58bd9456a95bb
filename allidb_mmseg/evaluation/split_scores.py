"""Score a segmenter on a labelled split: mIoU, lymphoblast IoU and blast F1.

Used to compare inference variants on the same images (fp32 against int8,
with and without test-time augmentation). Pixels are scored with mmseg's
IoU arithmetic (:func:`.metrics.segmentation_metrics`, percent). Blasts are
scored as objects: the blasts of the ground-truth mask (counted as
``tools/infer.py`` counts them, touching cells split) give one centre each,
and those centres are matched to the predicted blasts with
:func:`.count_scoring.match_centres`; F1 is the harmonic mean of the summed
precision and recall.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable

import cv2
import numpy as np

from .count_scoring import match_centres
from .counting import DEFAULT_MIN_BLAST_AREA, count_blasts

__all__ = ['blast_centres', 'score_split']


def blast_centres(label: np.ndarray, min_area: int = DEFAULT_MIN_BLAST_AREA,
                  blast_class: int = 1) -> np.ndarray:
    """(k, 2) x, y centroids of the blasts of a ground-truth mask."""
    count = count_blasts(label == blast_class, min_area=min_area)
    return np.array([b.centroid for b in count.blasts], np.float64).reshape(-1, 2)


def score_split(segment: Callable[[str], np.ndarray],
                pairs: Iterable[tuple[str, str]],
                min_area: int = DEFAULT_MIN_BLAST_AREA,
                blast_class: int = 1) -> dict:
    """Run ``segment(image_path) -> class mask`` on each (image, label) pair.

    Returns:
        ``mIoU``, ``mAcc``, ``IoU.lymphoblast`` (percent), ``blast_f1``,
        ``blast_precision``, ``blast_recall`` (0-1), ``images`` and
        ``seconds`` (time spent in ``segment``).
    """
    from .metrics import segmentation_metrics

    scored, hits, fps, misses, seconds = [], 0, 0, 0, 0.0
    for image, label_path in pairs:
        label = cv2.imread(str(label_path), cv2.IMREAD_UNCHANGED)
        if label is None:
            raise ValueError(f'{label_path}: cannot read the label mask')
        t0 = time.perf_counter()
        pred = segment(image)
        seconds += time.perf_counter() - t0
        scored.append((pred, label))
        labels = count_blasts(pred == blast_class, min_area=min_area).labels
        s = match_centres(labels, blast_centres(label, min_area, blast_class))
        hits, fps, misses = hits + s.hits, fps + s.false_positives, misses + s.misses
    metrics = segmentation_metrics(scored)
    precision = hits / (hits + fps) if hits + fps else 1.0
    recall = hits / (hits + misses) if hits + misses else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {'mIoU': metrics['mIoU'], 'mAcc': metrics['mAcc'],
            'IoU.lymphoblast': metrics.get('IoU.lymphoblast'),
            'blast_f1': f1, 'blast_precision': precision, 'blast_recall': recall,
            'images': len(scored), 'seconds': seconds}
