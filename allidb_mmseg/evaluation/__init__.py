"""Scoring: the IoU metric, blast counting, ``.xyc`` count scores.

Counting and scoring need only numpy, OpenCV and SciPy, so importing this
package does not import mmseg. ``PerClassIoUMetric`` (mmseg's METRICS
registry) is in :mod:`.metrics`, imported on first use.
"""
from ..utils.lazy import lazy_attributes
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
           'segmentation_metrics']

__getattr__ = lazy_attributes(__name__, {
    'PerClassIoUMetric': 'metrics', 'BlastDetectionMetric': 'metrics',
    'segmentation_metrics': 'metrics'})
