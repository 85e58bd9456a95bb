"""mmseg's IoU metric with per-class values, and the same arithmetic for masks
that come from outside a Runner (the Otsu baseline)."""
from __future__ import annotations

import math
from typing import Dict, Iterable

import numpy as np

from .. import compat  # noqa: F401,I001  (before mmseg is imported)
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS

__all__ = ['PerClassIoUMetric', 'segmentation_metrics']

CLASSES = ('background', 'lymphoblast')


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


def segmentation_metrics(pairs: Iterable[tuple[np.ndarray, np.ndarray]],
                         num_classes: int = 2, ignore_index: int = 255
                         ) -> dict:
    """aAcc, mIoU, mAcc, mDice and per-class values, in percent.

    Uses mmseg's own IoUMetric arithmetic (areas accumulated over all images,
    label 255 ignored), so the numbers compare with tools/test.py's.
    """
    import torch

    areas = [IoUMetric.intersect_and_union(
        torch.from_numpy(pred.astype(np.int64)),
        torch.from_numpy(label.astype(np.int64)), num_classes, ignore_index)
        for pred, label in pairs]
    totals = [sum(a[i] for a in areas) for i in range(4)]
    ret = IoUMetric.total_area_to_metrics(*totals, ['mIoU', 'mDice'])
    out: dict = {'aAcc': round(float(ret.pop('aAcc')) * 100, 2)}
    for name, values in ret.items():
        out['m' + name] = round(float(np.nanmean(values)) * 100, 2)
    for name, values in ret.items():
        for cls, v in zip(CLASSES[:num_classes], values):
            out[f'{name}.{cls}'] = None if np.isnan(v) else \
                round(float(v) * 100, 2)
    return out
