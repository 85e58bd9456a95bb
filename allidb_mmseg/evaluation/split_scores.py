"""Score a segmenter on a labelled split: mIoU, lymphoblast IoU and blast F1.

Compares inference variants on the same images (fp32 against int8, with and
without test-time augmentation), pixels and blasts scored as ``tools/test.py``
scores them.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable

import numpy as np

from ..io.image_io import read_label
from .count_scoring import CountScore
from .counting import DEFAULT_MIN_BLAST_AREA
from .detection import detection_row

__all__ = ['score_split']


def score_split(segment: Callable[[str], np.ndarray],
                pairs: Iterable[tuple[str, str]],
                min_area: int = DEFAULT_MIN_BLAST_AREA) -> dict:
    """Run ``segment(image_path) -> class mask`` on each (image, label) pair.

    Returns:
        ``mIoU``, ``mAcc``, ``IoU.lymphoblast`` (percent), ``blast_f1``,
        ``blast_precision``, ``blast_recall`` (0-1), ``images`` and
        ``seconds`` (time spent in ``segment``).
    """
    from .metrics import segmentation_metrics  # lazy: mmseg

    scored, rows, seconds = [], [], 0.0
    for image, label_path in pairs:
        label = read_label(label_path)
        t0 = time.perf_counter()
        pred = segment(image)
        seconds += time.perf_counter() - t0
        scored.append((pred, label))
        rows.append(detection_row(pred, label, min_area))
    metrics = segmentation_metrics(scored)
    total = CountScore.summed(rows)
    return {'mIoU': metrics['mIoU'], 'mAcc': metrics['mAcc'],
            'IoU.lymphoblast': metrics.get('IoU.lymphoblast'),
            'blast_f1': total.f1, 'blast_precision': total.precision,
            'blast_recall': total.recall, 'images': len(scored),
            'seconds': seconds}
