"""The overlay of a streamed image or slide, drawn on a copy small enough to look at."""
from __future__ import annotations

import math

import cv2
import numpy as np

from ..evaluation.counting import Blast
from ..io.rows import RowSource
from ..products.report import CONTOUR_BGR, draw_banner, draw_label, overlay_style

__all__ = ['OVERLAY_MAX_SIDE', 'overlay_step', 'shrink', 'draw_overview']

OVERLAY_MAX_SIDE = 4096
# Blast numbers are drawn on an overview only up to this many blasts.
MAX_NUMBERED = 300
# Source pixels resized at once for an overview.
_SHRINK_PIXELS = 2**25


def overlay_step(height: int, width: int) -> int:
    """Mask pixels per overlay pixel: the overlay's long side at most
    :data:`OVERLAY_MAX_SIDE`."""
    return max(1, math.ceil(max(height, width) / OVERLAY_MAX_SIDE))


def shrink(source: RowSource, height: int, width: int) -> np.ndarray:
    """``source`` area-averaged to ``height`` x ``width``, read in bands."""
    out = np.empty((height, width, 3), np.uint8)
    fy = source.height / height
    rows = max(1, int(_SHRINK_PIXELS / (source.width * fy)))
    for t0 in range(0, height, rows):
        t1 = min(height, t0 + rows)
        y0 = min(source.height - 1, int(round(t0 * fy)))
        y1 = max(y0 + 1, min(source.height, int(round(t1 * fy))))
        out[t0:t1] = cv2.resize(source.read_rows(y0, y1), (width, t1 - t0),
                                interpolation=cv2.INTER_AREA)
    return out


def draw_overview(img: np.ndarray, thumb: np.ndarray, blasts: list[Blast],
                  step: float, flagged: bool | None) -> np.ndarray:
    """Blast outlines (from the small mask), numbers and the count, drawn in
    place on the small image ``img``; ``blasts`` are in mask pixels, ``step``
    mask pixels per overview pixel."""
    scale, thick = overlay_style(img.shape)
    contours, _ = cv2.findContours(thumb.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    # Cells are small on an overview: thinner outlines than on a field.
    cv2.drawContours(img, contours, -1, CONTOUR_BGR, max(1, thick // 3),
                     cv2.LINE_AA)
    if len(blasts) <= MAX_NUMBERED:
        for b in blasts:
            draw_label(img, b.label, (b.centroid[0] / step, b.centroid[1] / step),
                       scale, thick)
    draw_banner(img, len(blasts), flagged, scale, thick)
    return img
