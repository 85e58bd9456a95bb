"""A classical baseline: Otsu thresholding of a purple-stain score.

Why: the paper reports SegFormer alone. A threshold baseline, scored with the
same IoU definition as mmseg's IoUMetric (areas summed over the whole split,
then divided), shows what the network adds. Blasts are large cells whose
nuclei stain dark blue-purple; red cells are pink and the background is pale.
"""
from __future__ import annotations

import os.path as osp
from pathlib import Path
from typing import Iterable, Optional

import cv2
import numpy as np

__all__ = ['purple_stain_score', 'otsu_blast_mask', 'split_pairs',
           'segmentation_metrics', 'evaluate_otsu']

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.tif', '.tiff', '.bmp')
CLASSES = ('background', 'lymphoblast')


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


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    flood = np.pad(mask, 1).copy()
    cv2.floodFill(flood, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 1)
    return mask | (1 - flood[1:-1, 1:-1])


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
    mask = _fill_holes(mask)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, 8)
    keep = np.zeros(n, np.uint8)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area_fraction * h * w
    return keep[labels]


def split_pairs(data_root: str, split: str) -> list[tuple[Path, Path]]:
    """(image, mask) pairs of one split in the img_dir/ann_dir layout."""
    ann_dir = Path(data_root) / 'ann_dir' / split
    img_dir = Path(data_root) / 'img_dir' / split
    if not ann_dir.is_dir():
        raise FileNotFoundError(f'{ann_dir}: no such split folder')
    images = {p.stem: p for p in sorted(img_dir.glob('*'))
              if p.suffix.lower() in IMAGE_SUFFIXES}
    pairs = []
    for ann in sorted(ann_dir.glob('*.png')):
        if ann.stem not in images:
            raise FileNotFoundError(f'{img_dir}: no image for mask {ann.name}')
        pairs.append((images[ann.stem], ann))
    if not pairs:
        raise FileNotFoundError(f'{ann_dir}: no masks (*.png)')
    return pairs


def segmentation_metrics(pairs: Iterable[tuple[np.ndarray, np.ndarray]],
                         num_classes: int = 2, ignore_index: int = 255
                         ) -> dict:
    """aAcc, mIoU, mAcc, mDice and per-class values, in percent.

    Uses mmseg's own IoUMetric arithmetic (areas accumulated over all images,
    label 255 ignored), so the numbers compare with tools/test.py's.
    """
    import torch
    from mmseg.evaluation import IoUMetric

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


def evaluate_otsu(data_root: str, split: str = 'test',
                  progress: bool = True, limit: Optional[int] = None) -> dict:
    """Run the Otsu baseline on one split and score it like mmseg does."""
    from tqdm import tqdm

    pairs = split_pairs(data_root, split)[:limit]

    def predictions():
        for img_path, ann_path in tqdm(pairs, desc=f'otsu {split}',
                                       disable=not progress):
            img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
            label = cv2.imread(str(ann_path), cv2.IMREAD_UNCHANGED)
            if img is None or label is None:
                bad = img_path if img is None else ann_path
                raise ValueError(f'{bad}: cannot read image')
            if label.ndim == 3:
                label = label[..., 0]
            yield otsu_blast_mask(img), label

    metrics = segmentation_metrics(predictions())
    return dict(method='otsu', split=split, num_images=len(pairs),
                data_root=osp.abspath(data_root),
                units='percent (paper uses 0-1: divide by 100)',
                metrics=metrics)
