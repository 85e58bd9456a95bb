"""One path for every input: a field, a large image, a whole-slide image.

Each input is opened as an :class:`Opened` (its pixels as a row source, and
what differs between kinds as data), which :func:`segment_input` takes through
scale, minimum blast area, segmentation, counting and writing:

* a field (up to :data:`LARGE_IMAGE_PIXELS`) is held whole: PNG mask, blasts
  counted at once, overlay at full size;
* a large image or a slide streams row bands to the mask file, a band counter
  and a small mask copy for an overview (:mod:`.overview`); a slide's mask is a
  pyramidal OME-TIFF of the level read, its blasts in level-0 pixels.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Sequence

import numpy as np

from ..evaluation.band_counting import BandCounter
from ..evaluation.counting import AllRule
from ..inference.model import (SCALE_SAMPLE_SIDE, checked_scale, scale_sample,
                               scale_settings, segment_bands)
from ..inference.tiling import BLAST_CLASS, collect_bands
from ..io.image_io import LARGE_IMAGE_PIXELS, read_image
from ..io.mask_writers import write_mask_png, write_mask_pyramid
from ..io.rows import ArraySource, Band, RowSource
from ..io.slides import LevelSource, Slide, choose_level, is_slide, open_slide
from ..products.blast_shapes import outline_of, streamed_shapes
from ..products.report import (ImageRow, analyse, blast_numbers, draw_overlay,
                               draw_overview, overlay_step, shrink)
from ..products.sinks import ImageSink, Segmented, wants_outlines
from ..products.stain_check import StainCheck
from ..smear.cell_scale import default_min_blast_area, image_rbc_px
from ..smear.white_cells import count_white_cells
from ..utils import AllidbError, WriteError, atomic_imwrite

__all__ = ['Opened', 'OutputPaths', 'output_paths', 'open_input',
           'image_rbc', 'scaled_min_area', 'segment_input', 'process_image']


class OutputPaths(NamedTuple):
    """Where one input's mask and overlay go."""

    mask: Path
    overlay: Path


def output_paths(out_dir: Path, name: str, slide: bool = False) -> OutputPaths:
    """(mask, overlay) of one input; a slide's mask is a pyramidal OME-TIFF."""
    mask = f'{name}.ome.tif' if slide else f'{name}.png'
    return OutputPaths(out_dir / 'masks' / mask, out_dir / 'overlays' / f'{name}.png')


@dataclass
class Opened:
    """An input ready for :func:`segment_input`.

    Attributes:
        sample: the pixels whose red cells set the working scale and the
            minimum blast area when nothing else does (None: not read).
        mpp: microns per level-0 pixel, if known.
        source_at: the source segmented at a working scale (working pixels
            per level-0 pixel); a slide picks its level.
        view_at: the source an overview of ``downsample`` level-0 pixels per
            pixel is shrunk from.
        image: the decoded image (a plain image), else None.
        streamed: count band by band and draw a downsampled overview.
        write_mask: ``write_mask(path, bands, source)``, a streamed input's mask.
        describe: the row's ``inference``, from the working scale and source.
        slide: a whole-slide image.
    """

    sample: np.ndarray | None
    mpp: float | None
    source_at: Callable[[float], RowSource]
    view_at: Callable[[float], RowSource]
    image: np.ndarray | None = None
    streamed: bool = False
    write_mask: Callable[[Path, Iterator[Band], RowSource], None] = \
        lambda path, bands, source: write_mask_png(path, bands, source.height,
                                                   source.width)
    describe: Callable[[float, RowSource], dict] = \
        lambda scale, source: dict(working_scale=scale)
    slide: bool = False


def _slide_input(model: Any, slide: Slide, row: ImageRow,
                 mpp: float | None) -> Opened:
    """A slide; red cells are measured in its centre only when a native-scale
    model has no microns per pixel."""
    row.width, row.height = w0, h0 = slide.dimensions
    mpp0 = mpp or slide.mpp
    sample = None
    if mpp0 is None and scale_settings(model).get('working_rbc_px') is not None:
        side_x, side_y = min(w0, SCALE_SAMPLE_SIDE), min(h0, SCALE_SAMPLE_SIDE)
        sample = slide.read_region(0, (w0 - side_x) // 2, (h0 - side_y) // 2,
                                   side_x, side_y)
    levels = slide.level_downsamples

    def write_mask(path: Path, bands: Iterator[Band], source: LevelSource) -> None:
        write_mask_pyramid(path, bands, source.height, source.width,
                           mpp=None if mpp0 is None else mpp0 * source.downsample)

    def describe(scale: float, source: LevelSource) -> dict:
        return dict(reader=slide.reader, level=source.level,
                    level_downsample=source.downsample, mpp=mpp0,
                    mpp_from='--mpp' if mpp else ('file' if mpp0 else None),
                    working_scale=scale, mask_size=[source.width, source.height])

    return Opened(
        sample=sample, mpp=mpp0, streamed=True, slide=True, describe=describe,
        source_at=lambda scale: LevelSource(slide, choose_level(levels, 1.0 / scale)),
        view_at=lambda ds: LevelSource(slide, choose_level(levels, ds, tolerance=0.0)),
        write_mask=write_mask)


