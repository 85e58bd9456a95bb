"""A classical baseline: Otsu thresholding of a purple-stain score.

Why: the paper reports SegFormer alone. A threshold baseline, scored with the
same IoU definition as mmseg's IoUMetric (areas summed over the whole split,
then divided), shows what the network adds. Blasts are large cells whose
nuclei stain dark blue-purple; red cells are pink and the background is pale.
"""
from __future__ import annotations

import os.path as osp
from typing import Optional

import cv2
import numpy as np
from scipy import ndimage as ndi

from allidb_mmseg.evaluation.detection import detection_row, summarize_detection
from allidb_mmseg.evaluation.metrics import segmentation_metrics
from allidb_mmseg.evaluation.summary import metrics_report
from allidb_mmseg.io.image_io import read_image, read_label
from allidb_mmseg.smear.cell_scale import min_blast_area
from allidb_mmseg.utils import split_pairs

__all__ = ['purple_stain_score', 'otsu_blast_mask', 'evaluate_otsu']


def purple_stain_score(img_bgr: np.ndarray) -> np.ndarray:
    """Per-pixel stain score, high on blue-purple nuclei (uint8).

    Blue minus red separates the blue-purple nuclear stain from pink red
    cells (red > blue) and from the grey background (about 0); half the green
    absorbance (255 - G) adds the darkness of the nuclei.
    """
    b, g, r = (img_bgr[..., i].astype(np.float32) for i in range(3))
    score = (b - r) + 0.5 * (255.0 - g)
    lo, hi = np.percentile(score, (0.5, 99.5))
    score = (score - lo) / max(hi - lo, 1e-6) * 255.0
    return np.clip(score, 0, 255).astype(np.uint8)


def otsu_blast_mask(img_bgr: np.ndarray, min_area_fraction: float = 5e-4
                    ) -> np.ndarray:
    """Binary blast mask (uint8 0/1): Otsu on the stain score, then clean-up.

    Clean-up, scaled to the image size: Gaussian blur before thresholding,
    morphological opening and closing, hole filling, and removal of
    components smaller than ``min_area_fraction`` of the image (platelets).
    """
    h, w = img_bgr.shape[:2]
    k = max(3, int(round(min(h, w) / 300)) | 1)
    score = cv2.GaussianBlur(purple_stain_score(img_bgr), (k, k), 0)
    _, mask = cv2.threshold(score, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    mask = ndi.binary_fill_holes(mask).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, 8)
    keep = np.zeros(n, np.uint8)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area_fraction * h * w
    return keep[labels]


def evaluate_otsu(data_root: str, split: str = 'test',
                  progress: bool = True, limit: Optional[int] = None,
                  source_rbc_px: Optional[float] = None) -> dict:
    """Run the Otsu baseline on one split and score it like mmseg does.

    Also scores per-blast detection as tools/test.py does
    (:mod:`allidb_mmseg.evaluation.detection`; the minimum blast area from ``source_rbc_px`` or
    each image's measured red-cell size), under ``detection``.
    """
    from tqdm import tqdm

    pairs = split_pairs(data_root, split)[:limit]
    detections: list[dict] = []

    def predictions():
        for img_path, ann_path in tqdm(pairs, desc=f'otsu {split}',
                                       disable=not progress):
            img, label = read_image(img_path), read_label(ann_path)
            pred = otsu_blast_mask(img)
            detections.append(detection_row(
                pred, label, min_blast_area(img, source_rbc_px)))
            yield pred, label

    metrics = segmentation_metrics(predictions())
    report = metrics_report(metrics)
    return dict(method='otsu', split=split, num_images=len(pairs),
                data_root=osp.abspath(data_root), units=report['units'],
                metrics=metrics, per_class=report['per_class'],
                detection=summarize_detection(detections))
