"""OOD score and stain normalization in tools/infer.py's reports (with an untrained tiny model)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from allidb_mmseg.products.report import ImageRow
from allidb_mmseg.products.stain_check import StainCheck, load_stain_check, ood_summary_line
from allidb_mmseg.smear.stain import REFERENCE_FILENAME, StainReference
from allidb_mmseg.synthetic import render_field
from allidb_mmseg.utils import AllidbError
from helpers import call_tool, run_tool, write_tiny_config

SIZE = (192, 144)


def fields(profile, seeds):
    return [render_field(np.random.default_rng(s), SIZE, 2, stain_profile=profile)[0]
            for s in seeds]


@pytest.fixture(scope='module')
def reference() -> StainReference:
    return StainReference.fit(fields('lab_a', range(16)))


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory, reference) -> tuple[Path, Path, Path]:
    """(config, checkpoint with stain_reference.json beside it, bare checkpoint)."""
    from allidb_mmseg.apis import load_model

    tmp = tmp_path_factory.mktemp('stainmodel')
    cfg_path = write_tiny_config(tmp / 'tiny.py')
    model = load_model(cfg_path)   # untrained: the test is about the reports
    (tmp / 'run').mkdir()
    (tmp / 'bare').mkdir()
    for d in ('run', 'bare'):
        torch.save({'state_dict': model.state_dict(), 'meta': {}}, tmp / d / 'iter_1.pth')
    reference.save(tmp / 'run' / REFERENCE_FILENAME)
    return cfg_path, tmp / 'run' / 'iter_1.pth', tmp / 'bare' / 'iter_1.pth'


@pytest.fixture(scope='module')
def smears(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp('smears')
    for i, img in enumerate(fields('lab_a', [200, 201])):
        cv2.imwrite(str(d / f'home_{i}.jpg'), img)
    for i, img in enumerate(fields('yellow', [300, 301])):
        cv2.imwrite(str(d / f'yellow_{i}.jpg'), img)
    return d


def test_report_rows_carry_the_ood_score_and_flag(model_dir, smears, tmp_path):
    cfg, ckpt, _ = model_dir
    r = run_tool('infer', cfg, ckpt, smears, '--out-dir', tmp_path / 'out',
                 '--device', 'cpu', '--no-progress')
    assert r.returncode == 0, r.stderr
    assert ('warning: 2 of 4 images look unlike the training data: counts may be '
            'wrong') in r.stderr
    with open(tmp_path / 'out' / 'report.csv') as f:
        rows = {row['name']: row for row in csv.DictReader(f)}
    assert {n: rows[n]['ood_flag'] for n in rows} == {
        'home_0': 'False', 'home_1': 'False', 'yellow_0': 'True', 'yellow_1': 'True'}
    assert all(float(rows[n]['ood_score']) > 1 for n in ('yellow_0', 'yellow_1'))
    doc = json.loads((tmp_path / 'out' / 'report.json').read_text())
    assert doc['summary']['ood_flagged'] == 2
    assert doc['settings']['stain_reference'].endswith(REFERENCE_FILENAME)
    assert doc['settings']['stain_normalize'] is None


def test_stain_normalize_uses_the_models_reference(model_dir, smears, tmp_path):
    cfg, ckpt, bare = model_dir
    r = run_tool('infer', cfg, ckpt, smears, '--out-dir', tmp_path / 'n',
                 '--device', 'cpu', '--no-progress', '--stain-normalize')
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / 'n' / 'report.json').read_text())
    assert doc['settings']['stain_normalize'] == 'reinhard'
    assert doc['settings']['stain_normalize_only_flagged'] is True
    # A model without a reference: a note and empty columns, or an error
    # when normalization is asked for.
    r = call_tool('infer', cfg, bare, smears, '--out-dir', tmp_path / 'b',
                  '--device', 'cpu', '--no-progress')
    assert r.returncode == 0 and 'no stain reference saved with this model' in r.stderr
    with open(tmp_path / 'b' / 'report.csv') as f:
        assert {row['ood_flag'] for row in csv.DictReader(f)} == {''}
    r = call_tool('infer', cfg, bare, smears, '--out-dir', tmp_path / 'c',
                  '--device', 'cpu', '--stain-normalize', 'macenko')
    assert r.returncode == 2
    assert r.stderr.startswith(f'error: {bare}: no stain reference')
    assert not (tmp_path / 'c' / 'report.csv').exists()


def test_stain_check_prepares_what_is_segmented(reference, model_dir):
    img = fields('pale', [9])[0]
    row = ImageRow(file='x', name='x')
    check = StainCheck(reference, 'macenko')
    out = check.prepare(img, row)
    assert np.array_equal(out, reference.normalize(img, 'macenko'))
    assert row.ood_flag is True and row.ood_score > 1
    plain = StainCheck(reference)
    assert plain.prepare(img, ImageRow(file='x', name='x')) is img
    # A smear like the training ones is normalized only when asked for all.
    home = fields('lab_a', [400])[0]
    assert check.prepare(home, ImageRow(file='h', name='h')) is home
    every = StainCheck(reference, 'reinhard', only_flagged=False)
    assert np.array_equal(every.prepare(home, ImageRow(file='h', name='h')),
                          reference.normalize(home, 'reinhard'))
    assert ood_summary_line([row]) == ('1 of 1 images look unlike the training data: '
                                       'counts may be wrong (ood_flag in the report)')
    assert ood_summary_line([ImageRow(file='y', name='y')]) is None
    _, ckpt, bare = model_dir
    assert load_stain_check(ckpt, normalize='auto').normalize == 'reinhard'
    assert load_stain_check(ckpt, normalize='auto').only_flagged
    assert not load_stain_check(ckpt, normalize='auto', all_images=True).only_flagged
    assert load_stain_check(bare) is None
    with pytest.raises(AllidbError, match='no stain reference'):
        load_stain_check(bare, normalize='auto')
