"""The stain reference: fit, OOD score, normalization, saving, finding it; stain transforms."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from allidb_mmseg.smear.stain import (CHECKPOINT_KEY, REFERENCE_FILENAME,
                                         StainReference, find_stain_reference,
                                         fit_reference_from_files, white_point)
from allidb_mmseg.datasets.transforms.stain import MGGStainJitter, StainNormalize
from allidb_mmseg.synthetic import render_field
from allidb_mmseg.utils import AllidbError

SIZE = (192, 144)


def fields(profile, seeds):
    return [render_field(np.random.default_rng(s), SIZE, int(s % 4),
                         stain_profile=profile)[0] for s in seeds]


@pytest.fixture(scope='module')
def reference() -> StainReference:
    return StainReference.fit(fields('lab_a', range(16)))


def test_ood_score_flags_other_labs_not_the_training_lab(reference):
    held_out = [reference.ood_score(img) for img in fields('lab_a', range(100, 108))]
    assert max(held_out) < 1.0, held_out
    for profile in ('lab_b', 'yellow', 'pale'):
        scores = [reference.ood_score(img) for img in fields(profile, range(100, 104))]
        assert min(scores) > 1.0, (profile, scores)


@pytest.mark.parametrize('method', ['reinhard', 'macenko'])
def test_normalize_brings_a_yellow_smear_to_the_training_white(reference, method):
    yellow = fields('yellow', [7])[0]
    train_white = np.asarray(reference.white_rgb)
    assert np.abs(white_point(yellow) - train_white).max() > 30
    out = reference.normalize(yellow, method)
    assert out.shape == yellow.shape and out.dtype == np.uint8
    assert np.abs(white_point(out) - train_white).max() < 10
    # The cells survive: the darkest pixels stay dark.
    assert np.percentile(out.sum(2), 1) < 0.6 * np.percentile(out.sum(2), 90)


def test_normalize_rejects_an_unknown_method(reference):
    with pytest.raises(ValueError, match='unknown normalization'):
        reference.normalize(fields('lab_a', [1])[0], 'vahadane')


def test_save_load_and_find(reference, tmp_path):
    path = tmp_path / 'run' / REFERENCE_FILENAME
    path.parent.mkdir()
    reference.save(path)
    assert StainReference.load(path) == reference
    ckpt = tmp_path / 'run' / 'iter_2.pth'
    torch.save({'meta': {}, 'state_dict': {}}, ckpt)
    found, source = find_stain_reference(ckpt)
    assert found == reference and source == str(path)
    # Copied alone, the checkpoint still carries it in its meta.
    alone = tmp_path / 'alone.pth'
    torch.save({'meta': {CHECKPOINT_KEY: reference.to_dict()}}, alone)
    found, source = find_stain_reference(alone)
    assert found == reference and source.endswith('(meta)')
    bare = tmp_path / 'other' / 'bare.pth'
    bare.parent.mkdir()
    torch.save({'meta': {}}, bare)
    assert find_stain_reference(bare) == (None, '')
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps({'white_rgb': [1, 2, 3]}))
    with pytest.raises(AllidbError, match='not a stain reference') as e:
        StainReference.load(bad)
    assert e.value.path == str(bad) or str(bad) in str(e.value)


def test_fit_needs_two_readable_images(tmp_path):
    with pytest.raises(ValueError, match='at least two'):
        StainReference.fit(fields('lab_a', [1]))
    junk = tmp_path / 'a.jpg'
    junk.write_bytes(b'not an image')
    with pytest.raises(AllidbError, match='cannot read'):
        fit_reference_from_files([junk, junk])


def test_stain_jitter_changes_stain_not_labels():
    img = fields('lab_a', [3])[0]
    mask = np.zeros(img.shape[:2], np.uint8)
    mask[10:20, 10:20] = 1
    same = MGGStainJitter(amount_range=(1.0, 1.0), tilt=0.0, p=1.0)
    out = same(dict(img=img.copy(), gt_seg_map=mask.copy()))
    assert np.abs(out['img'].astype(int) - img).mean() < 1.5
    np.random.seed(0)
    strong = MGGStainJitter(amount_range=(0.5, 0.5), tilt=0.0, p=1.0)
    out = strong(dict(img=img.copy(), gt_seg_map=mask.copy()))
    assert out['img'].mean() > img.mean() + 3   # half the dye: a paler field
    assert np.array_equal(out['gt_seg_map'], mask)
    never = MGGStainJitter(p=0.0)
    assert np.array_equal(never(dict(img=img.copy()))['img'], img)


def test_stain_normalize_transform_uses_the_reference(reference, tmp_path):
    path = tmp_path / REFERENCE_FILENAME
    reference.save(path)
    img = fields('pale', [5])[0]
    by_file = StainNormalize(str(path), 'reinhard')(dict(img=img.copy()))['img']
    by_dict = StainNormalize(reference.to_dict(), 'reinhard')(dict(img=img.copy()))['img']
    assert np.array_equal(by_file, reference.normalize(img, 'reinhard'))
    assert np.array_equal(by_file, by_dict)
    with pytest.raises(ValueError, match='unknown normalization'):
        StainNormalize(str(path), 'hed')
