"""The red-cell ruler's confidence: sure on a clear field, unsure otherwise."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from allidb_mmseg.smear.cell_scale import (RBC_CONFIDENCE_MIN, RbcMeasure,
                                           checked_working_scale,
                                           estimate_rbc_diameter, measure_rbc)
from allidb_mmseg.synthetic import render_field
from helpers import open_rims

GLASS, CELL = (200, 190, 235), (150, 110, 190)  # BGR


def _field(width: int = 640, seed: int = 2) -> tuple[np.ndarray, float]:
    info: dict = {}
    img, _, _ = render_field(np.random.default_rng(seed), (width, width * 3 // 4),
                             2, info=info)
    return img, info['rbc_diameter']


def _discs(centres, radius: int, side: int = 400) -> np.ndarray:
    img = np.full((side, side, 3), GLASS, np.uint8)
    for c in centres:
        cv2.circle(img, c, radius, CELL, -1)
    return img


@pytest.mark.parametrize('width,seed', [(480, 1), (960, 2)])
def test_a_synthetic_field_is_measured_and_sure(width, seed):
    img, true = _field(width, seed)
    m = measure_rbc(img)
    assert isinstance(m, RbcMeasure) and m.sure
    assert m.confidence >= RBC_CONFIDENCE_MIN and m.n_cells >= 8
    assert m.diameter == pytest.approx(true, rel=0.1)
    assert estimate_rbc_diameter(img) == m.diameter  # the old contract


def test_blank_and_tiny_images_are_not_measured():
    for img in (np.full((300, 400, 3), 220, np.uint8), np.zeros((8, 8, 3), np.uint8)):
        m = measure_rbc(img)
        assert m == RbcMeasure(None, 0.0, 0) and not m.sure


def test_noise_is_not_sure():
    rng = np.random.default_rng(1)
    m = measure_rbc(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8))
    assert not m.sure and m.confidence < RBC_CONFIDENCE_MIN


def test_too_few_cells_give_no_size():
    m = measure_rbc(_discs([(100, 100), (300, 120), (200, 300)], 30))
    assert m.diameter is None and not m.sure


@pytest.mark.parametrize('n', [30, 60])
def test_rim_fragments_are_misread_but_unsure(n):
    # Open rims alone, 60 px cells: the ruler reads the rims' thickness (or,
    # where they overlap, their clumps), and the cells it counts at that size
    # do not match the mask's area, so it knows.
    m = measure_rbc(open_rims(n))
    assert m.diameter is not None and abs(m.diameter / 60 - 1) > 0.2
    assert not m.sure and m.confidence < RBC_CONFIDENCE_MIN


@pytest.mark.parametrize('solid,n', [(20, 30), (30, 45), (40, 60)])
def test_whole_cells_outweigh_the_fragments_of_open_rims(solid, n):
    # Each open rim breaks into several low distance peaks, so fragments
    # outnumber the whole cells; weighted by their height they do not.
    m = measure_rbc(open_rims(n, side=600, solid=solid))
    assert m.sure and m.diameter == pytest.approx(60, rel=0.1)


def test_only_a_measurement_can_make_the_scale_unsure():
    unsure_img = open_rims(60)
    cfg = dict(working_rbc_px=24)
    measured = checked_working_scale(cfg, unsure_img)
    assert measured.unsure
    assert measured.factor == pytest.approx(24 / estimate_rbc_diameter(unsure_img))
    assert not checked_working_scale(cfg, unsure_img, mpp=0.25).unsure
    assert not checked_working_scale(dict(cfg, source_rbc_px=48), unsure_img).unsure
    img, _ = _field()
    assert not checked_working_scale(cfg, img).unsure
