"""Predicted blasts as vector shapes (holes and several parts kept), for COCO and GeoJSON.

A blast's outline is the union (shapely) of its row runs, each a 1-pixel-high
box, so it runs exactly along the pixel edges: its area is the pixel count,
and pycocotools (as CVAT and our COCO converter) draws it back to the same
pixels (tested). Coordinates have their origin at the top-left corner of the
top-left pixel, as in COCO, CVAT and QuPath: pixel (x, y) covers [x, x+1) x [y, y+1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..evaluation.counting import Blast, BlastCount

__all__ = ['BlastShape', 'pixels_geometry', 'blast_shapes', 'outline_of',
           'streamed_shapes', 'polygon_parts']


@dataclass
class BlastShape:
    """One blast: its report number, pixel area, score and outline.

    ``geometry`` is a shapely Polygon or MultiPolygon in image coordinates;
    ``mask`` is the blast's pixels inside ``bbox`` (x, y, w, h).
    """

    label: int
    area: int
    score: float | None
    bbox: tuple[int, int, int, int]
    mask: np.ndarray
    geometry: Any

    @property
    def has_holes(self) -> bool:
        return any(p.interiors for p in polygon_parts(self.geometry))


def polygon_parts(geometry: Any) -> list:
    """The Polygons of a Polygon or MultiPolygon."""
    return list(getattr(geometry, 'geoms', [geometry]))


def pixels_geometry(mask: np.ndarray, offset: tuple[int, int] = (0, 0)) -> Any:
    """The exact outline of the nonzero pixels of ``mask``, as a shapely geometry.

    Args:
        mask: (h, w) array; nonzero pixels are inside.
        offset: (x, y) of ``mask[0, 0]`` in the image.

    Returns:
        A valid Polygon (with its holes) or MultiPolygon along pixel edges,
        oriented as RFC 7946 asks (exterior rings counterclockwise, holes
        clockwise); empty if the mask is.
    """
    from shapely import MultiPolygon, Polygon, box, union_all
    from shapely.geometry.polygon import orient

    inside = np.asarray(mask) != 0
    edges = np.diff(np.pad(inside, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, starts = np.nonzero(edges == 1)   # row-major: runs pair up in order
    _, ends = np.nonzero(edges == -1)
    if not rows.size:
        return Polygon()
    x0, y0 = offset
    runs = box(starts + x0, rows + y0, ends + x0, rows + y0 + 1)
    # Collinear vertices where runs of adjacent rows met are dropped (exact).
    region = union_all(runs).simplify(0)
    parts = [orient(p, 1.0) for p in polygon_parts(region)]
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def blast_shapes(count: BlastCount) -> list[BlastShape]:
    """Every counted blast of ``count`` (from
    :func:`allidb_mmseg.evaluation.count_blasts`) as a :class:`BlastShape`,
    scored by its mean probability when it has one."""
    shapes = []
    for b in count.blasts:
        x, y, w, h = b.bbox
        sel = count.labels[y:y + h, x:x + w] == b.label
        shapes.append(BlastShape(label=b.label, area=b.area, score=b.mean_prob,
                                 bbox=tuple(b.bbox), mask=sel,
                                 geometry=pixels_geometry(sel, (x, y))))
    return shapes


def outline_of(pixels: np.ndarray, x: int, y: int) -> tuple[Any, np.ndarray | None]:
    """What a blast counted band by band keeps (the ``outline`` callback of
    :class:`~allidb_mmseg.evaluation.band_counting.BandCounter`): its outline,
    and its pixels only when the outline has holes (COCO needs them as RLE)."""
    geometry = pixels_geometry(pixels, (x, y))
    holes = any(p.interiors for p in polygon_parts(geometry))
    return geometry, (pixels.copy() if holes else None)


def streamed_shapes(blasts: list[Blast], outlines: list,
                    scale: float = 1.0) -> list[BlastShape]:
    """The :class:`BlastShape` of each blast of a streamed (slide or large)
    image, from its :func:`outline_of` result.

    Args:
        blasts: the counted blasts, in mask pixels.
        outlines: one ``(geometry, pixels)`` per blast.
        scale: output pixels per mask pixel (a slide's level downsample:
            the shapes come out in level-0 slide pixels, without pixels).
    """
    from shapely import affinity

    shapes = []
    for b, (geometry, pixels) in zip(blasts, outlines):
        bbox, area = tuple(b.bbox), b.area
        if scale != 1:
            geometry = affinity.scale(geometry, scale, scale, origin=(0, 0))
            bbox = tuple(int(round(v * scale)) for v in bbox)
            area, pixels = int(round(area * scale * scale)), None
        shapes.append(BlastShape(label=b.label, area=area, score=b.mean_prob,
                                 bbox=bbox, mask=pixels, geometry=geometry))
    return shapes
