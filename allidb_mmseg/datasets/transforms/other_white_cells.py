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

    Runs after :class:`RescaleToWorkingScale`, where red cells are
    ``working_rbc_px`` across. A cell is its nucleus grown by ``margin`` red-cell
    diameters (part of the cytoplasm); a cell with any target (class 1) pixel in
    it is left alone, and so are ignored (255) and target pixels.

    Args:
        working_rbc_px: red-cell diameter of the images it sees, in pixels.
        label: the class given to the other white cells.
        margin: how far beyond the nucleus, in red-cell diameters.
    """

    def __init__(self, working_rbc_px: float, label: int = 2, margin: float = 0.15) -> None:
        if not working_rbc_px > 0 or margin < 0 or label in (0, 1, 255):
            raise ValueError(f'LabelOtherWhiteCells: working_rbc_px {working_rbc_px} must be '
                             f'positive, margin {margin} not negative, label {label} not 0, 1 '
                             'or 255')
        self.working_rbc_px = float(working_rbc_px)
        self.label = int(label)
        self.margin = float(margin)

    def transform(self, results: dict) -> dict:
        gt = results['gt_seg_map']
        cells = white_cell_labels(results['img'], self.working_rbc_px)
        grow = int(round(self.margin * self.working_rbc_px))
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
        return (f'{self.__class__.__name__}(working_rbc_px={self.working_rbc_px}, '
                f'label={self.label}, margin={self.margin})')
