"""Check a split before training or testing on it: one pass, one-line errors.

Without it, bad data surfaces deep inside mmengine, sometimes hours into a
run (a mask smaller than its image, a 1x1 image), or not at all (a mask value
of 7 is scored as neither class). Needs PIL and numpy only, no torch or mmseg.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from ..utils import AllidbError, oriented_size, pair_by_stem

__all__ = ['MIN_IMAGE_SIDE', 'PROGRESS_FROM', 'image_size', 'check_pair', 'validate_split']

# Smaller images hold no cell; mmcv's resize fails on a 1-pixel one.
MIN_IMAGE_SIDE = 8
# Splits with at least this many pairs show a progress bar.
PROGRESS_FROM = 200


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of an image as mmseg loads it (EXIF rotation applied); header only.

    Raises:
        AllidbError: the file cannot be identified as an image.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return oriented_size(im)
    except (OSError, ValueError, SyntaxError) as e:
        raise AllidbError(path, f'not a readable image ({e})') from e


def check_pair(image: Path, mask: Path, num_classes: int = 2) -> None:
    """Raise an :class:`AllidbError` naming the file at fault, if any: an image under
    :data:`MIN_IMAGE_SIDE` px a side, a mask not of its image's size as mmseg loads it
    (EXIF rotation applied; sizes from the headers), or a mask value that is neither a
    class index below ``num_classes`` nor 255."""
    w, h = image_size(image)
    if min(w, h) < MIN_IMAGE_SIDE:
        raise AllidbError(image, f'image is {w}x{h}; at least '
                          f'{MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} pixels needed')
    try:
        with Image.open(mask) as im:
            if im.mode not in ('L', 'P', 'I', 'I;16', '1'):
                raise AllidbError(mask, f'mask is {im.mode}, not a '
                                  'single-channel image of class indices')
            values = np.asarray(im)
    except (OSError, ValueError, SyntaxError) as e:
        raise AllidbError(mask, f'not a readable mask PNG ({e})') from e
    mh, mw = values.shape[:2]
    if (mw, mh) != (w, h):
        raise AllidbError(mask, f'mask is {mw}x{mh} but its image '
                          f'{image.name} is {w}x{h} (as mmseg loads it)')
    wrong = (values >= num_classes) & (values != 255)  # no sort
    if wrong.any():
        bad = np.unique(values[wrong])
        shown = ', '.join(str(v) for v in bad[:5]) + (', ...' if bad.size > 5 else '')
        upper = f' to {num_classes - 1}' if num_classes > 2 else ''
        raise AllidbError(mask, f'mask holds the value(s) {shown}; class '
                          f'indices are 0 (background), 1 (lymphoblast){upper} and 255 (ignored)')


def validate_split(img_dir: str | os.PathLike, ann_dir: str | os.PathLike,
                   seg_suffix: str = '.png', progress: bool = True,
                   num_classes: int = 2) -> int:
    """Check every image/mask pair of one split folder pair; return the number of pairs.

    Args:
        img_dir: the split's images (e.g. ``DATA_ROOT/img_dir/train``).
        ann_dir: its masks, ``<image stem><seg_suffix>`` (``DATA_ROOT/ann_dir/train``).
        progress: a tqdm bar for splits of :data:`PROGRESS_FROM` pairs or more.
        num_classes: the model's classes; mask values from it up (but 255) are errors.

    Raises:
        AllidbError: the first problem, naming its file.
    """
    img_dir, ann_dir = Path(img_dir), Path(ann_dir)
    if not ann_dir.is_dir():
        raise AllidbError(ann_dir, 'no such mask folder (masks go in '
                          'ann_dir/<split>/<image stem>.png)')
    pairing = pair_by_stem(img_dir, ann_dir, seg_suffix)
    if pairing.images_without_mask:
        raise AllidbError(pairing.images_without_mask[0],
                          f'image has no mask {ann_dir}/'
                          f'{pairing.images_without_mask[0].stem}{seg_suffix}')
    if pairing.masks_without_image:
        raise AllidbError(pairing.masks_without_image[0], f'mask has no image in {img_dir}')
    if not pairing.pairs:
        raise AllidbError(img_dir, 'split folder holds no image/mask pairs')
    pairs = pairing.pairs
    if progress and len(pairs) >= PROGRESS_FROM:
        from tqdm import tqdm
        pairs = tqdm(pairs, desc=f'checking {img_dir}', unit='img',
                     leave=False, dynamic_ncols=True)
    for image, mask in pairs:
        check_pair(image, mask, num_classes)
    return len(pairing.pairs)
