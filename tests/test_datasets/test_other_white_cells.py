"""datasets/transforms/other_white_cells.py: the look-alikes labelled from the image."""
from __future__ import annotations

import numpy as np
import pytest

from allidb_mmseg.datasets.transforms import LabelOtherWhiteCells
from allidb_mmseg.smear.white_cells import white_cell_labels
from helpers import white_cell_field


def _results(target_xy=(150, 150), r=40):
    img, centres = white_cell_field()
    gt = np.zeros(img.shape[:2], np.uint8)
    x, y = target_xy
    gt[y - r:y + r, x - r:x + r] = 1  # a blast's mask around one nucleus
    gt[:10, :10] = 255
    return dict(img=img, gt_seg_map=gt, seg_fields=['gt_seg_map'], rbc_px=40.0), centres


def test_white_cells_without_target_pixels_get_the_class():
    results, centres = _results()
    results['gt_seg_map'][590:, 790:] = 2  # a hand-labelled one stays
    before = results['gt_seg_map'].copy()
    out = LabelOtherWhiteCells()(results)['gt_seg_map']
    assert out.dtype == before.dtype
    assert out[150, 150] == 1 and out[:10, :10].max() == 255  # target and ignore kept
    assert np.array_equal(out == 1, before == 1) and (out[590:, 790:] == 2).all()
    for x, y in centres[1:3]:  # the other round nuclei
        assert out[y, x] == 2
    assert (out[380:460, 610:690] == 2).any()  # the neutrophil's lobes
    assert out[250, 700] == 0 and out[305, 320] == 0  # platelets stay background
    # The nucleus grown by the margin: more than the nucleus, less than the field.
    nuclei = white_cell_labels(results['img'], 40.0) > 0
    others = np.count_nonzero(out == 2)
    assert np.count_nonzero(nuclei & (before == 0)) < others < 0.2 * out.size


def test_a_cell_touching_the_target_is_left_alone_and_margin_zero_keeps_the_nucleus():
    results, _ = _results(target_xy=(600, 120), r=5)  # one target pixel block in a nucleus
    out = LabelOtherWhiteCells(margin=0.0)(results)['gt_seg_map']
    assert out[120, 600 + 20] == 0  # same nucleus as the target: not an other cell
    nuclei = white_cell_labels(results['img'], 40.0) > 0
    assert np.array_equal(out == 2, nuclei & (out == 2))
    assert out[150, 150] == 2


@pytest.mark.parametrize('kwargs', [dict(label=1), dict(label=255), dict(margin=-1)])
def test_bad_settings_are_value_errors(kwargs):
    with pytest.raises(ValueError, match='LabelOtherWhiteCells'):
        LabelOtherWhiteCells(**kwargs)


def test_it_needs_the_red_cell_size_of_the_rescale_before_it():
    results, _ = _results()
    del results['rbc_px']
    with pytest.raises(KeyError, match='after RescaleToWorkingScale'):
        LabelOtherWhiteCells()(results)
