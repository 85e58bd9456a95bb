"""The working scale of native-scale configs: red-cell size in pixels.

Stand-in with the interface agreed with issue 11A (their module replaces this
file when the branches meet; keep theirs). A native config states the red-cell
diameter it works at (``working_rbc_px``) and may state the diameter in its
dataset's images (``source_rbc_px``); an image is rescaled by
``working / source``.
"""
from __future__ import annotations

from typing import Any, Mapping

import cv2
import numpy as np

__all__ = ['RBC_DIAMETER_UM', 'working_scale_factor', 'estimate_rbc_diameter']

# A human red blood cell is about 7.5 microns across.
RBC_DIAMETER_UM = 7.5


def estimate_rbc_diameter(img_bgr: np.ndarray) -> float:
    """Median diameter (pixels) of the isolated red cells of a smear image.

    Cells are what Otsu's threshold on the green channel (red cells and
    stained nuclei absorb green) separates from the bright background; the
    diameter is that of the median-area component among those that are
    neither specks nor clumps.
    """
    green = np.ascontiguousarray(img_bgr[..., 1])
    _, fg = cv2.threshold(green, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    n, _, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), 8)
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
    areas = areas[areas >= 20]
    if not areas.size:
        raise ValueError('no cells found to measure the red-cell size; '
                         'give the microns per pixel (--mpp)')
    typical = np.median(areas)
    single = areas[(areas > 0.3 * typical) & (areas < 2.0 * typical)]
    return float(2.0 * np.sqrt(np.median(single) / np.pi))


def working_scale_factor(cfg_or_settings: Mapping[str, Any],
                         img_bgr: np.ndarray | None = None,
                         mpp: float | None = None,
                         source_rbc_px: float | None = None) -> float:
    """Output pixels per input pixel that bring red cells to ``working_rbc_px``.

    The input's red-cell diameter comes, in this order, from ``mpp`` (microns
    per pixel), ``source_rbc_px``, the config's ``source_rbc_px``, or a
    measurement of ``img_bgr``.
    """
    working = float(cfg_or_settings['working_rbc_px'])
    if mpp:
        rbc = RBC_DIAMETER_UM / float(mpp)
    elif source_rbc_px:
        rbc = float(source_rbc_px)
    elif cfg_or_settings.get('source_rbc_px'):
        rbc = float(cfg_or_settings['source_rbc_px'])
    elif img_bgr is not None:
        rbc = estimate_rbc_diameter(img_bgr)
    else:
        raise ValueError('the red-cell size of the input is unknown: give '
                         'mpp, source_rbc_px or an image')
    return working / rbc
