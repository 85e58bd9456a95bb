"""smear/white_cells.py: counting white cells from their nuclei."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from allidb_mmseg.smear.white_cells import count_white_cells, white_cell_labels
from helpers import GLASS, RED_CELL, white_cell_field as _field

REAL = Path(__file__).resolve().parents[2] / '..' / 'shared' / 'real'
def test_counts_round_nuclei_and_joins_lobes_but_not_platelets():
    img, centres = _field()
    found = count_white_cells(img, 40.0)
    assert found.count == 4
    for x, y in centres:
        assert np.min(np.hypot(*(found.centres - (x, y)).T)) < 15


def test_labels_are_the_counted_cells_nuclei_at_the_images_resolution():
    img, centres = _field()
    labels = white_cell_labels(img, 40.0)
    assert labels.shape == img.shape[:2]
    assert sorted(np.unique(labels)) == [0, 1, 2, 3, 4]  # no label for a platelet
    lobes = [(628, 420), (656, 404), (660, 438)]  # the neutrophil's: one cell
    assert len({labels[y, x] for x, y in lobes}) == 1
    cells = {labels[y, x] for x, y in centres[:3] + lobes[:1]}
    assert len(cells) == 4 and 0 not in cells  # each cell's nucleus its own label
    assert labels[305, 320] == labels[250, 700] == 0  # platelets
    assert np.count_nonzero(white_cell_labels(img, 160.0)) < np.count_nonzero(labels)


def test_a_field_without_white_cells_counts_none():
    img, _ = _field()
    no_wbc = np.full_like(img, GLASS)
    rng = np.random.default_rng(1)
    for x, y in rng.integers(0, [800, 600], size=(80, 2)):
        cv2.circle(no_wbc, (int(x), int(y)), 20, RED_CELL, -1)
    assert count_white_cells(no_wbc, 40.0).count == 0


def test_the_scale_decides_what_is_a_platelet():
    img, _ = _field()
    # Told the red cells are 4x larger, the round nuclei are under the
    # smallest nucleus and the lobes' gaps still close: only the neutrophil.
    assert count_white_cells(img, 160.0).count < 4


@pytest.mark.parametrize('img, rbc', [(np.zeros((10, 10), np.uint8), 10.0),
                                      (np.zeros((10, 10, 3), np.float32), 10.0),
                                      (np.zeros((10, 10, 3), np.uint8), 0.0)])
def test_bad_input_is_a_value_error(img, rbc):
    with pytest.raises(ValueError):
        count_white_cells(img, rbc)


@pytest.mark.skipif(not (REAL / 'bccd' / 'BCCD').is_dir(),
                    reason='no shared real data (../shared/real)')
def test_real_bccd_fields_match_their_white_cell_boxes():
    from benchmarks import rbc_size, wbc_count

    fields = [f for f in rbc_size.real_fields(REAL, per_source=40)
              if f['source'] == 'BCCD 640x480']
    s = wbc_count.summarize_wbc(wbc_count.measure_wbc_real(fields))['BCCD 640x480']
    assert s['fields'] == 40
    assert s['boxes']['exact_pct'] >= 90  # 96 % on 100 fields (docs/real_data.md)
