"""The review page for a labelled set (``tools/test.py --show-dir``).

Each prediction is compared with its label (pixels marked 255 are ignored):
true-positive, false-positive and false-negative blast pixels are painted in
three colours, and each image gets its lymphoblast IoU, so the page of
:mod:`.review_page` can sort the worst images first. ``report.json`` adds the
pooled ``iou`` over all pixels, as mmseg computes a class IoU.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from ..evaluation.counting import DEFAULT_MIN_BLAST_AREA, AllRule, count_blasts
from ..utils import BLAST_CLASS, atomic_imwrite, atomic_write_json
from .report import ImageRow, analyse, summary
from .review_page import write_review_images, write_review_page

__all__ = ['LEGEND', 'comparison_overlay', 'review_labelled_image',
           'labelled_summary', 'write_labelled_review']

IGNORE = 255
TP_RGB, FP_RGB, FN_RGB = (0, 200, 83), (255, 45, 85), (0, 145, 255)
LEGEND = (('true positive', TP_RGB), ('false positive', FP_RGB),
          ('false negative', FN_RGB))
FILL_ALPHA = 0.45


def comparison_overlay(img: np.ndarray, regions: Sequence[np.ndarray]
                       ) -> np.ndarray:
    """The BGR ``img`` with the bool (H, W) ``regions``, true-positive,
    false-positive and false-negative pixels as in :data:`LEGEND`, tinted and outlined."""
    out = img.copy()
    thick = max(1, round(max(img.shape[:2]) / 500))
    for region, (_, rgb) in zip(regions, LEGEND):
        if not region.any():
            continue
        bgr = np.array(rgb[::-1], np.float32)
        out[region] = ((1 - FILL_ALPHA) * out[region] + FILL_ALPHA * bgr
                       ).astype(np.uint8)
        contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_LIST,
                                       cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, rgb[::-1], thick, cv2.LINE_AA)
    return out


def review_labelled_image(out_dir: str | Path, file: str, name: str,
                          img: np.ndarray, mask: np.ndarray,
                          prob: np.ndarray | None, label: np.ndarray,
                          min_area: int = DEFAULT_MIN_BLAST_AREA,
                          rule: AllRule = AllRule()) -> dict[str, Any]:
    """Compare one prediction with its label; write its overlay and pictures.

    Args:
        out_dir: the show-dir; writes ``overlays/<name>.png`` and the
            pictures of :func:`.review_page.write_review_images`.
        file, name: the image file (for the report) and its output name.
        img: the BGR image.
        mask, prob: (H, W) predicted class indices and blast probability (or None).
        label: (H, W) labelled class indices (255 = ignore).
        min_area: the smallest blast counted, in pixels.
        rule: when the image counts as ALL-suspected.

    Returns:
        Its report row: the columns of ``report.json`` from
        ``tools/infer.py`` plus ``iou``, ``true_count``, ``tp``, ``fp``,
        ``fn`` (pixels).
    """
    out_dir = Path(out_dir)
    _, numbers = analyse(mask, prob, min_area, rule)
    valid = label != IGNORE
    pred = (mask == BLAST_CLASS) & valid
    true = (label == BLAST_CLASS) & valid
    regions = (pred & true, pred & ~true, ~pred & true)
    tp, fp, fn = (int(np.count_nonzero(r)) for r in regions)
    overlay_path = out_dir / 'overlays' / f'{name}.png'
    overlay = comparison_overlay(img, regions)
    atomic_imwrite(overlay_path, overlay)
    write_review_images(out_dir, name, overlay, img)
    row = ImageRow(file=file, name=name, width=int(img.shape[1]),
                   height=int(img.shape[0]),
                   overlay=overlay_path.relative_to(out_dir).as_posix(),
                   **numbers)
    return dict(asdict(row), iou=tp / (tp + fp + fn) if tp + fp + fn else None,
                true_count=count_blasts(true, min_area=min_area).count,
                tp=tp, fp=fp, fn=fn)


def labelled_summary(rows: Sequence[dict]) -> dict[str, Any]:
    """:func:`.report.summary` plus the labelled blasts and the pooled IoU."""
    s = summary([ImageRow(**{k: r[k] for k in ('file', 'name', 'status',
                                                'blast_count', 'all_suspected')})
                 for r in rows])
    tp, fp, fn = (sum(r.get(k) or 0 for r in rows) for k in ('tp', 'fp', 'fn'))
    return dict(s, true_blasts=sum(r.get('true_count') or 0 for r in rows),
                iou=tp / (tp + fp + fn) if tp + fp + fn else None)


def write_labelled_review(out_dir: str | Path, rows: Sequence[dict],
                          settings: dict[str, Any] | None = None) -> Path:
    """``report.json`` and ``index.html`` (worst IoU first) of a labelled set."""
    out_dir = Path(out_dir)
    rows = sorted(rows, key=lambda r: r['name'])
    doc = dict(summary=labelled_summary(rows), settings=settings or {},
               images=rows)
    atomic_write_json(out_dir / 'report.json', doc, indent=1)
    return write_review_page(out_dir, doc, default_sort='iou', legend=LEGEND,
                             title=f'Test review: {out_dir.resolve().name}')
