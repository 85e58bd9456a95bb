"""Read any smear image a user may have into 8-bit BGR, or say why not.

16-bit TIFFs, grayscale or RGBA PNGs are brought to the 8-bit 3-channel BGR
the model was trained on; a file that cannot be read faithfully (a truncated
JPEG...) raises :class:`ImageReadError` with a one-line reason instead of
being segmented as garbage. Conversions hold at most one extra full-size copy.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..utils import AllidbError, first_line

__all__ = ['ImageReadError', 'read_image', 'read_label', 'to_bgr8', 'header_size',
           'PIL_CHECK_MAX_PIXELS', 'LARGE_IMAGE_PIXELS', 'MAX_IMAGE_PIXELS']

# Above this many pixels, the full PIL decode used to catch corrupt JPEG data
# is skipped (it would hold a second full copy); the cheap trailer check for
# truncation still runs.
PIL_CHECK_MAX_PIXELS = 80_000_000
# Above this many pixels an image is "large": JPEG and PNG are decoded by
# imagecodecs straight into one array (OpenCV's decoders peak at twice the
# decoded size), and inference streams (docs/slides_and_large_images.md).
LARGE_IMAGE_PIXELS = 36_000_000
# The largest image decoded whole: 1000 MP is 3 GB as BGR (4 GB while an RGBA
# decode is converted), far above a field (ALL-IDB1: 5 MP) or a 400 MP stitched
# scan. Larger files are refused from their header: they belong in a tiled
# pyramidal TIFF, read region by region as a slide.
MAX_IMAGE_PIXELS = 1_000_000_000
_ROWS_PER_BAND = 1024


class ImageReadError(AllidbError, ValueError):
    """The file is not a usable image; ``str()`` is a one-line reason (the
    caller knows the file)."""


# First bytes of a format, and the trailer bytes that end a complete file.
_MAGIC = {b'\xff\xd8\xff': 'JPEG', b'\x89PNG': 'PNG'}
_TRAILER = {'JPEG': (b'\xff\xd9', 'no end-of-image marker'),
            'PNG': (b'IEND', 'no IEND chunk')}


def _sniff(path: Path) -> str | None:
    """'JPEG' or 'PNG' from the first bytes, else None; raise if truncated.

    OpenCV decodes a truncated JPEG to a half-grey image with only a warning
    (libjpeg's "Premature end of JPEG file" on stderr), so the end-of-image
    marker is checked explicitly, before decoding.
    """
    with open(path, 'rb') as f:
        head = f.read(8)
        f.seek(max(0, path.stat().st_size - 4096))
        tail = f.read()
    kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
    if kind and _TRAILER[kind][0] not in tail:
        raise ImageReadError(f'truncated or corrupt {kind} ({_TRAILER[kind][1]})')
    return kind


def _check_with_pil(path: Path) -> None:
    """Decode with PIL, which raises on corrupt data that OpenCV tolerates."""
    from PIL import Image  # pillow comes with matplotlib

    try:
        with Image.open(path) as im:
            if im.width * im.height <= PIL_CHECK_MAX_PIXELS:
                im.load()
    except Image.DecompressionBombError:
        pass
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError...
        raise ImageReadError(f'corrupt image ({first_line(e)})') from None


def to_bgr8(img: np.ndarray) -> np.ndarray:
    """Bring an array from ``cv2.imread(..., IMREAD_UNCHANGED)`` to uint8 BGR.

    * 16-bit (and other integer) images are scaled by their own maximum, so a
      12-bit camera stored in 16 bits is not rendered nearly black (a plain
      ``>> 8`` would be); a full-range 16-bit image ends up close to ``>> 8``.
    * float images in [0, 1] are scaled by 255, otherwise clipped to [0, 255].
    * grayscale is replicated to 3 channels.
    * an alpha channel is composited onto white (smear background is bright),
      so transparent regions do not turn into black "cells".
    """
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 2, 3, 4)):
        raise ImageReadError(f'unsupported image shape {img.shape}')
    if img.size == 0:
        raise ImageReadError('empty image')
    if img.dtype != np.uint8:
        img = _to_uint8(img)
    if img.ndim == 3 and img.shape[2] in (2, 4):  # gray or BGR, then alpha
        img = _composite_on_white(img[:, :, :-1], img[:, :, -1])
    if img.ndim == 2 or img.shape[2] == 1:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return img


def _banded(shape: tuple[int, ...], band: Callable[[slice], np.ndarray]) -> np.ndarray:
    """A uint8 array of ``shape`` filled from ``band(rows)``, a band of rows at a time."""
    out = np.empty(shape, np.uint8)
    for r in range(0, shape[0], _ROWS_PER_BAND):
        rows = slice(r, r + _ROWS_PER_BAND)
        out[rows] = band(rows)
    return out


def _to_uint8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.bool_:
        return img.astype(np.uint8) * 255
    if np.issubdtype(img.dtype, np.floating):
        alpha = 255.0 if float(np.nanmax(img)) <= 1.0 else 1.0
        return _banded(img.shape, lambda rows: np.clip(
            np.nan_to_num(img[rows].astype(np.float32)) * alpha, 0, 255))
    if np.issubdtype(img.dtype, np.integer):
        vmax = int(img.max())
        if vmax <= 0:
            return np.zeros(img.shape, np.uint8)
        if vmax <= 255 and np.issubdtype(img.dtype, np.unsignedinteger):
            return img.astype(np.uint8)
        scale = 255.0 / vmax
        return _banded(img.shape, lambda rows: np.clip(
            img[rows].astype(np.float32) * scale + 0.5, 0, 255))
    raise ImageReadError(f'unsupported pixel type {img.dtype}')


def _composite_on_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    def band(rows: slice) -> np.ndarray:
        a = alpha[rows].astype(np.float32)[..., None] / 255.0
        return np.clip(color[rows].astype(np.float32) * a + 255.0 * (1.0 - a) + 0.5, 0, 255)

    return _banded(color.shape, band)


def header_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """(width, height) as an image's header states them, before any rotation
    by its EXIF orientation (asking PIL for that would decode a PNG); None when
    PIL cannot read the header. No pixel data is read."""
    from PIL import Image

    # PIL's decompression-bomb limit is lifted: it refuses (or warns about)
    # the very headers whose size this function reads.
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with Image.open(path) as im:
            return im.size
    except Exception:
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _decode_large(path: Path, kind: str) -> np.ndarray:
    """A JPEG or PNG decoded by imagecodecs into one array (peak: the file
    plus the image), its colour channels turned to BGR in place."""
    import imagecodecs

    decode = imagecodecs.jpeg8_decode if kind == 'JPEG' else imagecodecs.png_decode
    try:
        img = decode(path.read_bytes())
    except Exception as e:
        raise ImageReadError(f'truncated or corrupt {kind} ({first_line(e)})') from e
    if img.ndim == 3 and img.shape[2] in (3, 4):
        for r in range(0, img.shape[0], _ROWS_PER_BAND):
            img[r:r + _ROWS_PER_BAND, :, :3] = img[r:r + _ROWS_PER_BAND, :, 2::-1]
    return img


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read ``path`` as uint8 BGR (H, W, 3); raise ImageReadError if unusable.

    A JPEG or PNG is checked for truncation before decoding, and one that
    cannot be decoded is reported as truncated or corrupt, not as "not an
    image". From the header: an image above :data:`MAX_IMAGE_PIXELS` is
    refused, a JPEG or PNG above :data:`LARGE_IMAGE_PIXELS` is decoded by
    imagecodecs. PIL decodes it again (up to :data:`PIL_CHECK_MAX_PIXELS`) to
    catch corrupt data OpenCV tolerates.
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError('no such file')
    if not path.is_file():
        raise ImageReadError('not a regular file')
    if path.stat().st_size == 0:
        raise ImageReadError('empty file')
    kind = _sniff(path)
    size = header_size(path)
    pixels = size[0] * size[1] if size else 0
    if pixels > MAX_IMAGE_PIXELS:
        raise ImageReadError(
            f'header says {size[0]}x{size[1]} pixels ({pixels / 1e6:.0f} MP), above the '
            f'{MAX_IMAGE_PIXELS / 1e6:.0f} MP this reader decodes in memory; '
            'convert it to a tiled pyramidal TIFF to read it as a slide')
    if kind and pixels > LARGE_IMAGE_PIXELS:
        return to_bgr8(_decode_large(path, kind))
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        if kind:
            raise ImageReadError(f'truncated or corrupt {kind} (cannot be decoded)')
        if size is not None:  # PIL reads its header
            raise ImageReadError('corrupt or unsupported image (OpenCV cannot decode it)')
        raise ImageReadError('not an image (unrecognised file format)')
    _check_with_pil(path)
    return to_bgr8(img)


def read_label(path: str | os.PathLike) -> np.ndarray:
    """Read a mask of class indices as (H, W); raise ImageReadError naming ``path`` if unusable."""
    label = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if label is None or label.ndim != 2:
        raise ImageReadError(path, 'not a readable single-channel label mask')
    return label
