"""The smear call fitted on a labelled split, saved beside the checkpoint, used by inference."""
from __future__ import annotations

import csv
import re
import shutil

import pytest

from allidb_mmseg.evaluation.smear_call import SMEAR_CALL_FILE, SmearCall
from allidb_mmseg.utils import AllidbError


@pytest.fixture
def blobby_split(blobby_model, tmp_path):
    """The blobby model's checkpoint (a private copy) and its fields as a val split."""
    config, ckpt, images = blobby_model
    root = tmp_path / 'data'
    shutil.copytree(images, root / 'img_dir' / 'val')
    shutil.copytree(images.parent / 'masks', root / 'ann_dir' / 'val')
    (tmp_path / 'run').mkdir()
    shutil.copy(ckpt, tmp_path / 'run' / 'model.pth')
    return config, tmp_path / 'run' / 'model.pth', root


def test_fit_writes_the_call_beside_the_checkpoint_and_refuses_to_overwrite(blobby_split):
    from allidb_mmseg.apis import load_model
    from allidb_mmseg.apis.smear_call_fit import fields_of_split, fit_smear_call_on_split
    from allidb_mmseg.evaluation.smear_call import (detection_f1, fit_min_area_factor,
                                                    kept_blasts, smear_score)

    config, ckpt, root = blobby_split
    model = load_model(str(config), str(ckpt))
    fields = fields_of_split(model, root)
    truth = [f['true_count'] > 0 for f in fields]
    assert len(fields) == 6 and any(truth) and not all(truth)
    assert all(f['blasts'] for f in fields)   # the blobby model predicts blobs everywhere
    assert any(b['hit'] for f in fields for b in f['blasts'])
    assert all(b['area'] >= f['min_area'] for f in fields for b in f['blasts'])
    call = fit_smear_call_on_split(model, ckpt, root, size_filter=True)
    assert SmearCall.load(ckpt.with_name(SMEAR_CALL_FILE)) == call
    assert call.fitted_on.startswith('6 validation smears')
    factor = fit_min_area_factor(fields)
    assert call.min_area_factor == factor
    assert detection_f1(fields, factor)[2] >= detection_f1(fields)[2]
    scores = [smear_score(*kept_blasts(f, factor)) for f in fields]
    acc = sum(call.applies(s) == t for s, t in zip(scores, truth)) / len(scores)
    assert f'accuracy {acc:.3f}' in call.fitted_on
    plain = fit_smear_call_on_split(model, ckpt, root, force=True)
    assert plain.min_area_factor == 1.0   # no size filter unless asked
    with pytest.raises(AllidbError, match='exists'):
        fit_smear_call_on_split(model, ckpt, root)


def test_inference_flags_by_the_saved_call_unless_a_count_is_given(blobby_split, tmp_path):
    from allidb_mmseg.apis import BlastInferencer

    config, ckpt, root = blobby_split
    images = root / 'img_dir' / 'val'
    SmearCall(threshold=1e9, fitted_on='test').save(ckpt.with_name(SMEAR_CALL_FILE))
    rows = BlastInferencer(str(config), str(ckpt))(images, out_dir=tmp_path / 'a',
                                                   progress=False)
    assert all(r.all_rule.startswith('smear_score >= 1e+09 (test)') for r in rows)
    assert not any(r.all_suspected for r in rows)
    assert any(r.blast_count for r in rows)   # blasts were found, and did not flip it
    table = list(csv.DictReader(open(tmp_path / 'a' / 'report.csv')))
    assert all(float(t['smear_score']) == pytest.approx(r.smear_score, abs=1e-6)
               for t, r in zip(table, rows))
    counted = BlastInferencer(str(config), str(ckpt), all_min_count=1)(
        images, out_dir=tmp_path / 'b', progress=False)
    assert all(r.all_rule.startswith('blast_count >= 1') for r in counted)
    assert [r.all_suspected for r in counted] == [r.blast_count >= 1 for r in counted]


def test_inference_counts_only_the_blasts_the_size_filter_keeps(blobby_split, tmp_path):
    from allidb_mmseg.apis import BlastInferencer

    config, ckpt, root = blobby_split
    images = root / 'img_dir' / 'val'
    SmearCall(threshold=0.5).save(ckpt.with_name(SMEAR_CALL_FILE))
    rows = BlastInferencer(str(config), str(ckpt))(images, out_dir=tmp_path / 'a',
                                                   progress=False)
    big = max(b['area'] for r in rows for b in r.blasts)
    SmearCall(threshold=0.5, min_area_factor=2.0).save(ckpt.with_name(SMEAR_CALL_FILE))
    sized = BlastInferencer(str(config), str(ckpt))(images, out_dir=tmp_path / 'b',
                                                    progress=False)
    for r, s in zip(rows, sized):
        assert _counted_area(s) == pytest.approx(2 * _counted_area(r), abs=1)
        # (touching blasts are split with the counted area, so the sized
        # blasts are not a subset of the others)
        assert all(b['area'] >= _counted_area(s) for b in s.blasts)
    assert sum(s.blast_count for s in sized) < sum(r.blast_count for r in rows)
    assert big >= min(_counted_area(s) for s in sized)   # not everything was dropped


def _counted_area(row) -> int:
    return int(re.search(r'blasts of area >= (\d+) px', row.all_rule).group(1))


def test_a_broken_call_file_is_one_line(blobby_split):
    from allidb_mmseg.apis import BlastInferencer

    config, ckpt, _ = blobby_split
    ckpt.with_name(SMEAR_CALL_FILE).write_text('not json')
    with pytest.raises(AllidbError, match='smear_call.json: is not a smear-call file'):
        BlastInferencer(str(config), str(ckpt))
