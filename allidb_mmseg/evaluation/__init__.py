"""Scoring: the IoU metric, blast counting, ``.xyc`` count scores, the Otsu baseline.

Counting and scoring need only numpy, OpenCV and SciPy, so importing this
package does not import mmseg. ``PerClassIoUMetric`` (mmseg's METRICS
registry) is in :mod:`.metrics`, imported on first use.
"""
import importlib
from typing import Any

from .count_scoring import (CountScore, evaluate_folders, match_centres,
                            score_counts)
from .counting import (DEFAULT_MIN_BLAST_AREA, AllRule, Blast, BlastCount,
                       count_blasts)
from .detection import (DETECTION_KEYS, detection_row, label_blast_centres,
                        summarize_detection)

__all__ = ['AllRule', 'Blast', 'BlastCount', 'count_blasts',
           'DEFAULT_MIN_BLAST_AREA', 'CountScore', 'match_centres',
           'score_counts', 'evaluate_folders', 'DETECTION_KEYS',
           'detection_row', 'label_blast_centres', 'summarize_detection',
           'PerClassIoUMetric', 'BlastDetectionMetric',
           'segmentation_metrics', 'evaluate_otsu', 'otsu_blast_mask']

_LAZY = {'PerClassIoUMetric': 'metrics', 'BlastDetectionMetric': 'metrics',
         'segmentation_metrics': 'metrics',
         'evaluate_otsu': 'otsu', 'otsu_blast_mask': 'otsu'}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f'.{_LAZY[name]}', __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
