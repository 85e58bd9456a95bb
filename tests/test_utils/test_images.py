"""One list of image suffixes and one image/mask pairing for the whole package."""
from __future__ import annotations

import pytest

from allidb_mmseg.utils import (IMAGE_SUFFIXES, AllidbError, files_by_stem,
                                is_image_file, pair_by_stem, split_pairs)


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'x')
    return path


def test_suffixes_any_case():
    assert {'.jpg', '.png', '.tif', '.bmp'} <= set(IMAGE_SUFFIXES)
    for name in ('a.JPG', 'b.tiff', 'c.Png', 'd.jpeg'):
        assert is_image_file(name)
    assert not is_image_file('notes.txt') and not is_image_file('x.xyc')


def test_files_by_stem_skips_hidden_and_others(tmp_path):
    for name in ('b.png', 'a.JPG', '.hidden.png', 'c.txt', 'a.png'):
        touch(tmp_path / name)
    (tmp_path / 'sub.png').mkdir()
    found = files_by_stem(tmp_path)
    assert list(found) == ['a', 'b']
    assert found['a'].name == 'a.JPG'  # sorted by name, the first stem wins


def test_pairing_reports_both_kinds_of_orphans(tmp_path):
    for stem in ('x', 'y'):
        touch(tmp_path / 'img' / f'{stem}.jpg')
    for stem in ('y', 'z'):
        touch(tmp_path / 'ann' / f'{stem}.png')
    p = pair_by_stem(tmp_path / 'img', tmp_path / 'ann')
    assert [(i.name, m.name) for i, m in p.pairs] == [('y.jpg', 'y.png')]
    assert [i.name for i in p.images_without_mask] == ['x.jpg']
    assert [m.name for m in p.masks_without_image] == ['z.png']
    assert pair_by_stem(tmp_path / 'no', tmp_path / 'ann').pairs == []


def test_split_pairs_names_the_problem(tmp_path):
    with pytest.raises(AllidbError, match='no such split folder'):
        split_pairs(tmp_path, 'test')
    touch(tmp_path / 'ann_dir' / 'test' / 'a.png')
    with pytest.raises(AllidbError, match='no image for mask a.png'):
        split_pairs(tmp_path, 'test')
    touch(tmp_path / 'img_dir' / 'test' / 'a.tif')
    (pair,) = split_pairs(tmp_path, 'test')
    assert pair[0].name == 'a.tif'
