"""The JSON sidecar: round trip, and one-line errors for every kind of bad file."""
from __future__ import annotations

import json

import pytest

from allidb_mmseg.deployment.sidecar import (FORMAT, DeploySpec, read_sidecar,
                                             sidecar_path, write_sidecar)
from allidb_mmseg.utils import AllidbError


def spec(**kw) -> DeploySpec:
    base = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                rgb=True, num_classes=2, classes=['background', 'lymphoblast'],
                palette=[[0, 0, 0], [220, 40, 140]],
                resize=dict(scale=[128, 128], keep_ratio=False,
                            interpolation='bilinear'),
                working_rbc_px=None, source_rbc_px=None, min_blast_area=150)
    base.update(kw)
    return DeploySpec(**base)


def test_round_trip_keeps_every_field(tmp_path):
    s = spec(mode='slide', crop_size=[512, 512], stride=[384, 384],
             working_rbc_px=24.0, source_rbc_px=40.0, min_blast_area=90)
    path = tmp_path / 'm.json'
    write_sidecar(path, s)
    doc = json.loads(path.read_text())
    assert doc['format'] == FORMAT and doc['version'] == 1
    assert read_sidecar(path) == s
    assert sidecar_path(tmp_path / 'model.onnx') == tmp_path / 'model.json'


@pytest.mark.parametrize('content, problem', [
    ('{not json', 'not a JSON sidecar'),
    ('{"format": "something else"}', 'not an allidb_mmseg sidecar'),
    (json.dumps({'format': FORMAT, 'version': 99}), 'newer than'),
    (json.dumps({'format': FORMAT, 'version': 1, 'mean': [0, 0, 0]}),
     'incomplete sidecar'),
])
def test_bad_files_give_one_line_errors(tmp_path, content, problem):
    path = tmp_path / 'm.json'
    path.write_text(content)
    with pytest.raises(AllidbError) as e:
        read_sidecar(path)
    assert str(e.value).startswith(f'{path}: ') and problem in str(e.value)
    assert '\n' not in str(e.value)


@pytest.mark.parametrize('change, problem', [
    (dict(std=[1.0, 0.0, 1.0]), 'std has a zero'),
    (dict(mean=[1.0]), 'mean and std need 3 values'),
    (dict(classes=['background']), '1 class names for 2 output channels'),
    (dict(mode='tiles'), "mode 'tiles'"),
    (dict(mode='slide'), 'slide mode needs crop_size and stride'),
])
def test_unusable_values_are_refused(tmp_path, change, problem):
    path = tmp_path / 'm.json'
    write_sidecar(path, spec(**change))
    with pytest.raises(AllidbError, match=problem):
        read_sidecar(path)


def test_missing_sidecar_says_how_to_make_one(tmp_path):
    with pytest.raises(AllidbError, match='export_onnx.py'):
        read_sidecar(tmp_path / 'none.json')
