"""Slightly irregular round outlines and the pixel patches they cover.

Every cell is a star-shaped outline, radius(theta) = R * (1 + sum_k a_k cos(k theta + p_k)).
The same function gives the cell's anti-aliased alpha on the pixel grid and the polygon
that is written to the COCO file, so the drawn cell and its annotation cannot drift apart.

Pixel convention (pycocotools'): pixel (row i, column j) has its centre at (j + 0.5, i + 0.5)
in polygon coordinates.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RadialShape:
    """A star-shaped outline around the origin: base radius and a few harmonics."""

    radius: float
    amps: tuple[float, ...] = ()
    phases: tuple[float, ...] = ()
    orders: tuple[int, ...] = ()

    @classmethod
    def random(cls, rng: np.random.Generator, radius: float, irregularity: float,
               orders: tuple[int, ...] = (2, 3, 4, 5)) -> 'RadialShape':
        """Random outline; ``irregularity`` is the rough relative radius wobble."""
        # Higher harmonics get smaller amplitudes so outlines stay smooth, cell-like.
        amps = tuple(float(irregularity * rng.uniform(0.3, 1.0) / (1 + 0.6 * i))
                     for i, _ in enumerate(orders))
        phases = tuple(float(p) for p in rng.uniform(0, 2 * np.pi, len(orders)))
        return cls(float(radius), amps, phases, tuple(orders))

    @property
    def rmax(self) -> float:
        return self.radius * (1 + sum(abs(a) for a in self.amps))

    def radius_at(self, theta: np.ndarray) -> np.ndarray:
        rad = np.ones_like(theta)
        for a, p, k in zip(self.amps, self.phases, self.orders):
            rad += a * np.cos(k * theta + p)
        return self.radius * rad

    def polygon(self, cx: float, cy: float, n: int) -> np.ndarray:
        """(n, 2) vertices x, y, rounded to 2 decimals as CVAT stores them."""
        theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
        rad = self.radius_at(theta)
        return np.round(np.stack([cx + rad * np.cos(theta), cy + rad * np.sin(theta)], 1), 2)


@dataclass(frozen=True)
class Patch:
    """The pixels around one cell: slices into the image and offsets to the cell centre."""

    rows: slice
    cols: slice
    dx: np.ndarray  # (1, w) x offset of pixel centres from the cell centre
    dy: np.ndarray  # (h, 1)

    def polar(self, ox: float = 0.0, oy: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Radius and angle of every pixel centre around (centre + (ox, oy))."""
        x, y = self.dx - ox, self.dy - oy
        return np.hypot(x, y), np.arctan2(y, x)


def patch_around(cx: float, cy: float, rmax: float, height: int, width: int
                 ) -> Patch | None:
    """Pixels within rmax (+2 px margin) of (cx, cy), clipped to the image."""
    x0 = max(int(np.floor(cx - rmax)) - 2, 0)
    x1 = min(int(np.ceil(cx + rmax)) + 2, width)
    y0 = max(int(np.floor(cy - rmax)) - 2, 0)
    y1 = min(int(np.ceil(cy + rmax)) + 2, height)
    if x0 >= x1 or y0 >= y1:
        return None
    dx = (np.arange(x0, x1, dtype=np.float32) + 0.5 - cx)[None, :]
    dy = (np.arange(y0, y1, dtype=np.float32) + 0.5 - cy)[:, None]
    return Patch(slice(y0, y1), slice(x0, x1), dx, dy)


def edge_alpha(signed_dist: np.ndarray, softness: float = 1.0) -> np.ndarray:
    """Anti-aliased coverage from a signed distance in px (positive inside).

    Exactly 0.5 on the outline, so alpha >= 0.5 is the rasterized polygon.
    """
    return np.clip(signed_dist / softness + 0.5, 0.0, 1.0)
