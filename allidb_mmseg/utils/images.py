"""Which files are images, how images pair with their masks, and shrinking one to a size."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AllidbError

__all__ = ['BLAST_CLASS', 'IMAGE_SUFFIXES', 'is_image_file', 'files_by_stem', 'Pairing',
           'pair_by_stem', 'split_pairs', 'oriented_size', 'fit_within']

# Every image format the project reads: ALL-IDB1 ships JPEGs, ALL-IDB2 TIFFs,
# users bring PNG or BMP. Compared in lower case.
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff')
MASK_SUFFIX = '.png'
# The lymphoblast's value in every class mask (0 is background).
BLAST_CLASS = 1


_EXIF_ORIENTATION = 0x0112
_SWAPS_AXES = {5, 6, 7, 8}  # EXIF orientations that transpose the image


def oriented_size(im: Any) -> tuple[int, int]:
    """(width, height) of an open PIL image as OpenCV decodes it: OpenCV
    applies the EXIF orientation, so a tag that rotates by 90 degrees swaps
    the two. Reads the header only."""
    w, h = im.size
    return (h, w) if im.getexif().get(_EXIF_ORIENTATION, 1) in _SWAPS_AXES else (w, h)


def fit_within(img: np.ndarray, side: int) -> np.ndarray:
    """``img`` area-averaged down until its long side is at most ``side`` pixels
    (at least 1 a side); itself when it already fits."""
    import cv2

    h, w = img.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return img
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def is_image_file(name: str | os.PathLike) -> bool:
    """True when the name ends in one of :data:`IMAGE_SUFFIXES` (any case)."""
    return str(name).lower().endswith(IMAGE_SUFFIXES)


def files_by_stem(folder: str | os.PathLike,
                  suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> dict[str, Path]:
    """Visible files of ``folder`` with one of ``suffixes``, keyed by stem.

    Sorted by name; the first file of a repeated stem wins.
    """
    out: dict[str, Path] = {}
    for p in sorted(Path(folder).iterdir()):
        if p.is_file() and not p.name.startswith('.') and p.suffix.lower() in suffixes:
            out.setdefault(p.stem, p)
    return out


@dataclass
class Pairing:
    """Images and masks of one folder pair, matched by stem."""

    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    images_without_mask: list[Path] = field(default_factory=list)
    masks_without_image: list[Path] = field(default_factory=list)


def pair_by_stem(img_dir: str | os.PathLike, ann_dir: str | os.PathLike,
                 seg_suffix: str = MASK_SUFFIX) -> Pairing:
    """Pair ``img_dir/<stem>.<image suffix>`` with ``ann_dir/<stem><seg_suffix>``.

    A missing folder counts as an empty one.
    """
    img_dir, ann_dir = Path(img_dir), Path(ann_dir)
    images = files_by_stem(img_dir) if img_dir.is_dir() else {}
    masks = files_by_stem(ann_dir, (seg_suffix,)) if ann_dir.is_dir() else {}
    return Pairing(
        pairs=[(images[s], masks[s]) for s in images if s in masks],
        images_without_mask=[images[s] for s in images if s not in masks],
        masks_without_image=[masks[s] for s in masks if s not in images])


def split_pairs(data_root: str | os.PathLike, split: str) -> list[tuple[Path, Path]]:
    """(image, mask) pairs of one split in mmseg's img_dir/ann_dir layout.

    Raises:
        AllidbError: the split has no mask folder, no masks, or a mask
            without its image.
    """
    ann_dir = Path(data_root) / 'ann_dir' / split
    img_dir = Path(data_root) / 'img_dir' / split
    if not ann_dir.is_dir():
        raise AllidbError(ann_dir, 'no such split folder')
    pairing = pair_by_stem(img_dir, ann_dir)
    if pairing.masks_without_image:
        raise AllidbError(img_dir, 'no image for mask '
                          f'{pairing.masks_without_image[0].name}')
    if not pairing.pairs:
        raise AllidbError(ann_dir, f'no masks (*{MASK_SUFFIX})')
    return pairing.pairs