@contextmanager
def open_input(model: Any, file: str, row: ImageRow, slide: bool,
               mpp: float | None = None, stain: StainCheck | None = None
               ) -> Iterator[Opened]:
    """Open ``file`` (a slide when ``slide``) for :func:`segment_input`;
    fills the row's size. A plain image is decoded whole (streamed above
    :data:`LARGE_IMAGE_PIXELS`), and ``stain`` may normalize it (a slide is
    never whole in memory)."""
    if slide:
        with open_slide(file) as handle:
            yield _slide_input(model, handle, row, mpp)
        return
    img = read_image(file)
    row.height, row.width = img.shape[:2]
    if stain is not None:
        img = stain.prepare(img, row)
    whole = ArraySource(img)
    yield Opened(sample=img, mpp=mpp, source_at=lambda scale: whole,
                 view_at=lambda ds: whole, image=img,
                 streamed=row.width * row.height > LARGE_IMAGE_PIXELS)


def image_rbc(model: Any, scale: float, sample: np.ndarray | None = None,
              warn: bool = True, mpp: float | None = None) -> float | None:
    """The red-cell diameter in image pixels at working scale ``scale``, or None
    (warned about when ``warn``): :func:`~allidb_mmseg.smear.cell_scale.image_rbc_px`."""
    settings = scale_settings(model)
    return image_rbc_px(scale_sample(sample), settings.get('source_rbc_px'),
                        settings.get('working_rbc_px'), scale=scale, warn=warn, mpp=mpp)


def scaled_min_area(model: Any, min_area: int | None, scale: float,
                    sample: np.ndarray | None = None) -> int:
    """``min_area``, or (None) the minimum blast area at the red-cell size of
    :func:`image_rbc`."""
    if min_area is not None:
        return min_area
    return default_min_blast_area(image_rbc(model, scale, sample))


def segment_input(model: Any, opened: Opened, row: ImageRow, paths: OutputPaths,
                  min_area: int | None, rule: AllRule, progress: bool = False,
                  outlines: bool = False) -> Segmented:
    """Segment an opened input, count its blasts, write its mask and overlay.

    Args:
        model: from :func:`~allidb_mmseg.inference.model.load_model`, or a
            runtime backend.
        opened: from :func:`open_input`.
        row: its report row, filled here (blasts in level-0 pixels).
        paths: where the mask and overlay go.
        min_area: the smallest blast, in level-0 pixels (None:
            :func:`scaled_min_area`, times the size filter of ``rule``'s call).
        rule: the ALL-suspected rule.
        progress: a progress bar over the tiles.
        outlines: keep the outlines of a streamed input's blasts.

    Returns:
        What the sinks take.
    """
    scale, unsure = checked_scale(model, opened.sample, opened.mpp)
    if unsure:
        row.scale_unsure = True
        print(f'{row.file}: warning: red-cell size measured with low confidence; '
              'the working scale may be wrong (give --mpp, or source_rbc_px in '
              'the config)', file=sys.stderr)
    # Measured once, for the minimum area and (whole fields) the white cells;
    # a minimum area the user gave needs no warning about the default one.
    rbc = None if opened.streamed and min_area is not None else \
        image_rbc(model, scale, opened.sample, warn=min_area is None, mpp=opened.mpp)
    # A minimum area the user gave is used as given; the measured one gets the
    # fitted call's size filter.
    min_area = min_area if min_area is not None else rule.counted_area(
        default_min_blast_area(rbc))
    opened.sample = None  # measured: a slide's sample is not held any longer
    source = opened.source_at(scale)
    ds = getattr(source, 'downsample', 1)
    mask_area = max(1, int(round(min_area / ds ** 2)))
    bands = segment_bands(model, source, scale * ds, progress,
                          desc=row.name[-20:] if opened.streamed else 'tiles')
    if not opened.streamed:  # a field (ds 1): the whole mask, blasts counted at once
        mask, prob = collect_bands(bands, source.height, source.width)
        count, numbers = analyse(mask, prob, mask_area, rule)
        del prob
        atomic_imwrite(paths.mask, mask)
        del mask
        row.fill(numbers)
        if rbc is not None:
            row.wbc_count = count_white_cells(opened.image, rbc).count
            cells = max(row.wbc_count, row.blast_count or 0)  # a blast is a white cell
            row.blast_share = (row.blast_count or 0) / cells if cells else None
        overlay = draw_overlay(opened.image, count, row.all_suspected)
        atomic_imwrite(paths.overlay, overlay)
        return Segmented(row, opened.image, count, overlay)  # outlines traced once
    tally = _Streamed(source, mask_area, outlines)
    opened.write_mask(paths.mask, tally.watch(bands), source)
    blasts = tally.counter.finish()
    numbers = blast_numbers(blasts, tally.blast_pixels, source.height * source.width,
                            tally.prob_sum, rule, min_area)
    numbers['blasts'] = [_to_level0(b, ds) for b in numbers['blasts']]
    row.fill(numbers)
    step = tally.step
    overlay = draw_overview(shrink(opened.view_at(step * ds), *tally.thumb.shape),
                            tally.thumb, blasts, step, row.all_suspected)
    atomic_imwrite(paths.overlay, overlay)
    row.inference = dict(opened.describe(scale, source), overlay_downsample=step * ds,
                         cut_components=tally.counter.cut_components)
    shapes = streamed_shapes(blasts, tally.counter.outlines, ds) if outlines else None
    return Segmented(row, overlay, None, overlay, shapes, slide=opened.slide)


