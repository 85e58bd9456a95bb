"""Segment whole-slide images and very large images in bounded memory.

The result of the tiling engine arrives in row bands and goes, band by band,
to three places at once: the mask file, a :class:`BandCounter` (blasts are
counted across band and tile borders, once each) and a small copy of the
mask for the overlay. Nothing of full size is held except, for a plain
image, the decoded image itself (JPEG and PNG cannot be decoded in pieces).

Per slide (``OUT/masks/<name>.ome.tif``, ``OUT/overlays/<name>.png``):

* the pyramid level nearest the working scale is read, region by region;
* the mask is a tiled pyramidal OME-TIFF at that level's resolution;
* the overlay is at most :data:`OVERLAY_MAX_SIDE` pixels on its long side;
* the blasts (centroids, boxes, areas) are in level-0 slide pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from ..evaluation.band_counting import BandCounter
from ..evaluation.counting import AllRule, Blast
from ..evaluation.detection import image_min_blast_area
from ..smear.cell_scale import default_min_blast_area
from ..utils import atomic_imwrite
from ..products.blast_shapes import BlastShape, outline_of, streamed_shapes
from ..inference.model import (SCALE_SAMPLE_SIDE, scale_sample, scale_settings,
                        segment_bands, source_rbc_px, working_scale)
from ..io.mask_writers import write_mask_png, write_mask_pyramid
from ..products.report import (CONTOUR_BGR, ImageRow, blast_numbers, draw_banner,
                     draw_label, overlay_style)
from ..products.sinks import Segmented
from ..io.slides import LevelSource, choose_level, open_slide
from ..inference.tiling import BLAST_CLASS, ArraySource, Band, RowSource

__all__ = ['OVERLAY_MAX_SIDE', 'segment_slide', 'segment_large_image',
           'shrink', 'draw_overview']

OVERLAY_MAX_SIDE = 4096
# Blast numbers are drawn on an overview only up to this many blasts.
MAX_NUMBERED = 300
# Source pixels resized at once for an overview.
_SHRINK_PIXELS = 2**25


@dataclass
class _Watch:
    """Counts, totals and a small mask copy from bands passing through."""

    height: int
    width: int
    min_area: int
    step: int
    outlines: bool = False
    blast_pixels: int = 0
    prob_sum: float = 0.0
    counter: BandCounter = field(init=False)
    thumb: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.counter = BandCounter(self.width, self.min_area,
                                   outline=outline_of if self.outlines else None)
        self.thumb = np.zeros((-(-self.height // self.step),
                               -(-self.width // self.step)), np.uint8)

    def __call__(self, bands: Iterator[Band]) -> Iterator[Band]:
        for band in bands:
            blast = band.mask == BLAST_CLASS
            self.blast_pixels += int(np.count_nonzero(blast))
            self.prob_sum += float(band.prob[blast].sum(dtype=np.float64))
            self.counter.add(blast, band.prob)
            sub = blast[(-band.y0) % self.step::self.step, ::self.step]
            t0 = -(-band.y0 // self.step)
            self.thumb[t0:t0 + len(sub)] = sub
            yield band

    def shapes(self, blasts: list[Blast], scale: float = 1.0
               ) -> list[BlastShape] | None:
        """The blasts' outlines (after :meth:`numbers`), if kept."""
        if not self.outlines:
            return None
        return streamed_shapes(blasts, self.counter.outlines, scale)

    def numbers(self, rule: AllRule, rule_area: int) -> tuple[list[Blast], dict]:
        blasts = self.counter.finish()
        return blasts, blast_numbers(blasts, self.blast_pixels,
                                     self.height * self.width, self.prob_sum,
                                     rule, rule_area)


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


def _to_slide(b: dict[str, Any], ds: float) -> dict[str, Any]:
    """A blast's stats from mask pixels (a level ``ds`` times smaller) to
    level-0 slide pixels."""
    if ds == 1:
        return b
    x, y, w, h = b['bbox']
    cx, cy = b['centroid']
    return dict(b, area=int(round(b['area'] * ds * ds)),
                centroid=((cx + 0.5) * ds - 0.5, (cy + 0.5) * ds - 0.5),
                bbox=(int(round(x * ds)), int(round(y * ds)),
                      int(round(w * ds)), int(round(h * ds))))


def scaled_min_area(model: Any, min_area: int | None, scale: float,
                    sample: np.ndarray | None = None) -> int:
    """``min_area``, or (None) the minimum blast area of a source whose
    working scale is ``scale``: from the red-cell size that scale came from
    (native configs: ``working_rbc_px / scale``, whether ``--mpp``, the
    config or a measurement set it), else the config's ``source_rbc_px``,
    else measured in ``sample``."""
    if min_area is not None:
        return min_area
    working = scale_settings(model).get('working_rbc_px')
    if working is not None:
        return default_min_blast_area(working / scale)
    return image_min_blast_area(scale_sample(sample), source_rbc_px(model))


