"""Read whole-slide images region by region (numpy only; no torch, no mmseg).

OpenSlide reads the vendor formats (Aperio ``.svs``, Hamamatsu ``.ndpi``,
MIRAX ``.mrxs``, ...); tiffslide reads the TIFFs OpenSlide reads as one level or
not at all (pyramids in SubIFDs such as OME-TIFF, stripped TIFFs), so a TIFF
goes to tiffslide unless OpenSlide recognises a vendor format in it. A
``.tif``/``.tiff`` is a slide when it is tiled, holds a pyramid or is larger
than :data:`LARGE_IMAGE_PIXELS`; otherwise (ALL-IDB2's TIFFs) it is an image.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..utils import first_line
from .image_io import LARGE_IMAGE_PIXELS, ImageReadError, to_bgr8

__all__ = ['SLIDE_SUFFIXES', 'Slide', 'LevelSource',
           'is_slide', 'open_slide', 'choose_level']

# Formats only a slide reader opens (OpenSlide's list, lower case).
SLIDE_SUFFIXES = ('.svs', '.ndpi', '.vms', '.vmu', '.mrxs', '.scn', '.bif',
                  '.svslide', '.dcm')
_TIFF_SUFFIXES = ('.tif', '.tiff')
# Level-0 pixels read per read_region call (bounds the RGBA temporaries).
_READ_COLS = 8192
# A level may be this much coarser than the working scale (slight upsampling)
# and still be preferred to a finer one.
LEVEL_TOLERANCE = 0.1


def is_slide(path: str | os.PathLike) -> bool:
    """True for files read region by region through a slide reader."""
    name = str(path).lower()
    if not name.endswith(_TIFF_SUFFIXES) or not Path(path).is_file():
        return name.endswith(SLIDE_SUFFIXES)
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            levels = len(tif.series[0].levels) if tif.series else 1
            pixels = int(page.imagewidth) * int(page.imagelength)
            return bool(page.is_tiled or levels > 1 or pixels > LARGE_IMAGE_PIXELS)
    except Exception:  # not a TIFF tifffile reads: leave it to the image reader
        return False


class Slide:
    """One open slide: its levels, microns per pixel, and regions as BGR.

    Attributes:
        path: the file.
        reader: ``'openslide'`` or ``'tiffslide'``.
        dimensions: level 0 (width, height).
        level_dimensions: (width, height) of every level.
        level_downsamples: level-0 pixels per pixel of every level.
        mpp: microns per level-0 pixel (mean of x and y), None if unknown.
    """

    def __init__(self, path: str | os.PathLike, handle: Any, reader: str) -> None:
        self.path, self._h, self.reader = str(path), handle, reader
        self.dimensions = tuple(int(v) for v in handle.dimensions)
        self.level_dimensions = [tuple(int(v) for v in d)
                                 for d in handle.level_dimensions]
        self.level_downsamples = [float(d) for d in handle.level_downsamples]
        mpp = [handle.properties.get(f'{reader}.mpp-{a}') for a in 'xy']
        vals = [float(v) for v in mpp if v not in (None, '')]
        self.mpp = float(np.mean(vals)) if vals and min(vals) > 0 else None

    def read_region(self, level: int, x: int, y: int, w: int, h: int
                    ) -> np.ndarray:
        """Pixels of ``level`` at (x, y) of that level, (h, w, 3) uint8 BGR.

        Transparent parts (outside the scanned area) come out white.
        """
        ds = self.level_downsamples[level]
        out = np.empty((h, w, 3), np.uint8)
        step = max(1, int(_READ_COLS / ds))
        for x0 in range(0, w, step):
            cw = min(step, w - x0)
            region = np.asarray(self._h.read_region(
                (int((x + x0) * ds), int(y * ds)), level, (cw, h)))
            if region.ndim == 3 and region.shape[2] in (3, 4):  # RGB(A) to BGR(A)
                region = region[..., [2, 1, 0, 3][:region.shape[2]]]
            out[:, x0:x0 + cw] = to_bgr8(region)
        return out

    def close(self) -> None:
        self._h.close()

    def __enter__(self) -> 'Slide':
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_slide(path: str | os.PathLike) -> Slide:
    """Open ``path`` with OpenSlide or tiffslide (see the module doc).

    Raises:
        ImageReadError: missing file, or a format neither reader opens
            (one line, naming both readers' reasons).
    """
    path = Path(path)
    if not path.is_file():
        raise ImageReadError('no such file')
    problems = []
    tiff = str(path).lower().endswith(_TIFF_SUFFIXES)
    try:
        import openslide

        handle = openslide.OpenSlide(str(path))
        vendor = handle.properties.get('openslide.vendor')
        if not tiff or vendor not in (None, 'generic-tiff'):
            return Slide(path, handle, 'openslide')
        handle.close()
    except Exception as e:  # OpenSlideUnsupportedFormatError, OpenSlideError
        problems.append(f'openslide: {first_line(e)}')
    try:
        import tiffslide

        return Slide(path, tiffslide.TiffSlide(str(path)), 'tiffslide')
    except Exception as e:
        problems.append(f'tiffslide: {first_line(e)}')
    raise ImageReadError('not a slide OpenSlide or tiffslide can read ('
                         + '; '.join(problems) + ')')


def choose_level(downsamples: Sequence[float], target: float,
                 tolerance: float = LEVEL_TOLERANCE) -> int:
    """The level to read at ``target`` level-0 pixels per pixel wanted.

    The coarsest level not coarser than the target (up to ``tolerance``),
    so that pixels are shrunk, never much enlarged; level 0 when even it is
    coarser.
    """
    limit = target * (1 + tolerance)
    fits = [i for i, ds in enumerate(downsamples) if downsamples[0] < ds <= limit]
    return max(fits, key=lambda i: downsamples[i], default=0)


class LevelSource:
    """One level of a slide as a :class:`~.rows.RowSource`."""

    def __init__(self, slide: Slide, level: int) -> None:
        self.slide, self.level = slide, level
        self.width, self.height = slide.level_dimensions[level]
        self.downsample = slide.level_downsamples[level]

    def read_rows(self, y0: int, y1: int) -> np.ndarray:
        return self.slide.read_region(self.level, 0, y0, self.width, y1 - y0)
