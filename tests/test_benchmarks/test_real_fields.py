"""benchmarks/real_fields.py: fields of real crops, pools and the cross-lab scale."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import real_fields as rf
from allidb_mmseg.utils import AllidbError

# The shared real data sits beside the repository, never inside it.
REAL = Path(__file__).resolve().parents[2] / '..' / 'shared' / 'real'


def _crop(kind: int, name: str, side: int = 40, radius: int = 8) -> rf.Crop:
    img = np.full((side, side, 3), 200, np.uint8)
    yy, xx = np.mgrid[:side, :side]
    cell = (yy - side / 2) ** 2 + (xx - side / 2) ** 2 < radius ** 2
    img[cell] = (120, 40, 90) if kind == rf.TARGET_TYPE else (90, 60, 140)
    return rf.Crop(img, cell, kind, name)


def test_pools_are_disjoint_seeded_and_hold_every_type():
    crops = [_crop(t, f'{t}/{i}') for t in (1, 2, 3) for i in range(10)]
    pools = rf.split_pools(crops, seed=3)
    names = [{c.name for c in p} for p in pools]
    assert sum(map(len, names)) == 30 and len(set.union(*names)) == 30
    assert all({c.cell_type for c in p} == {1, 2, 3} for p in pools)
    assert [len(p) for p in pools] == [18, 6, 6]
    assert [c.name for c in rf.split_pools(crops, seed=3)[1]] == [c.name for c in pools[1]]
    assert [c.name for c in rf.split_pools(crops, seed=4)[1]] != [c.name for c in pools[1]]


def test_a_field_labels_exactly_its_target_cells_with_one_centre_each():
    pool = [_crop(2, 'lym'), _crop(1, 'neu'), _crop(3, 'mon')]
    spec = rf.FieldSpec(cols=3, rows=2)
    img, label, centres = rf.compose_field(pool, 2, spec, 40, np.random.default_rng(0))
    assert img.shape == (80, 120, 3) and label.shape == (80, 120)
    assert len(centres) == 2
    cell_px = int(_crop(2, 'x').cell.sum())
    assert label.sum() == 2 * cell_px
    for x, y in centres:
        assert label[int(y), int(x)] == 1
    # Only target cells are labelled: their colour, never a look-alike's.
    assert (img[label == 1] == (120, 40, 90)).all()
    healthy = rf.compose_field(pool, 0, spec, 40, np.random.default_rng(1))
    assert healthy[1].sum() == 0 and len(healthy[2]) == 0


def test_other_white_cells_can_carry_a_class_of_their_own_on_the_same_field():
    pool = [_crop(2, 'lym'), _crop(1, 'neu'), _crop(3, 'mon')]
    spec = rf.FieldSpec(cols=3, rows=2)
    img, label, centres = rf.compose_field(pool, 2, spec, 40, np.random.default_rng(0))
    img2, label2, centres2 = rf.compose_field(pool, 2, spec, 40, np.random.default_rng(0),
                                              other_label=2)
    assert np.array_equal(img, img2) and np.array_equal(centres, centres2)
    assert np.array_equal(label2 == 1, label == 1)
    assert (label2 == 2).sum() == 4 * int(_crop(1, 'x').cell.sum())
    assert (img2[label2 == 2] == (90, 60, 140)).all()  # the look-alikes, nothing else


def test_a_field_needing_a_missing_kind_is_refused():
    with pytest.raises(AllidbError, match='pool'):
        rf.compose_field([_crop(1, 'neu')], 1, rf.FieldSpec(cols=2, rows=1), 40,
                         np.random.default_rng(0))


def test_cross_lab_scale_matches_cell_areas():
    small = [_crop(1, 's', side=40, radius=10)]
    big = [_crop(1, 'b', side=80, radius=20)]
    ratio = rf.cell_scale_ratio(small, big)
    assert ratio == pytest.approx(2.0, rel=0.05)
    img, label, _ = rf.compose_field(small + [_crop(2, 'l', 40, 10)], 1,
                                     rf.FieldSpec(cols=1, rows=2), 80,
                                     np.random.default_rng(0), scale=ratio)
    assert img.shape == (160, 80, 3)
    assert label.sum() == pytest.approx(big[0].cell.sum(), rel=0.1)


@pytest.mark.skipif(not (REAL / 'zheng_wbc').is_dir(), reason='../shared/real is absent')
def test_real_fields_are_built_once_with_disjoint_pools(tmp_path):
    spec = rf.FieldSpec(cols=2, rows=2, train=2, val=1, test=2, crosslab=2)
    info = rf.make_real_fields(REAL, tmp_path / 'fields', spec)
    pools = {k: set(v) for k, v in info['pools'].items()}
    assert not pools['train'] & pools['val'] and not pools['train'] & pools['test']
    assert not pools['val'] & pools['test']
    assert all(n.startswith('D1/') for n in pools['crosslab'])
    assert len(list((tmp_path / 'fields' / 'img_dir' / 'test').glob('*.jpg'))) == 2
    assert 1.5 < info['crosslab_scale'] < 3.0
    again = rf.make_real_fields(REAL, tmp_path / 'fields', spec)
    assert again['spec'] == json.loads((tmp_path / 'fields' / 'dataset.json').read_text())['spec']
    with pytest.raises(AllidbError, match='another real-field set'):
        rf.make_real_fields(REAL, tmp_path / 'fields', rf.FieldSpec(train=3))


def test_a_folder_without_zheng_data_is_one_line(tmp_path):
    with pytest.raises(AllidbError, match='zheng_wbc'):
        rf.load_zheng(tmp_path, 2)
