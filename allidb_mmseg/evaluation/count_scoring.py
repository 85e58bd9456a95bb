"""Score predicted blast masks against ALL-IDB1 centre files (``.xyc``).

Blasts are matched to the centres by :func:`.matching.match_centres`.
"""
from __future__ import annotations

import os
from dataclasses import asdict

import cv2
import numpy as np

from ..converters.xyc import XycError, read_xyc
from ..io.image_io import read_label
from ..smear.cell_scale import min_blast_area
from ..utils import BLAST_CLASS, files_by_stem
from .counting import DEFAULT_MIN_BLAST_AREA, AllRule, count_blasts
from .matching import CountScore, match_centres

__all__ = ['CountScore', 'match_centres', 'score_counts', 'evaluate_folders']


def score_counts(pred_mask: np.ndarray, centres: np.ndarray,
                 min_area: int = DEFAULT_MIN_BLAST_AREA,
                 rule: AllRule = AllRule()) -> dict:
    """One image's row for eval_counts: scores plus the ALL/healthy call.

    Blasts are counted exactly as ``tools/infer.py`` counts them
    (components of class 1 above ``min_area``, touching blasts split).
    The truth is ALL when the image has at least one centre.
    """
    blast = np.asarray(pred_mask) == BLAST_CLASS
    count = count_blasts(blast, min_area=min_area)
    score = match_centres(count.labels, centres)
    fraction = float(blast.mean()) if blast.size else 0.0
    pred_all = rule.applies(count.count, fraction)
    true_all = score.true_count > 0
    return dict(score.as_dict(), pred_all=pred_all, true_all=true_all,
                all_correct=pred_all == true_all)


def evaluate_folders(pred_dir: str | os.PathLike, xyc_dir: str | os.PathLike,
                     min_area: int | None = DEFAULT_MIN_BLAST_AREA,
                     rule: AllRule = AllRule(), missing_as_healthy: bool = False,
                     progress: bool = False,
                     images_dir: str | os.PathLike | None = None) -> dict:
    """Score every predicted mask ``PRED/<stem>.png`` against ``XYC/<stem>.xyc``.

    Returns ``dict(images=[...], total={...}, unmatched={...})``. Totals are
    micro-averaged (hits, misses and false positives summed over images);
    ``mean_abs_count_error`` and ``all_accuracy`` are per-image means. A mask
    without a .xyc is skipped (listed in ``unmatched``) unless
    ``missing_as_healthy``, which scores it as an image with no blasts.
    With ``min_area`` None and ``images_dir``, each image's minimum blast
    area follows its red-cell size, as ``tools/infer.py``'s default does
    (:func:`~allidb_mmseg.smear.cell_scale.min_blast_area` of ``IMAGES/<stem>.*``).
    """
    from tqdm import tqdm

    masks = files_by_stem(pred_dir, ('.png',))
    xycs = files_by_stem(xyc_dir, ('.xyc',))
    images = files_by_stem(images_dir) if images_dir is not None else {}
    stems = [s for s in masks if s in xycs or missing_as_healthy]
    rows = []
    for stem in tqdm(stems, desc='scoring', unit='img', disable=not progress):
        mask = read_label(masks[stem])
        try:
            centres = read_xyc(xycs[stem]) if stem in xycs else np.zeros((0, 2))
        except XycError as e:
            raise XycError(f'{xycs[stem]}: {e}') from None
        area = min_area
        if area is None:
            img = cv2.imread(str(images[stem]), cv2.IMREAD_COLOR) if stem in images else None
            area = min_blast_area(img) if img is not None else DEFAULT_MIN_BLAST_AREA
        rows.append(dict(image=stem, min_blast_area=area,
                         **score_counts(mask, centres, area, rule)))
    n = len(rows)
    summed = CountScore.summed(rows)
    total = dict(
        images=n, **asdict(summed), precision=summed.precision, recall=summed.recall,
        mean_abs_count_error=float(np.mean([abs(r['count_error']) for r in rows])) if n else 0.0,
        mean_count_error=float(np.mean([r['count_error'] for r in rows])) if n else 0.0,
        all_accuracy=float(np.mean([r['all_correct'] for r in rows])) if n else 0.0,
        min_blast_area=min_area if min_area is not None else 'per image, from its red-cell size',
        all_rule=rule.text(min_area if min_area is not None else 'per image'))
    no_xyc = [] if missing_as_healthy else sorted(set(masks) - set(xycs))
    unmatched = dict(masks_without_xyc=no_xyc, xyc_without_mask=sorted(set(xycs) - set(masks)))
    return dict(images=rows, total=total, unmatched=unmatched)
