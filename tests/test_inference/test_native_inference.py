"""A native-scale config through the inference API and tools/infer.py."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from allidb_mmseg.smear.cell_scale import (default_min_blast_area,
                                                         estimate_rbc_diameter)
from allidb_mmseg.synthetic import render_field
from helpers import REPO, TINY_MIT, call_tool, open_rims

pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(scope='module')
def native(tmp_path_factory):
    """A tiny native-scale model (random weights), its config and a field."""
    import torch

    tmp = tmp_path_factory.mktemp('native')
    backbone = {k: v for k, v in TINY_MIT.items() if k != 'type'}
    cfg = tmp / 'native_tiny.py'
    cfg.write_text(
        f"_base_ = [{str(REPO / 'configs' / 'segformer_allidb_native_aug.py')!r}]\n"
        f"working_rbc_px = 12\n"
        f"model = dict(backbone=dict(**{backbone!r}),\n"
        "             decode_head=dict(in_channels=[8, 8, 8, 8], channels=16),\n"
        "             test_cfg=dict(crop_size=(64, 64), stride=(48, 48)))\n"
        "rescale = dict(type='RescaleToWorkingScale', working_rbc_px=12,\n"
        "               source_rbc_px=None)\n"
        "test_pipeline = [dict(type='LoadImageFromFile'), rescale,\n"
        "                 dict(type='LoadAnnotations'), dict(type='PackSegInputs')]\n")
    from allidb_mmseg.apis import load_model
    model = load_model(str(cfg))
    ckpt = tmp / 'tiny.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    img, _, _ = render_field(np.random.default_rng(3), (720, 540), 2)
    field = tmp / 'field.png'
    cv2.imwrite(str(field), img)
    return cfg, ckpt, field, img


def test_segment_slides_at_the_working_scale_and_returns_native_size(native):
    from allidb_mmseg.apis import load_model, segment

    cfg, ckpt, _, img = native
    model = load_model(str(cfg), str(ckpt))
    assert model.cfg.model.test_cfg.mode == 'slide'
    mask, prob = segment(model, img, return_prob=True)
    assert mask.shape == img.shape[:2] and prob.shape == img.shape[:2]
    assert set(np.unique(mask)) <= {0, 1}


def test_infer_counts_with_a_minimum_area_from_the_red_cell_size(native, tmp_path):
    cfg, ckpt, field, img = native
    out = tmp_path / 'out'
    proc = call_tool('infer', cfg, ckpt, field, '--out-dir', out, '--device',
                     'cpu', '--no-progress')
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / 'report.json').read_text())
    area = default_min_blast_area(estimate_rbc_diameter(img))
    assert area > 300  # 150 px would be a tenth of a blast here
    row = report['images'][0] if 'images' in report else report['rows'][0]
    assert f'blasts of area >= {area} px' in row['all_rule']
    assert report['settings']['min_blast_area'] == 'per image, from its red-cell size'


def test_minimum_blast_area_follows_the_red_cells_the_scale_came_from():
    """--mpp wins over the config's source_rbc_px for the working scale, and
    so for the minimum blast area."""
    from types import SimpleNamespace

    from allidb_mmseg.inference.model import working_scale
    from allidb_mmseg.apis.pipeline import scaled_min_area
    from allidb_mmseg.smear.cell_scale import RBC_DIAMETER_UM, default_min_blast_area

    model = SimpleNamespace(scale_settings=dict(working_rbc_px=32.0,
                                                source_rbc_px=100.0))
    scale = working_scale(model, None, mpp=0.25)
    assert scale == pytest.approx(32.0 / (RBC_DIAMETER_UM / 0.25))
    assert scaled_min_area(model, None, scale) == \
        default_min_blast_area(RBC_DIAMETER_UM / 0.25)
    assert scaled_min_area(model, None, working_scale(model)) == \
        default_min_blast_area(100.0)
    assert scaled_min_area(model, 77, scale) == 77


def test_an_unsure_red_cell_size_is_flagged_and_warned(native, tmp_path, capsys):
    """The ruler does not trust the size: the row says scale_unsure, stderr
    names the file; with --mpp the size is given, nothing is flagged."""
    from allidb_mmseg.apis import load_model
    from allidb_mmseg.apis.pipeline import process_image

    cfg, ckpt, field, _ = native
    odd = tmp_path / 'odd.png'
    cv2.imwrite(str(odd), open_rims(60))
    model = load_model(str(cfg), str(ckpt))
    row = process_image(model, str(odd), 'odd', tmp_path / 'out')
    assert row.status == 'ok' and row.scale_unsure is True
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f'{odd}: warning: red-cell size')
    row = process_image(model, str(odd), 'odd2', tmp_path / 'out', mpp=0.5)
    assert row.scale_unsure is None
    row = process_image(model, str(field), 'field', tmp_path / 'out')
    assert row.status == 'ok' and row.scale_unsure is None
    assert 'warning' not in capsys.readouterr().err