class _Streamed:
    """Totals, a band counter and a small mask copy (for the overview), taken
    from the bands on their way to the mask file."""

    def __init__(self, source: RowSource, min_area: int, outlines: bool) -> None:
        height, width = source.height, source.width
        self.step = overlay_step(height, width)
        self.counter = BandCounter(width, min_area,
                                   outline=outline_of if outlines else None)
        self.thumb = np.zeros((-(-height // self.step), -(-width // self.step)),
                              np.uint8)
        self.blast_pixels, self.prob_sum = 0, 0.0

    def watch(self, bands: Iterator[Band]) -> Iterator[Band]:
        for band in bands:
            blast = band.mask == BLAST_CLASS
            self.blast_pixels += int(np.count_nonzero(blast))
            self.prob_sum += float(band.prob[blast].sum(dtype=np.float64))
            self.counter.add(blast, band.prob)
            sub = blast[(-band.y0) % self.step::self.step, ::self.step]
            t0 = -(-band.y0 // self.step)
            self.thumb[t0:t0 + len(sub)] = sub
            yield band


def _to_level0(b: dict[str, Any], ds: float) -> dict[str, Any]:
    """A blast's stats from mask pixels (a level ``ds`` times smaller) to level-0 pixels."""
    if ds == 1:
        return b
    cx, cy = b['centroid']
    return dict(b, area=int(round(b['area'] * ds * ds)),
                centroid=((cx + 0.5) * ds - 0.5, (cy + 0.5) * ds - 0.5),
                bbox=tuple(int(round(v * ds)) for v in b['bbox']))


def process_image(model: Any, file: str, name: str, out_dir: Path,
                  min_area: int | None = None,
                  rule: AllRule = AllRule(), mpp: float | None = None,
                  progress: bool = False, sinks: Sequence[ImageSink] = (),
                  stain: StainCheck | None = None) -> ImageRow:
    """Segment one file, write its mask and overlay, hand it to the ``sinks``;
    never raises for a bad file (the row says what went wrong).

    ``min_area`` None: the minimum blast area follows the image's red-cell
    size (:func:`scaled_min_area`). ``mpp`` (microns per pixel) sets the
    working scale of native-scale configs, ``progress`` shows a bar over
    tiles. ``stain`` adds the OOD score and may normalize a plain image.
    """
    row = ImageRow(file=file, name=name)
    slide = is_slide(file)
    paths = output_paths(out_dir, name, slide)
    try:
        with open_input(model, file, row, slide, mpp, stain) as opened:
            seg = segment_input(model, opened, row, paths, min_area, rule,
                                progress, wants_outlines(sinks))
        row.mask = str(paths.mask.relative_to(out_dir))
        row.overlay = str(paths.overlay.relative_to(out_dir))
        for sink in sinks:
            sink.add(seg)
        return row
    except WriteError:
        raise  # the output side failed (disk full): stop, not the next image
    except AllidbError as e:  # ImageReadError says only the problem
        row.error = str(e)
    except MemoryError:
        row.error = 'out of memory while processing this image'
    except Exception as e:  # one bad file must not end a batch
        row.error = f'{type(e).__name__}: {str(e).strip()}'.splitlines()[0].rstrip(': ')
    row.fill(dict(status='failed', blasts=[], all_rule='', **dict.fromkeys((
        'blast_count', 'blast_area_fraction', 'mean_blast_prob',
        'all_suspected', 'smear_score', 'ood_score', 'ood_flag'))))
    return row
