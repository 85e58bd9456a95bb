"""Count the white cells of a smear field (blasts included) from their stained nuclei.

Nuclei are the only purple-blue, dark objects of a stained field. A pixel's
nucleus score is ``(255 - 2R + B) / 2``; the threshold is Otsu's over the
field, never below :data:`NUCLEUS_SCORE_FLOOR` (a field without a white cell
has no nucleus class for Otsu to find). A neutrophil's lobes are joined by
closing gaps under :data:`LOBE_GAP_RBC` red-cell diameters, and pieces under
:data:`MIN_NUCLEUS_RBC_AREA` red-cell areas (platelets, debris) are dropped.
Measured on real smears in docs/real_data.md ("Counting white cells").
"""
from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

__all__ = ['WhiteCells', 'count_white_cells', 'white_cell_labels', 'NUCLEUS_SCORE_FLOOR',
           'LOBE_GAP_RBC', 'MIN_NUCLEUS_RBC_AREA']

# Red-cell diameter, in pixels, at which nuclei are looked for: enough to
# keep a platelet apart from a nucleus, small enough to be cheap.
_WORK_RBC_PX = 16.0
# The lowest threshold of the nucleus score (0-255). Measured on Zheng's
# two labs: nucleus pixels score 120-190, red cells and glass under 70.
NUCLEUS_SCORE_FLOOR = 105
# Nuclear pieces closer than this (in red-cell diameters) are one cell.
LOBE_GAP_RBC = 0.8
# The smallest nucleus counted, in red-cell areas.
MIN_NUCLEUS_RBC_AREA = 0.3


class WhiteCells(NamedTuple):
    """White cells found in a field.

    Attributes:
        count: how many.
        centres: (count, 2) float array of their nuclei's centres (x, y), in
            the image's pixels.
    """

    count: int
    centres: np.ndarray


def _checked(img_bgr: np.ndarray, rbc_px: float) -> None:
    if img_bgr.ndim != 3 or img_bgr.shape[2] != 3 or img_bgr.dtype != np.uint8:
        raise ValueError(f'expected an (H, W, 3) uint8 image, got {img_bgr.shape} '
                         f'{img_bgr.dtype}')
    if not rbc_px > 0:
        raise ValueError(f'red-cell diameter must be positive, got {rbc_px}')


def _nuclei(img_bgr: np.ndarray, rbc_px: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Nucleus pixels labelled by cell (0: none) at the working resolution, the
    labels kept (cells, not specks), every label's area, and that resolution's
    scale ``s``."""
    s = min(1.0, _WORK_RBC_PX / float(rbc_px))
    small = img_bgr if s == 1.0 else cv2.resize(img_bgr, None, fx=s, fy=s,
                                                interpolation=cv2.INTER_AREA)
    rbc = float(rbc_px) * s
    blur = cv2.GaussianBlur(small, (0, 0), 1.0).astype(np.int16)
    score = np.clip((255 - 2 * blur[..., 2] + blur[..., 0]) // 2 + 64, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(score, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    nuclei = score > max(otsu, NUCLEUS_SCORE_FLOOR)
    r = max(1, int(round(LOBE_GAP_RBC * rbc / 2)))
    joined = cv2.dilate(nuclei.astype(np.uint8),
                        cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    n, labels = cv2.connectedComponents(joined, connectivity=8)
    labels = np.where(nuclei, labels, 0)
    area = np.bincount(labels.ravel(), minlength=n)
    keep = np.flatnonzero(area >= MIN_NUCLEUS_RBC_AREA * np.pi / 4 * rbc ** 2)
    return labels, keep[keep > 0], area, s


def count_white_cells(img_bgr: np.ndarray, rbc_px: float) -> WhiteCells:
    """Count the white cells of an (H, W, 3) BGR uint8 field whose red cells are
    ``rbc_px`` of its pixels wide.

    Raises:
        ValueError: ``img_bgr`` is not an (H, W, 3) uint8 image or ``rbc_px``
            is not positive.
    """
    _checked(img_bgr, rbc_px)
    labels, keep, area, s = _nuclei(img_bgr, rbc_px)
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs]
    # Each cell's centre is the mean of its nucleus pixels, in image pixels.
    centres = np.stack([np.bincount(lab, weights=v, minlength=area.size)[keep]
                        for v in (xs, ys)], axis=1) / area[keep, None]
    return WhiteCells(len(keep), (centres + 0.5) / s - 0.5)


def white_cell_labels(img_bgr: np.ndarray, rbc_px: float) -> np.ndarray:
    """The nuclei of :func:`count_white_cells`, labelled by cell: an (H, W) int32
    map at the image's resolution, 0 off the nuclei, 1..count on them.

    Raises:
        ValueError: as :func:`count_white_cells`.
    """
    _checked(img_bgr, rbc_px)
    labels, keep, area, _ = _nuclei(img_bgr, rbc_px)
    relabel = np.zeros(area.size, np.int32)
    relabel[keep] = np.arange(1, keep.size + 1)
    return cv2.resize(relabel[labels], img_bgr.shape[1::-1], interpolation=cv2.INTER_NEAREST)
