"""Load a JPEG already shrunk by the decoder, for pipelines that resize it anyway.

Training at 128 px decodes a 2592x1944 field and then throws away more than
99% of its pixels in ``Resize``. libjpeg decodes at 1/2, 1/4 or 1/8 scale
(OpenCV's ``IMREAD_REDUCED_*`` flags) several times faster, anti-aliased.
``LoadImageFromFileFast`` picks the largest factor whose output is still at
least the size the following ``Resize`` produces, so it still only downsamples.

``ori_shape`` is the FULL size of the file (JPEG header), as
``LoadImageFromFile`` sets it: predictions are resized back to it and scored
against the label at its native size. ``img_shape`` is the reduced shape.
``scale_factor`` (from ``Resize``) is relative to the reduced image; no mmseg
segmentor or metric reads it, and ``decode_factor`` records the reduction
(``full -> input = scale_factor / decode_factor``). Labels are untouched:
``LoadAnnotations`` loads them at full size and ``Resize`` resizes them with
nearest-neighbour, so they are bit-identical to the naive pipeline's.
"""
from __future__ import annotations

import io
import math

import cv2
import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio
from PIL import Image

from mmseg.registry import TRANSFORMS

from ...utils import oriented_size

_JPEG_MAGIC = b'\xff\xd8\xff'
# color_type -> factor -> cv2.IMREAD_REDUCED_<COLOR|GRAYSCALE>_<factor>
_REDUCED_FLAGS = {mode: {f: getattr(cv2, f'IMREAD_REDUCED_{mode.upper()}_{f}')
                         for f in (2, 4, 8)}
                  for mode in ('color', 'grayscale')}


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) of a JPEG as OpenCV decodes it (EXIF rotation applied; header only),
    or None."""
    if not data.startswith(_JPEG_MAGIC):
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            return oriented_size(im)[::-1] if im.format == 'JPEG' else None
    except Exception:  # corrupt header: let the normal decoder report it
        return None


def reduced_shape(full_hw: tuple[int, int], factor: int) -> tuple[int, int]:
    """Shape libjpeg produces at 1/``factor`` scale (it rounds up)."""
    return (math.ceil(full_hw[0] / factor), math.ceil(full_hw[1] / factor))


def resize_target_hw(full_hw: tuple[int, int], scale: tuple[int, int],
                     keep_ratio: bool) -> tuple[int, int]:
    """(h, w) that mmcv's ``Resize(scale, keep_ratio)`` gives for ``full_hw``."""
    if not keep_ratio:
        return scale[1], scale[0]  # mmcv scales are (w, h)
    w, h = mmcv.rescale_size((full_hw[1], full_hw[0]), scale)
    return h, w


def choose_factor(full_hw: tuple[int, int], target_hw: tuple[int, int],
                  factors: tuple[int, ...] = (8, 4, 2)) -> int:
    """Largest JPEG reduction that still decodes to >= ``target_hw``; else 1."""
    for f in sorted(factors, reverse=True):
        h, w = reduced_shape(full_hw, f)
        if h >= target_hw[0] and w >= target_hw[1]:
            return f
    return 1


@TRANSFORMS.register_module()
class LoadImageFromFileFast(LoadImageFromFile):
    """``LoadImageFromFile`` that decodes JPEGs at a reduced scale when it can.

    Args:
        target_scale: ``scale`` of the ``Resize`` that follows, as (w, h) like
            mmcv's. None disables reduction (then this is LoadImageFromFile).
        keep_ratio: ``keep_ratio`` of that ``Resize``.
        max_factor: largest reduction allowed (1, 2, 4 or 8).
        **kwargs: ``LoadImageFromFile``'s arguments.

    Falls back to a full decode for non-JPEG files, for colour types other
    than 'color'/'grayscale', for a non-cv2 backend, and when no reduction
    keeps the image at least as large as the resize target.
    """

    def __init__(self, target_scale: tuple[int, int] | None = None,
                 keep_ratio: bool = False, max_factor: int = 8,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if max_factor not in (1, 2, 4, 8):
            raise ValueError(f'max_factor must be 1, 2, 4 or 8, got {max_factor}')
        self.target_scale = (None if target_scale is None
                             else (int(target_scale[0]), int(target_scale[1])))
        self.keep_ratio = keep_ratio
        self.factors = tuple(f for f in (8, 4, 2) if f <= max_factor)

    def transform(self, results: dict) -> dict | None:
        if not (self.target_scale is not None and self.factors
                and self.imdecode_backend == 'cv2' and self.color_type in _REDUCED_FLAGS
                and self.file_client_args is None):
            results = super().transform(results)
            if results is not None:
                results['decode_factor'] = 1
            return results
        filename = results['img_path']
        try:
            data = fileio.get(filename, backend_args=self.backend_args)
            img, full_hw, factor = self._decode(data)
        except Exception:
            if self.ignore_empty:
                return None
            raise
        assert img is not None, f'failed to load image: {filename}'
        if self.to_float32:
            img = img.astype(np.float32)
        results.update(img=img, img_shape=img.shape[:2], ori_shape=full_hw,
                       decode_factor=factor)
        return results

    def _decode(self, data: bytes) -> tuple[np.ndarray | None, tuple[int, int] | None, int]:
        full_hw = jpeg_size(data)
        if full_hw is not None:
            target = resize_target_hw(full_hw, self.target_scale, self.keep_ratio)
            factor = choose_factor(full_hw, target, self.factors)
            if factor > 1:
                buf = np.frombuffer(data, np.uint8)
                img = cv2.imdecode(buf, _REDUCED_FLAGS[self.color_type][factor])
                # Guard against header/decoder disagreement (odd EXIF, CMYK):
                # a wrong ori_shape would silently misalign predictions.
                if img is not None and img.shape[:2] == reduced_shape(full_hw, factor):
                    return img, full_hw, factor
        img = mmcv.imfrombytes(data, flag=self.color_type, backend=self.imdecode_backend)
        return img, (None if img is None else img.shape[:2]), 1

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(target_scale={self.target_scale}, '
                f'keep_ratio={self.keep_ratio}, factors={self.factors}, '
                f"color_type='{self.color_type}', "
                f"imdecode_backend='{self.imdecode_backend}', "
                f'to_float32={self.to_float32})')
