"""Write a class mask that arrives in row bands, never holding it whole.

A slide's mask is a tiled pyramidal OME-TIFF (:func:`write_mask_pyramid`): level
0 is written tile row by tile row from the bands, and the reduced levels (every
:data:`LEVEL_FACTOR`-th pixel of the level above) are collected on the way. The
pixel size, when known, is in the OME-XML and resolution tags, so QuPath, napari
or tiffslide open the mask at the slide's scale. A large plain image's mask is a
PNG (:func:`write_mask_png`).
"""
from __future__ import annotations

import os
from typing import Iterator

import numpy as np

from ..utils import atomic_write
from .rows import Band

__all__ = ['write_mask_pyramid', 'write_mask_png', 'LEVEL_FACTOR', 'TILE']

TILE = 256
LEVEL_FACTOR = 4


def _tiles(bands: Iterator[Band], height: int, width: int,
           level1: np.ndarray) -> Iterator[np.ndarray]:
    """Tiles of level 0 in file order; fills ``level1`` on the way."""
    block = np.empty((0, width), np.uint8)  # the rows not yet written
    y_next = 0   # image row of block[0]
    for band in bands:
        if level1.size:  # every LEVEL_FACTOR-th row and column
            sub = band.mask[(-band.y0) % LEVEL_FACTOR::LEVEL_FACTOR, ::LEVEL_FACTOR]
            y1 = -(-band.y0 // LEVEL_FACTOR)
            level1[y1:y1 + len(sub)] = sub
        block = np.concatenate([block, band.mask]) if len(block) else band.mask
        while len(block) >= TILE or (len(block) and y_next + len(block) == height):
            for x in range(0, width, TILE):
                yield block[:TILE, x:x + TILE]
            y_next += min(TILE, len(block))
            block = block[TILE:]
    if y_next != height:
        raise ValueError(f'bands ended at row {y_next} of {height}')


def write_mask_pyramid(path: str | os.PathLike, bands: Iterator[Band],
                       height: int, width: int, mpp: float | None = None,
                       compression: str = 'zlib') -> int:
    """Write the masks of ``bands`` (row order, covering ``height`` rows) to
    ``path`` (``.ome.tif``) atomically, as a tiled pyramidal OME-TIFF of
    ``mpp`` microns per pixel if known; ``compression`` is tifffile's.

    Returns:
        The number of pyramid levels written.
    """
    import tifffile

    f = LEVEL_FACTOR
    sizes = [(height, width)]
    while max(sizes[-1]) > TILE:
        h, w = sizes[-1]
        sizes.append((-(-h // f), -(-w // f)))
    level1 = np.zeros(sizes[1] if len(sizes) > 1 else (0, 0), np.uint8)

    def meta(k: int) -> dict:
        out = dict(photometric='minisblack', tile=(TILE, TILE),
                   compression=compression)
        if mpp:
            px_per_cm = 1e4 / (mpp * f ** k)
            out.update(resolution=(px_per_cm, px_per_cm),
                       resolutionunit='CENTIMETER')
        return out

    def write(tmp: os.PathLike) -> None:
        with tifffile.TiffWriter(tmp, bigtiff=True, ome=True) as tif:
            metadata = dict(axes='YX', Name='blast mask (class indices)')
            if mpp:
                metadata.update(PhysicalSizeX=mpp, PhysicalSizeXUnit='µm',
                                PhysicalSizeY=mpp, PhysicalSizeYUnit='µm')
            tif.write(_tiles(bands, height, width, level1),
                      shape=(height, width), dtype=np.uint8,
                      subifds=len(sizes) - 1, metadata=metadata, **meta(0))
            level = level1
            for k in range(1, len(sizes)):
                tif.write(level, subfiletype=1, metadata=None, **meta(k))
                level = level[::f, ::f].copy()

    atomic_write(path, write)
    return len(sizes)


def _rows(bands: Iterator[Band], height: int) -> Iterator[np.ndarray]:
    y = 0
    for band in bands:
        yield from band.mask
        y += len(band.mask)
    if y != height:
        raise ValueError(f'bands ended at row {y} of {height}')


def write_mask_png(path: str | os.PathLike, bands: Iterator[Band],
                   height: int, width: int) -> None:
    """Write the masks of ``bands`` (row order) to ``path`` atomically as an
    8-bit greyscale PNG, row by row (pypng streams; OpenCV would need the
    whole mask)."""
    import png

    def write(tmp: os.PathLike) -> None:
        with open(tmp, 'wb') as f:
            png.Writer(width, height, greyscale=True, bitdepth=8).write(
                f, _rows(bands, height))

    atomic_write(path, write)
