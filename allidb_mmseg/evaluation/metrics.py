"""mmseg's IoU metric with per-class values, and the same arithmetic for masks
that come from outside a Runner (the Otsu baseline)."""
from __future__ import annotations

import logging
import math
import warnings
from typing import Any, Dict, Iterable, Optional, Sequence

import numpy as np

from .. import compat  # noqa: F401,I001  (before mmseg is imported)
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS

from ..io.image_io import read_image
from ..smear.cell_scale import min_blast_area
from .detection import detection_row, summarize_detection

__all__ = ['PerClassIoUMetric', 'BlastDetectionMetric', 'segmentation_metrics']

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
            out[f'{name}.{cls}'] = None if np.isnan(v) else round(float(v) * 100, 2)
    return out


@METRICS.register_module()
class BlastDetectionMetric(BaseMetric):
    """Per-blast precision, recall and F1, count MAE and ALL-vs-healthy accuracy.

    Blasts are matched at the label's resolution as
    :mod:`allidb_mmseg.evaluation.detection` does. The minimum blast area
    follows each image's red-cell size: ``source_rbc_px`` when the dataset
    states it, else measured in the image file (once per file).

    Args:
        source_rbc_px: red-cell diameter of the dataset's images in pixels
            (the config's per-dataset override); None measures each image.
        min_blast_area: a fixed minimum blast area in pixels instead.
    """

    # Keys stay unprefixed, like IoUMetric's ('' also silences mmengine's
    # "prefix is not set" warning).
    default_prefix = ''

    def __init__(self, source_rbc_px: Optional[float] = None,
                 min_blast_area: Optional[int] = None,
                 collect_device: str = 'cpu', prefix: Optional[str] = None
                 ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.source_rbc_px = source_rbc_px
        self.min_blast_area = min_blast_area
        self._areas: dict[str, int] = {}

    def min_area_for(self, img_path: Optional[str]) -> int:
        """The minimum blast area of one image, in its own pixels."""
        if self.min_blast_area is not None:
            return int(self.min_blast_area)
        if img_path not in self._areas:
            img = None if self.source_rbc_px else read_image(img_path)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter('always')
                self._areas[img_path] = min_blast_area(img, self.source_rbc_px)
            for w in caught:
                print_log(f'{img_path}: {w.message}', logger='current',
                          level=logging.WARNING)
        return self._areas[img_path]

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze().cpu().numpy()
            label = sample['gt_sem_seg']['data'].squeeze().cpu().numpy()
            self.results.append(detection_row(
                pred, label, self.min_area_for(sample.get('img_path'))))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        return summarize_detection(results)
