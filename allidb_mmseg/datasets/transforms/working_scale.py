"""``RescaleToWorkingScale``: bring an image (and its label) to the working scale."""
from __future__ import annotations

from typing import Optional

import cv2
from mmcv.transforms import BaseTransform

from mmseg.registry import TRANSFORMS

from ...smear.cell_scale import working_scale_factor

__all__ = ['RescaleToWorkingScale']


@TRANSFORMS.register_module()
class RescaleToWorkingScale(BaseTransform):
    """Rescale so that red cells are ``working_rbc_px`` pixels across.

    The factor (:func:`~.cell_scale.working_scale_factor`) comes from
    ``source_rbc_px`` when given, else the results' ``mpp`` (microns per
    pixel), else the red-cell size measured in the image. Images are resized
    with area averaging (shrink) or bilinear (enlarge), every map in
    ``seg_fields`` with nearest neighbour to exactly the image's new size.

    Like mmseg's ``Resize`` it keeps ``ori_shape`` (evaluation stays at the
    label's resolution) and sets ``img_shape``, ``scale_factor`` (w, h) and
    ``keep_ratio``; the factor is recorded as ``working_scale`` and the red-cell
    diameter the image now has as ``rbc_px``.

    Args:
        working_rbc_px: the working scale, red-cell diameter in pixels.
        source_rbc_px: the red-cell diameter of the dataset's images in
            their own pixels; None measures every image.
    """

    def __init__(self, working_rbc_px: float, source_rbc_px: Optional[float] = None) -> None:
        self.working_rbc_px = float(working_rbc_px)
        self.source_rbc_px = source_rbc_px

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        factor = working_scale_factor(
            dict(working_rbc_px=self.working_rbc_px,
                 source_rbc_px=self.source_rbc_px),
            img_bgr=img, mpp=results.get('mpp'))
        new_w, new_h = max(1, round(w * factor)), max(1, round(h * factor))
        if (new_w, new_h) != (w, h):
            interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
            results['img'] = cv2.resize(img, (new_w, new_h), interpolation=interp)
            for key in results.get('seg_fields', []):
                results[key] = cv2.resize(results[key], (new_w, new_h),
                                          interpolation=cv2.INTER_NEAREST)
        results.update(img_shape=results['img'].shape[:2], scale_factor=(new_w / w, new_h / h),
                       keep_ratio=True, working_scale=float(factor),
                       rbc_px=self.working_rbc_px)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(working_rbc_px={self.working_rbc_px}, '
                f'source_rbc_px={self.source_rbc_px})')

