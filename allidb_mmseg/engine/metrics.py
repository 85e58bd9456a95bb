"""mmseg's IoU metric, with the per-class values in its returned dict."""
from __future__ import annotations

import math
from typing import Dict

from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class PerClassIoUMetric(IoUMetric):
    """``IoUMetric`` that also returns ``IoU.<class>``, ``Acc.<class>``, ...

    Why: IoUMetric only prints its per-class table; tools/test.py must save
    per-class IoU/Acc as JSON, and validation logs should record the
    lymphoblast IoU. The summary keys (aAcc, mIoU, mAcc, mDice) and their
    values are the parent's, in percent.
    """

    def compute_metrics(self, results: list) -> Dict[str, float]:
        metrics = super().compute_metrics(results)
        if self.format_only or not results:
            return metrics
        totals = [sum(column) for column in zip(*results)]
        per_class = self.total_area_to_metrics(
            *totals, self.metrics, self.nan_to_num, self.beta)
        per_class.pop('aAcc', None)
        for name, values in per_class.items():
            for cls, value in zip(self.dataset_meta['classes'], values):
                value = float(value) * 100
                metrics[f'{name}.{cls}'] = (
                    value if math.isnan(value) else round(value, 2))
        return metrics
