"""Drawing single blood cells into optical-density layers.

Cells are painted as optical density (OD, -ln transmittance per RGB channel; Beer-Lambert)
and the image is made at the end as illumination * exp(-OD), so overlapping red cells add
up and look darker, as on a real smear, with no depth sorting.

Layers: ``rbc`` sums red-cell thickness (the eosin colour is applied at the end); ``od_bg``
takes platelets (additive); ``od_wbc`` white cells, composited "over" one another; ``cover``
marks where white cells lie, so red cells under them are mostly hidden.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .shapes import Patch, RadialShape, edge_alpha, patch_around


def smooth_noise(rng: np.random.Generator, height: int, width: int,
                 sigma: float) -> np.ndarray:
    """Unit-variance Gaussian-correlated noise of correlation length ``sigma`` px.

    Large sigmas are drawn coarse and upsampled: the cost does not grow with sigma squared.
    """
    factor = max(1.0, sigma / 1.5)
    h = int(np.ceil(height / factor)) + 2
    w = int(np.ceil(width / factor)) + 2
    noise = rng.standard_normal((h, w), dtype=np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigma / factor, borderType=cv2.BORDER_REFLECT)
    if factor > 1.0:
        noise = cv2.resize(noise, (int(round(w * factor)), int(round(h * factor))),
                           interpolation=cv2.INTER_CUBIC)
    noise = noise[:height, :width]
    noise -= noise.mean()
    return noise / max(float(noise.std()), 1e-6)


class Canvas:
    """OD layers of one field plus shared texture noise (scaled to the cell size)."""

    def __init__(self, rng: np.random.Generator, height: int, width: int,
                 rbc_diameter: float) -> None:
        self.height, self.width = height, width
        # ~1 px grain (fine chromatin, granules), then chromatin clumps.
        self.fine = smooth_noise(rng, height, width, max(0.45, rbc_diameter / 55))
        self.mid = smooth_noise(rng, height, width, max(0.9, rbc_diameter / 14))
        self.rbc = np.zeros((height, width), np.float32)
        # Channel-first (3, H, W): whole-image maths then runs on contiguous planes.
        self.od_bg = np.zeros((3, height, width), np.float32)
        self.od_wbc = np.zeros((3, height, width), np.float32)
        self.cover = np.zeros((height, width), np.float32)

    def outline(self, cx: float, cy: float, shape: RadialShape
                ) -> tuple[Patch | None, np.ndarray | None]:
        """The pixels around a cell and their signed distance to its outline (None, None
        when the cell lies outside the image)."""
        p = patch_around(cx, cy, shape.rmax, self.height, self.width)
        if p is None:
            return None, None
        r, th = p.polar()
        return p, shape.radius_at(th) - r

    def paint_over(self, p: Patch, alpha: np.ndarray, od: np.ndarray) -> None:
        """Paint a white cell (``od`` premultiplied by ``alpha``) over earlier ones."""
        region = self.od_wbc[:, p.rows, p.cols]
        region *= (1.0 - alpha)[None]
        region += od
        np.maximum(self.cover[p.rows, p.cols], alpha, out=self.cover[p.rows, p.cols])


def rbc_template(shape: RadialShape, pallor: float) -> np.ndarray:
    """Thickness map of a biconcave red cell: darker rim, pale centre, soft edge.

    Drawn once as a small template centred on its middle pixel, reused by the hundred.
    """
    half = int(np.ceil(shape.rmax)) + 1
    grid = np.arange(-half, half + 1, dtype=np.float32)
    p = Patch(slice(0, 0), slice(0, 0), grid[None, :], grid[:, None])
    r, th = p.polar()
    rad = shape.radius_at(th)
    d = r / rad
    alpha = edge_alpha(rad - r, 1.1)
    thick = (1.0 - pallor * np.exp(-(d / 0.48) ** 2)
             + 0.22 * np.exp(-((d - 0.86) / 0.1) ** 2))
    return (alpha * thick).astype(np.float32)


def add_template(target: np.ndarray, tmpl: np.ndarray, cx: float, cy: float,
                 weight: float) -> None:
    """target += weight * tmpl, centred on pixel (cx, cy), clipped to the image."""
    th, tw = tmpl.shape
    x0, y0 = int(cx) - tw // 2, int(cy) - th // 2
    xa, ya = max(x0, 0), max(y0, 0)
    xb, yb = min(target.shape[1], x0 + tw), min(target.shape[0], y0 + th)
    if xb > xa and yb > ya:
        target[ya:yb, xa:xb] += weight * tmpl[ya - y0:yb - y0, xa - x0:xb - x0]


def stamp_platelet(cv: Canvas, cx: float, cy: float, shape: RadialShape,
                   od: np.ndarray) -> None:
    """A platelet: dark purple granular centre in a faint lilac halo."""
    p, sd = cv.outline(cx, cy, shape)
    if p is None:
        return
    halo = edge_alpha(sd, 0.9)
    core = edge_alpha(sd - 0.3 * shape.radius, 0.9)
    grain = np.clip(0.75 + 0.45 * cv.fine[p.rows, p.cols], 0.2, 1.6)
    cv.od_bg[:, p.rows, p.cols] += (0.28 * halo + core * grain)[None] * od[:, None, None]


@dataclass(frozen=True)
class Nucleolus:
    ox: float  # offset from the nucleus centre, px
    oy: float
    radius: float
    depth: float  # fraction of nuclear OD removed (paler spot)


def stamp_mononuclear(cv: Canvas, cx: float, cy: float, cell: RadialShape,
                      nucleus: RadialShape, nuc_offset: tuple[float, float],
                      od_cyto: np.ndarray, od_nuc: np.ndarray, chromatin: str,
                      rim_min: float, nucleoli: tuple[Nucleolus, ...] = (),
                      truth: np.ndarray | None = None) -> None:
    """A lymphocyte or lymphoblast: round nucleus inside a rim of blue cytoplasm.

    ``chromatin`` 'clumped' gives the coarse dark blocks of a mature lymphocyte,
    'fine' the even, finely stippled chromatin of a blast. ``truth`` (a bool mask of
    the whole image) forces the cell's alpha to be >= 0.5 exactly on the mask, so
    the painted cell and its rasterized annotation agree pixel for pixel.
    """
    p, sd = cv.outline(cx, cy, cell)
    if p is None:
        return
    a_cell = edge_alpha(sd, 1.0)
    if truth is not None:
        inside = truth[p.rows, p.cols]
        a_cell = np.where(inside, np.maximum(a_cell, 0.5), np.minimum(a_cell, 0.49))
    ox, oy = nuc_offset
    rn, thn = p.polar(ox, oy)
    sdn = nucleus.radius_at(thn) - rn
    soft = max(0.8, nucleus.radius / 14)
    a_nuc = edge_alpha(sdn, soft) * edge_alpha(sd - rim_min, 1.0)

    fine, mid = cv.fine[p.rows, p.cols], cv.mid[p.rows, p.cols]
    if chromatin == 'clumped':
        clump = 1.0 / (1.0 + np.exp(-2.8 * (mid + 0.25 * fine)))
        tex = 0.58 + 0.62 * clump
    else:
        tex = 1.0 + 0.12 * fine + 0.05 * mid
    # Chromatin condenses under the nuclear membrane: a slightly darker border.
    tex = tex * (1.0 + 0.14 * np.exp(-np.maximum(sdn, 0.0) / (0.12 * nucleus.radius)))
    pale = np.zeros_like(tex)
    for nl in nucleoli:
        rl = np.hypot(p.dx - ox - nl.ox, p.dy - oy - nl.oy)
        pale = np.maximum(pale, nl.depth * edge_alpha(nl.radius - rl, max(0.7, nl.radius / 3)))
    od_n = (od_nuc[:, None, None] * (tex * (1.0 - pale))[None]
            + (0.6 * pale)[None] * od_cyto[:, None, None])
    cyto = (a_cell * (1.0 - a_nuc) * (1.0 + 0.08 * mid))[None] * od_cyto[:, None, None]
    cv.paint_over(p, a_cell, cyto + a_nuc[None] * od_n)


def _segment_dist(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray
                  ) -> np.ndarray:
    ab = b - a
    t = ((x - a[0]) * ab[0] + (y - a[1]) * ab[1]) / max(float(ab @ ab), 1e-9)
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(x - (a[0] + t * ab[0]), y - (a[1] + t * ab[1]))


def stamp_neutrophil(cv: Canvas, rng: np.random.Generator, cx: float, cy: float,
                     cell: RadialShape, od_cyto: np.ndarray, od_nuc: np.ndarray) -> None:
    """A neutrophil: 3-5 nuclear lobes joined by thin strands in granular lilac cytoplasm."""
    p, sd = cv.outline(cx, cy, cell)
    if p is None:
        return
    R = cell.radius
    a_cell = edge_alpha(sd, 1.0)

    n_lobes = int(rng.integers(3, 6))
    pos = rng.uniform(-0.25, 0.25, 2) * R
    ang = rng.uniform(0, 2 * np.pi)
    centres = [pos]
    for _ in range(n_lobes - 1):
        for _try in range(12):
            ang2 = ang + rng.uniform(-1.1, 1.1)
            nxt = centres[-1] + 0.42 * R * np.array([np.cos(ang2), np.sin(ang2)])
            if np.hypot(*nxt) < 0.58 * R:
                ang = ang2
                break
            ang += rng.uniform(1.5, 2.5)  # bend back towards the middle
        else:
            nxt = centres[-1] * 0.5
        centres.append(nxt)
    x, y = p.dx, p.dy
    a_nuc = np.zeros_like(sd)
    for c in centres:
        la, lb = R * rng.uniform(0.2, 0.26), R * rng.uniform(0.15, 0.19)
        phi = rng.uniform(0, np.pi)
        u = (x - c[0]) * np.cos(phi) + (y - c[1]) * np.sin(phi)
        v = -(x - c[0]) * np.sin(phi) + (y - c[1]) * np.cos(phi)
        q = np.sqrt((u / la) ** 2 + (v / lb) ** 2)
        a_nuc = np.maximum(a_nuc, edge_alpha((1.0 - q) * lb, 0.9))
    half_w = max(0.45, 0.035 * R)
    for c0, c1 in zip(centres[:-1], centres[1:]):
        a_nuc = np.maximum(a_nuc, edge_alpha(half_w - _segment_dist(x, y, c0, c1), 0.8))
    a_nuc *= edge_alpha(sd - 0.06 * R, 1.0)

    fine, mid = cv.fine[p.rows, p.cols], cv.mid[p.rows, p.cols]
    granules = np.clip(1.0 + 0.35 * fine, 0.3, 2.0)
    clump = 1.0 / (1.0 + np.exp(-2.5 * mid))
    od_n = od_nuc[:, None, None] * (0.62 + 0.55 * clump)[None]
    cyto = (a_cell * (1.0 - a_nuc) * granules)[None] * od_cyto[:, None, None]
    cv.paint_over(p, a_cell, cyto + a_nuc[None] * od_n)
