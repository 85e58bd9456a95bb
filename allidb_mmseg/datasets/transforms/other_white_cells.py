"""Label the white cells that are not targets, for a head that learns them apart.

ALL-IDB1's masks mark the blasts only; every other white cell is background,
lumped with glass and red cells. :class:`LabelOtherWhiteCells` finds the
nucleated cells (:func:`~allidb_mmseg.smear.white_cells.white_cell_labels`) and
gives those that touch no target pixel a class of their own in the training
label, so the loss tells blasts from their look-alikes directly. No extra
annotation is needed; the head merges the class back into the background at
prediction (:class:`~allidb_mmseg.models.BackgroundSubclassHead`).
"""
from __future__ import annotations

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mmseg.registry import TRANSFORMS

from ...smear.white_cells import white_cell_labels

__all__ = ['LabelOtherWhiteCells']


@TRANSFORMS.register_module()
class LabelOtherWhiteCells(BaseTransform):
    """Set the background pixels of non-target white cells to ``label``.

    Runs after :class:`RescaleToWorkingScale`, which records the red-cell size
    (``rbc_px``) it brought the image to. A cell is its nucleus grown by
    ``margin`` red-cell diameters (part of the cytoplasm); a cell with any target
    (class 1) pixel in it is left alone, and so are ignored (255) and target
    pixels.

    Args:
        label: the class given to the other white cells.
        margin: how far beyond the nucleus, in red-cell diameters.
    """

    def __init__(self, label: int = 2, margin: float = 0.15) -> None:
        if margin < 0 or label in (0, 1, 255):
            raise ValueError(f'LabelOtherWhiteCells: margin {margin} must not be negative, '
                             f'label {label} not 0, 1 or 255')
        self.label = int(label)
        self.margin = float(margin)

    def transform(self, results: dict) -> dict:
        if 'rbc_px' not in results:
            raise KeyError('LabelOtherWhiteCells: no rbc_px in the results; put it after '
                           'RescaleToWorkingScale')
        gt, rbc_px = results['gt_seg_map'], results['rbc_px']
        cells = white_cell_labels(results['img'], rbc_px)
        grow = int(round(self.margin * rbc_px))
        if grow:
            # A grey dilation grows every label; where two meet, the larger wins.
            cells = cv2.dilate(cells.astype(np.float32), cv2.getStructuringElement(
                cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))).astype(np.int32)
        touches = np.zeros(int(cells.max()) + 1, bool)
        touches[cells[gt == 1]] = True
        touches[0] = True
        other = ~touches[cells] & (gt == 0)
        results['gt_seg_map'] = np.where(other, np.asarray(self.label, gt.dtype), gt)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(label={self.label}, margin={self.margin})'
