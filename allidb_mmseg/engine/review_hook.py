"""``ReviewPageHook``: the review page of a test run (``tools/test.py --show-dir``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
from mmengine.dist import all_gather_object, is_main_process
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ..evaluation.counting import DEFAULT_MIN_BLAST_AREA, AllRule
from ..evaluation.metrics import BlastDetectionMetric
from ..io.image_io import read_image
from ..products.labelled_review import review_labelled_image, write_labelled_review
from ..products.report import SCALED_MIN_AREA
from ..utils import refuse_existing

__all__ = ['ReviewPageHook', 'add_review_page']


@HOOKS.register_module()
class ReviewPageHook(Hook):
    """Compare every test prediction with its label and write a review page.

    For each image: ``OUT/overlays/<stem>.png`` with true positives, false
    positives and false negatives in three colours, the page's pictures,
    and a row with its IoU and blast counts; after the test,
    ``OUT/report.json`` and ``OUT/index.html`` (worst IoU first). See
    :mod:`allidb_mmseg.products.labelled_review`.

    Args:
        min_blast_area: the smallest blast counted, in pixels; None takes
            each image's from the test's :class:`BlastDetectionMetric`, so
            the page counts as ``test_metrics.json`` does.
        all_min_count: blasts from which an image is ALL-suspected.
    """

    priority = 'LOW'

    def __init__(self, out_dir: str, min_blast_area: Optional[int] = None,
                 all_min_count: int = 1) -> None:
        self.out_dir = Path(out_dir)
        self.min_area = min_blast_area
        self.rule = AllRule(min_count=all_min_count)
        self.rows: list[dict] = []

    def before_test(self, runner) -> None:
        self.rows = []

    def _min_area(self, runner, img_path: str) -> int:
        if self.min_area is not None:
            return self.min_area
        metric = next((m for m in runner.test_evaluator.metrics
                       if isinstance(m, BlastDetectionMetric)), None)
        # The metric measured (and cached) this image's area in its
        # process(), which mmengine runs before this hook.
        return metric.min_area_for(img_path) if metric else DEFAULT_MIN_BLAST_AREA

    def after_test_iter(self, runner, batch_idx: int,
                        data_batch: Any = None,
                        outputs: Optional[Sequence] = None) -> None:
        for sample in outputs or ():
            logits = sample.seg_logits.data.float()
            prob = logits.softmax(0)[1] if logits.shape[0] > 1 else logits[0].sigmoid()
            self.rows.append(review_labelled_image(
                self.out_dir, sample.img_path, Path(sample.img_path).stem,
                read_image(sample.img_path),
                sample.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8),
                prob.cpu().numpy(), sample.gt_sem_seg.data[0].cpu().numpy(),
                self._min_area(runner, sample.img_path), self.rule))

    def after_test_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        min_area = self.min_area or SCALED_MIN_AREA
        rows = [r for part in all_gather_object(self.rows) for r in part]
        if is_main_process():
            write_labelled_review(self.out_dir, rows, dict(
                checkpoint=str(runner.cfg.get('load_from')),
                config=str(runner.cfg.filename), min_blast_area=min_area,
                all_rule=self.rule.text(min_area),
                metrics={k: round(float(v), 4) for k, v in (metrics or {}).items()
                         if np.isfinite(v)}))


def add_review_page(cfg: Any, show_dir: str, force: bool = False) -> None:
    """Add :class:`ReviewPageHook` writing into ``show_dir`` to a test config.

    Raises:
        AllidbError: the page or its report exists and ``force`` is not set.
    """
    for name in ('index.html', 'report.json'):
        refuse_existing(Path(show_dir) / name, force)
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
        dict(type='ReviewPageHook', out_dir=str(show_dir))]
