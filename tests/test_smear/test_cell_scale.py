"""The working scale: red-cell size measured, overridden, and applied."""
from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from allidb_mmseg.smear import cell_scale
from allidb_mmseg.smear.cell_scale import (
    ScaleUnknownError, default_min_blast_area, estimate_rbc_diameter,
    set_scale_settings, source_rbc_diameter, working_scale_factor)
from allidb_mmseg.synthetic import polygons_to_mask, render_field

init_default_scope('mmseg')


def _field(width: int, seed: int, n_blasts: int = 3):
    info: dict = {}
    rng = np.random.default_rng(seed)
    img, polys, _ = render_field(rng, (width, width * 3 // 4), n_blasts, info=info)
    return img, polygons_to_mask(polys, *img.shape[:2]), info['rbc_diameter']


@pytest.mark.parametrize('width,seed', [(320, 1), (640, 2), (1296, 3)])
def test_estimate_within_10_percent_at_any_size(width, seed):
    img, _, true = _field(width, seed)
    est = estimate_rbc_diameter(img)
    assert est is not None
    assert abs(est / true - 1) < 0.10, (est, true)


def test_estimate_gives_up_on_blank_or_tiny_images():
    blank = np.full((300, 400, 3), 220, np.uint8)
    assert estimate_rbc_diameter(blank) is None
    assert estimate_rbc_diameter(np.zeros((8, 8, 3), np.uint8)) is None
    with pytest.raises(TypeError):
        estimate_rbc_diameter(np.zeros((64, 64, 3), np.float32))


def test_three_class_threshold_finds_both_gaps():
    gray = np.repeat(np.array([40, 150, 200], np.uint8), 1000)
    t1, t2 = cell_scale._otsu_thresholds(gray)
    assert 40 < t1 <= 150 < t2 <= 200


def test_priority_explicit_then_mpp_then_config_then_measured():
    blank = np.full((100, 100, 3), 220, np.uint8)  # cannot be measured
    cfg = dict(working_rbc_px=24, source_rbc_px=96)
    assert source_rbc_diameter(cfg, blank, mpp=0.25, source_rbc_px=48) == 48
    assert source_rbc_diameter(cfg, blank, mpp=0.25) == pytest.approx(30)
    assert source_rbc_diameter(cfg, blank) == 96
    assert working_scale_factor(cfg, blank) == pytest.approx(0.25)
    img, _, true = _field(640, 4)
    measured = working_scale_factor(dict(working_rbc_px=24), img)
    assert measured == pytest.approx(24 / true, rel=0.1)
    with pytest.raises(ScaleUnknownError, match='--mpp'):
        working_scale_factor(dict(working_rbc_px=24), blank)
    with pytest.raises(ScaleUnknownError):
        working_scale_factor(dict(working_rbc_px=24))
    with pytest.raises(KeyError, match='native-scale'):
        working_scale_factor(dict(source_rbc_px=10), blank)
    with pytest.raises(ValueError, match='mpp'):
        source_rbc_diameter(cfg, blank, mpp=-1)


def test_scale_settings_are_read_from_an_mmengine_config():
    cfg = Config(dict(working_rbc_px=30, source_rbc_px=120))
    assert working_scale_factor(cfg) == pytest.approx(0.25)


def test_min_blast_area_follows_the_red_cell_size():
    small, large = default_min_blast_area(5.2), default_min_blast_area(104)
    assert large == pytest.approx(small * 400, rel=0.02)
    # A 2592 px ALL-IDB1 field: blasts ~200 px across, far above 150 px.
    assert 3000 < large < 0.5 * np.pi * 100 ** 2
    assert default_min_blast_area(0.01) == 1


def test_one_minimum_blast_area_rule_first_known_size_wins():
    from allidb_mmseg.smear.cell_scale import DEFAULT_MIN_BLAST_AREA, min_blast_area

    blank = np.full((64, 64, 3), 230, np.uint8)
    # the working scale: red cells at 12 working px, 0.5 working px per pixel
    assert min_blast_area(blank, source_rbc_px=40, working_rbc_px=12, scale=0.5) == \
        default_min_blast_area(24)
    assert min_blast_area(blank, source_rbc_px=40) == default_min_blast_area(40)
    with pytest.warns(UserWarning, match='minimum blast area 150 px'):
        assert min_blast_area(blank) == DEFAULT_MIN_BLAST_AREA == 150
    with pytest.warns(UserWarning):
        assert min_blast_area(None) == DEFAULT_MIN_BLAST_AREA


def test_set_scale_settings_reaches_every_pipeline():
    step = dict(type='RescaleToWorkingScale', working_rbc_px=24,
                source_rbc_px=None)
    cfg = Config(dict(working_rbc_px=24, source_rbc_px=None,
                      test_pipeline=[dict(type='LoadImageFromFile'), dict(step)],
                      train_dataloader=dict(dataset=dict(datasets=[dict(
                          pipeline=[dict(type='CachedCompose',
                                         transforms=[dict(step)])])]))))
    set_scale_settings(cfg, working_rbc_px=32, source_rbc_px=100)
    assert cfg.working_rbc_px == 32 and cfg.source_rbc_px == 100
    assert cfg.test_pipeline[1]['working_rbc_px'] == 32
    inner = cfg.train_dataloader.dataset.datasets[0].pipeline[0].transforms[0]
    assert inner['working_rbc_px'] == 32 and inner['source_rbc_px'] == 100
    with pytest.raises(KeyError):
        set_scale_settings(cfg, crop_size=3)


def test_rescale_keeps_image_and_label_aligned_and_records_the_factor():
    img, mask, true = _field(960, 5, n_blasts=4)
    from allidb_mmseg.datasets.transforms import RescaleToWorkingScale
    t = RescaleToWorkingScale(working_rbc_px=20)
    out = t(dict(img=img, gt_seg_map=mask, seg_fields=['gt_seg_map'],
                 ori_shape=img.shape[:2], img_shape=img.shape[:2]))
    f = out['working_scale']
    assert f == pytest.approx(20 / true, rel=0.1)
    h, w = out['img'].shape[:2]
    assert (h, w) == (round(img.shape[0] * f), round(img.shape[1] * f))
    assert out['img_shape'] == (h, w) and out['ori_shape'] == img.shape[:2]
    assert out['gt_seg_map'].shape == (h, w)
    np.testing.assert_array_equal(
        out['gt_seg_map'], cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST))
    # At the working scale the red cells measure what was asked for, as recorded.
    assert out['rbc_px'] == 20.0
    assert estimate_rbc_diameter(out['img']) == pytest.approx(20, rel=0.12)


def test_rescale_with_a_dataset_override_skips_the_measurement(tmp_path):
    img = np.full((200, 300, 3), 220, np.uint8)  # unmeasurable
    cv2.imwrite(str(tmp_path / 'a.png'), img)
    cv2.imwrite(str(tmp_path / 'a_mask.png'), np.zeros((200, 300), np.uint8))
    step = dict(type='RescaleToWorkingScale', working_rbc_px=10, source_rbc_px=40)
    pipe = Compose([dict(type='CachedCompose', transforms=[
        dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'), step])])
    out = pipe(dict(img_path=str(tmp_path / 'a.png'),
                    seg_map_path=str(tmp_path / 'a_mask.png'),
                    reduce_zero_label=False, seg_fields=[]))
    assert out['img'].shape[:2] == (50, 75) and out['gt_seg_map'].shape == (50, 75)


def test_module_needs_neither_torch_nor_mmseg():
    code = ('import sys\n'
            'from allidb_mmseg.smear.cell_scale import working_scale_factor\n'
            'print(working_scale_factor(dict(working_rbc_px=24), source_rbc_px=48))\n'
            'assert not {"torch", "mmseg", "mmcv", "mmengine"} & set(sys.modules)\n')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '0.5'
