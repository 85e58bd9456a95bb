"""Count blasts in a binary mask: components, touching cells split apart.

Touching blasts form one connected component, so each component above the
minimum area is split, one blast per "bulge" of its distance map (``_seeds``,
``_split_component``), inside its bounding box: a huge mask costs little
beyond its label image.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterator

import cv2
import numpy as np
from scipy import ndimage as ndi

from ..smear.cell_scale import DEFAULT_MIN_BLAST_AREA
from .smear_call import SmearCall, smear_score

__all__ = ['Blast', 'BlastCount', 'AllRule', 'count_blasts',
           'component_blasts', 'DEFAULT_MIN_BLAST_AREA', 'SADDLE_RATIO']

# Two distance-map maxima are separate blasts when the lowest point between
# them drops below this fraction of the smaller maximum (touching discs of
# radius r with centres d apart have a neck of sqrt(1 - (d/2r)^2) r: this
# splits discs up to d >= 1.2 r, i.e. overlapping by up to 40 %).
SADDLE_RATIO = 0.8
# Components whose bounding box holds more pixels than this are not split
# (a smear-wide artefact, never a cluster of cells; splitting it would cost
# memory in proportion): they count as one blast.
MAX_SPLIT_PIXELS = 2**22
# Above this many seeds in one component, pixels go to the nearest seed
# (linear cost) instead of the radius-weighted rule (cost per seed).
MAX_WEIGHTED_SEEDS = 16


@dataclass
class Blast:
    """One counted blast: label id, area in pixels, centroid (x, y), bbox,
    and the mean blast probability over its pixels (when one was given)."""

    label: int
    area: int
    centroid: tuple[float, float]
    bbox: tuple[int, int, int, int]  # x, y, w, h
    mean_prob: float | None = None


@dataclass
class BlastCount:
    """Result of :func:`count_blasts`.

    ``labels`` is an int32 image: 0 background, ``k`` the pixels of
    ``blasts[k - 1]``. Pixels of components below the minimum area are 0.
    """

    labels: np.ndarray
    blasts: list[Blast] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.blasts)

    def stats(self) -> list[dict]:
        return [asdict(b) for b in self.blasts]


@dataclass(frozen=True)
class AllRule:
    """When to flag an image as ALL-suspected; its text goes into reports.

    Only blasts that were counted (area >= the minimum blast area) take part.
    With a ``call`` (the model's fitted :class:`~.smear_call.SmearCall`), the
    smear score of the blasts decides; else the count: at least ``min_count``
    blasts, and with ``min_fraction`` > 0 that share of blast pixels.
    """

    min_count: int = 1
    min_fraction: float = 0.0
    call: SmearCall | None = None

    def decide(self, blasts: list[Blast], area_fraction: float, min_area: int
               ) -> tuple[bool, float]:
        """(ALL-suspected, the smear score) of an image's counted blasts."""
        score = smear_score(blasts, min_area)
        if self.call is not None:
            return self.call.applies(score), score
        return self.applies(len(blasts), area_fraction), score

    def applies(self, count: int, area_fraction: float) -> bool:
        return count >= self.min_count and area_fraction >= self.min_fraction

    def counted_area(self, min_area: int) -> int:
        """The smallest blast counted: the call's size filter on ``min_area``."""
        return self.call.counted_area(min_area) if self.call is not None else min_area

    def text(self, min_area: int) -> str:
        if self.call is not None:
            return f'{self.call.text()}; blasts of area >= {min_area} px'
        s = f'blast_count >= {self.min_count} (blasts of area >= {min_area} px)'
        if self.min_fraction > 0:
            s += f' and blast_area_fraction >= {self.min_fraction:g}'
        return s


def _seeds(dist: np.ndarray, min_peak: float, saddle_ratio: float
           ) -> np.ndarray:
    """One seed (row, col, height) per blast in a component's distance map.

    Seeds are local maxima of the distance map; a lower maximum joins a
    higher one when the straight path between them stays above
    ``saddle_ratio`` times the lower height (one cell, not two).
    """
    peaks = (dist == ndi.maximum_filter(dist, size=3)) & (dist >= min_peak)
    lab, n = ndi.label(peaks, structure=np.ones((3, 3)))
    if n <= 1:
        r, c = np.unravel_index(int(dist.argmax()), dist.shape)
        return np.array([[r, c, dist[r, c]]], np.float64)
    # Heights and centres from the few peak pixels only (ndimage's
    # per-label reductions would sort the whole crop).
    pr, pc = np.nonzero(peaks)
    pl = lab[pr, pc] - 1
    heights = np.zeros(n, np.float64)
    np.maximum.at(heights, pl, dist[pr, pc])
    cnt = np.bincount(pl, minlength=n)
    centres = np.column_stack([np.bincount(pl, pr, n) / cnt,
                               np.bincount(pl, pc, n) / cnt])  # (row, col)
    kept: list[int] = []
    for i in np.argsort(-heights):
        # Only nearby kept peaks can share a cell with peak i.
        k = np.array(kept, int)
        gap = np.hypot(*(centres[k] - centres[i]).T)
        for j in k[gap <= 6.0 * (heights[k] + heights[i])]:
            (r0, c0), (r1, c1) = centres[i], centres[j]
            steps = int(max(abs(r1 - r0), abs(c1 - c0))) + 2
            rr = np.rint(np.linspace(r0, r1, steps)).astype(int)
            cc = np.rint(np.linspace(c0, c1, steps)).astype(int)
            if dist[rr, cc].min() >= saddle_ratio * heights[i]:
                break  # same cell as the higher peak j
        else:
            kept.append(int(i))
    return np.column_stack([centres[kept], heights[kept]])


def _split_component(comp: np.ndarray, min_area: int, saddle_ratio: float
                     ) -> np.ndarray:
    """Split one component (bool crop) into int32 labels 1..k.

    Each pixel goes to the seed whose inscribed disc it is least far
    outside of (distance to the seed minus the seed's radius): an additively
    weighted Voronoi split, which for overlapping discs cuts exactly through
    their two intersection points - what a watershed on the distance map
    approximates, without its plateau artefacts.
    """
    dist = cv2.distanceTransform(
        np.pad(comp, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    r_min = np.sqrt(max(min_area, 1) / np.pi)
    seeds = _seeds(dist, 0.5 * r_min, saddle_ratio)
    if len(seeds) <= 1:
        return comp.astype(np.int32)
    if len(seeds) > MAX_WEIGHTED_SEEDS:  # no cluster of round cells: plain Voronoi
        zero = np.ones(comp.shape, np.uint8)
        r, c = np.rint(seeds[:, :2]).astype(int).T
        zero[r, c] = 0
        _, vor = cv2.distanceTransformWithLabels(
            zero, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
        lut = np.zeros(int(vor.max()) + 1, np.int32)
        lut[vor[r, c]] = np.arange(1, len(seeds) + 1)
        pieces = np.where(comp, lut[vor], 0).astype(np.int32)
    else:
        rows, cols = (v.astype(np.float32) for v in np.nonzero(comp))
        best = np.full(rows.size, np.inf, np.float32)
        owner = np.zeros(rows.size, np.int32)
        for k, (r, c, h) in enumerate(seeds.astype(np.float32), start=1):
            score = np.hypot(rows - r, cols - c)
            score -= h
            better = score < best
            best[better], owner[better] = score[better], k
        del best, score, rows, cols
        pieces = np.zeros(comp.shape, np.int32)
        pieces[comp] = owner  # row-major order, as np.nonzero gave it
    # Pieces below the minimum area are merged into the neighbour they
    # touch most, rather than counted or dropped.
    areas = np.bincount(pieces.ravel(), minlength=len(seeds) + 1)
    kernel = np.ones((3, 3), np.uint8)
    for lbl in np.flatnonzero((areas[1:] > 0) & (areas[1:] < min_area)) + 1:
        sl = ndi.find_objects((pieces == lbl).astype(np.int32))[0]
        sl = tuple(slice(max(0, a.start - 1), a.stop + 1) for a in sl)
        sub = pieces[sl]
        piece = sub == lbl
        ring = (cv2.dilate(piece.astype(np.uint8), kernel) > 0) & ~piece
        nb = sub[ring]
        nb = nb[(nb > 0) & (nb != lbl)]
        if nb.size:
            sub[piece] = np.bincount(nb).argmax()
    lut = np.zeros(len(seeds) + 1, np.int32)
    used = np.flatnonzero(np.bincount(pieces.ravel())[1:]) + 1
    lut[used] = np.arange(1, used.size + 1)
    return lut[pieces]


def component_blasts(comp: np.ndarray, x: int, y: int, min_area: int,
                     split: bool, saddle_ratio: float,
                     prob: np.ndarray | None = None
                     ) -> Iterator[tuple[np.ndarray, int, int, Blast]]:
    """The blasts of one connected component, in image coordinates.

    Args:
        comp: the component's pixels (bool), cropped to its bounding box.
        x, y: the crop's position in the image.
        min_area, split, saddle_ratio: as for :func:`count_blasts`.
        prob: the blast probability over the same crop, or None.

    Yields:
        ``(sel, x0, y0, blast)``: each blast's pixels ``sel`` (bool, cropped
        at ``x0, y0``) and its :class:`Blast` with ``label`` 0.
    """
    if split and comp.size <= MAX_SPLIT_PIXELS:
        pieces = _split_component(comp, min_area, saddle_ratio)
        slices = ndi.find_objects(pieces)
    else:
        pieces, slices = None, [np.s_[:, :]]
    for p, sl in enumerate(slices, start=1):
        sel = comp if pieces is None else pieces[sl] == p
        area = int(np.count_nonzero(sel))
        y0, x0 = y + sl[0].indices(comp.shape[0])[0], x + sl[1].indices(comp.shape[1])[0]
        # Centroid from row and column sums: no per-pixel index arrays.
        cy = float(sel.sum(1, dtype=np.int64) @ np.arange(sel.shape[0])) / area
        cx = float(sel.sum(0, dtype=np.int64) @ np.arange(sel.shape[1])) / area
        mean_prob = None if prob is None else float(prob[sl][sel].sum(dtype=np.float64)) / area
        yield sel, x0, y0, Blast(
            label=0, area=area, centroid=(cx + x0, cy + y0),
            bbox=(x0, y0, int(sel.shape[1]), int(sel.shape[0])),
            mean_prob=mean_prob)


def count_blasts(mask: np.ndarray, min_area: int = DEFAULT_MIN_BLAST_AREA,
                 split: bool = True, saddle_ratio: float = SADDLE_RATIO,
                 prob: np.ndarray | None = None) -> BlastCount:
    """Count the blasts in a binary mask, splitting touching ones.

    Args:
        mask: (H, W), nonzero = blast; pass ``mask == 1`` for a class map
            with other classes.
        min_area: the smallest blast counted, in pixels of ``mask``; smaller
            8-connected components are ignored, smaller split pieces merged
            into a neighbour.
        split: separate touching blasts.
        saddle_ratio: how deep the neck between two distance-map maxima must
            be, as a fraction of the smaller one, for them to be two blasts.
        prob: (H, W) blast probability; each blast then gets its mean.
    """
    binary = (np.asarray(mask) != 0).astype(np.uint8)
    n, cc, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8,
                                                       ltype=cv2.CV_32S)
    del binary
    # Blast labels are written into ``cc`` itself, negated so they cannot be
    # mistaken for components not yet visited; one int32 image in all.
    blasts: list[Blast] = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        comp = cc[y:y + h, x:x + w] == i
        if area < min_area:
            cc[y:y + h, x:x + w][comp] = 0
            continue
        crop = None if prob is None else prob[y:y + h, x:x + w]
        for sel, x0, y0, blast in component_blasts(comp, x, y, min_area, split,
                                                    saddle_ratio, crop):
            blast.label = len(blasts) + 1
            cc[y0:y0 + sel.shape[0], x0:x0 + sel.shape[1]][sel] = -blast.label
            blasts.append(blast)
    np.negative(cc, out=cc)
    return BlastCount(labels=cc, blasts=blasts)
