"""Slide reading (OpenSlide and tiffslide) and the pyramidal mask writer."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from allidb_mmseg.io import slides
from allidb_mmseg.io.image_io import ImageReadError
from allidb_mmseg.io.mask_writers import LEVEL_FACTOR, write_mask_pyramid
from allidb_mmseg.io.slides import (LevelSource, choose_level, is_slide,
                                      open_slide)
from allidb_mmseg.inference.tiling import Band
from helpers import write_pyramid_tiff


def image(h=300, w=420, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


@pytest.mark.parametrize('aperio,suffix,reader', [
    (False, '.tif', 'tiffslide'), (True, '.svs', 'openslide')])
def test_slide_levels_mpp_and_regions(tmp_path, monkeypatch, aperio, suffix, reader):
    img = image()
    path = write_pyramid_tiff(tmp_path / f's{suffix}', img, mpp=0.25,
                              factors=(1, 4), aperio=aperio)
    monkeypatch.setattr(slides, '_READ_COLS', 100)  # several reads per row band
    with open_slide(path) as s:
        assert s.reader == reader
        assert s.dimensions == (420, 300)
        assert s.level_downsamples == [1.0, 4.0] and s.mpp == 0.25
        assert (s.read_region(0, 10, 20, 333, 40) == img[20:60, 10:343]).all()
        lv1 = LevelSource(s, 1)
        assert (lv1.height, lv1.width, lv1.downsample) == (75, 105, 4.0)
        assert (lv1.read_rows(5, 30) == img[::4, ::4][5:30]).all()


def test_which_files_are_slides(tmp_path, monkeypatch):
    img = image(60, 80)
    tiled = write_pyramid_tiff(tmp_path / 'tiled.tif', img, factors=(1,))
    import tifffile
    tifffile.imwrite(tmp_path / 'plain.tif', img[..., ::-1], photometric='rgb')
    cv2.imwrite(str(tmp_path / 'field.jpg'), img)
    (tmp_path / 'scan.svs').write_text('not really')
    assert is_slide(tiled) and is_slide(tmp_path / 'scan.svs')
    assert not is_slide(tmp_path / 'plain.tif')        # ALL-IDB2-like TIFF
    assert not is_slide(tmp_path / 'field.jpg')
    monkeypatch.setattr(slides, 'LARGE_IMAGE_PIXELS', 1000)
    assert is_slide(tmp_path / 'plain.tif')            # too large to decode whole


def test_unreadable_slides_give_one_line(tmp_path):
    (tmp_path / 'scan.svs').write_text('not really')
    with pytest.raises(ImageReadError) as e:
        open_slide(tmp_path / 'scan.svs')
    msg = str(e.value)
    assert 'openslide' in msg and 'tiffslide' in msg and '\n' not in msg
    with pytest.raises(ImageReadError, match='no such file'):
        open_slide(tmp_path / 'missing.ndpi')


@pytest.mark.parametrize('target,expected', [
    (1.0, 0), (1.8, 0), (1.9, 1), (2.1, 1), (3.5, 1), (3.9, 2), (100, 3),
    (0.3, 0)])
def test_level_nearest_the_working_scale_without_enlarging(target, expected):
    # at most 10 % coarser than wanted (slight enlargement), never more
    assert choose_level([1.0, 2.0, 4.0, 16.0], target) == expected


@pytest.mark.parametrize('shape', [(1000, 1300), (100, 90), (257, 513)])
def test_mask_pyramid_round_trip(tmp_path, shape):
    import tifffile
    import tiffslide

    rng = np.random.default_rng(1)
    mask = rng.integers(0, 2, shape).astype(np.uint8)

    def bands():
        y = 0
        while y < shape[0]:
            n = int(rng.integers(1, 300))
            yield Band(y, mask[y:y + n], None)
            y += n

    path = tmp_path / 'm.ome.tif'
    levels = write_mask_pyramid(path, bands(), *shape, mpp=0.5)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome and tif.pages.first.is_tiled
        stored = tif.series[0].levels
        assert len(stored) == levels
        for k, level in enumerate(stored):
            f = LEVEL_FACTOR ** k
            assert (level.asarray() == mask[::f, ::f]).all()
    assert max(stored[-1].shape) <= 256
    assert tiffslide.TiffSlide(path).properties['tiffslide.mpp-x'] == 0.5


def test_mask_writer_leaves_nothing_when_bands_stop_early(tmp_path):
    mask = np.zeros((600, 50), np.uint8)
    with pytest.raises(ValueError, match='bands ended'):
        write_mask_pyramid(tmp_path / 'm.ome.tif', iter([Band(0, mask[:300], None)]),
                           600, 50)
    assert list(tmp_path.iterdir()) == []