def segment_large_image(model: Any, img: np.ndarray, row: ImageRow,
                        mask_path: Path, overlay_path: Path,
                        min_area: int | None, rule: AllRule,
                        mpp: float | None = None, progress: bool = False,
                        outlines: bool = False) -> Segmented:
    """A decoded image too large for the ordinary path: PNG mask at full
    size, written as it is made; downsampled overlay; blasts counted band by
    band. Fills ``row``. ``min_area`` None: :func:`scaled_min_area`.
    Returns what the sinks take, with the blasts' outlines when
    ``outlines``."""
    h, w = img.shape[:2]
    scale = working_scale(model, img, mpp)
    min_area = scaled_min_area(model, min_area, scale, img)
    step = overlay_step(h, w)
    watch = _Watch(h, w, min_area, step, outlines)
    write_mask_png(mask_path, watch(segment_bands(
        model, ArraySource(img), scale, progress, desc=row.name[-20:])), h, w)
    blasts, numbers = watch.numbers(rule, min_area)
    row.fill(numbers)
    overlay = draw_overview(shrink(ArraySource(img), *watch.thumb.shape),
                            watch.thumb, blasts, step, row.all_suspected)
    atomic_imwrite(overlay_path, overlay)
    row.inference = dict(working_scale=scale, overlay_downsample=step,
                         cut_components=watch.counter.cut_components)
    return Segmented(row, overlay, None, overlay, watch.shapes(blasts))


def segment_slide(model: Any, file: str, row: ImageRow,
                  mask_path: Path, overlay_path: Path, min_area: int | None,
                  rule: AllRule, mpp: float | None = None,
                  progress: bool = False, outlines: bool = False
                  ) -> Segmented:
    """Segment a whole-slide image region by region; fills ``row``.

    Args:
        model: from :func:`~.inference.load_model`, with a tiled config.
        file: the slide.
        row: its report row (sizes, numbers, blasts in level-0 pixels).
        mask_path, overlay_path: where the outputs go.
        min_area: the smallest blast, in level-0 pixels (None:
            :func:`scaled_min_area`).
        rule: the ALL-suspected rule.
        mpp: microns per level-0 pixel; overrides the file's.
        progress: a progress bar over the tiles.
        outlines: also keep each blast's outline.

    Returns:
        What the sinks take: the overlay, and with ``outlines`` the blasts'
        outlines in level-0 slide pixels.
    """
    with open_slide(file) as slide:
        w0, h0 = slide.dimensions
        row.width, row.height = w0, h0
        mpp0 = mpp or slide.mpp
        sample = None
        if mpp0 is None and scale_settings(model).get('working_rbc_px') is not None:
            side_x, side_y = min(w0, SCALE_SAMPLE_SIDE), min(h0, SCALE_SAMPLE_SIDE)
            sample = slide.read_region(0, (w0 - side_x) // 2, (h0 - side_y) // 2,
                                       side_x, side_y)
        s0 = working_scale(model, sample, mpp0)
        min_area = scaled_min_area(model, min_area, s0, sample)
        del sample
        level = choose_level(slide.level_downsamples, 1.0 / s0)
        source = LevelSource(slide, level)
        ds = source.downsample
        h, w = source.height, source.width
        step = overlay_step(h, w)
        watch = _Watch(h, w, max(1, int(round(min_area / ds ** 2))), step,
                       outlines)
        bands = watch(segment_bands(model, source, s0 * ds, progress,
                                    desc=row.name[-20:]))
        write_mask_pyramid(mask_path, bands, h, w,
                           mpp=None if mpp0 is None else mpp0 * ds)
        blasts, numbers = watch.numbers(rule, min_area)
        numbers['blasts'] = [_to_slide(b, ds) for b in numbers['blasts']]
        row.fill(numbers)
        th, tw = watch.thumb.shape
        view = LevelSource(slide, choose_level(slide.level_downsamples,
                                               step * ds, tolerance=0.0))
        overlay = draw_overview(shrink(view, th, tw), watch.thumb, blasts,
                                step, row.all_suspected)
        atomic_imwrite(overlay_path, overlay)
        row.inference = dict(
            reader=slide.reader, level=level, level_downsample=ds,
            mpp=mpp0, mpp_from='--mpp' if mpp else ('file' if mpp0 else None),
            working_scale=s0, mask_size=[w, h], overlay_downsample=step * ds,
            cut_components=watch.counter.cut_components)
        return Segmented(row, overlay, None, overlay, watch.shapes(blasts, ds),
                         slide=True)
