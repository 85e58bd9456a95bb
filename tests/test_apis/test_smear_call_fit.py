"""The smear call fitted on a labelled split, saved beside the checkpoint, used by inference."""
from __future__ import annotations

import csv
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
    from allidb_mmseg.apis.smear_call_fit import (fit_smear_call_on_split,
                                                  smear_scores_of_split)

    config, ckpt, root = blobby_split
    model = load_model(str(config), str(ckpt))
    scores, truth = smear_scores_of_split(model, root)
    assert len(scores) == 6 and any(truth) and not all(truth)
    assert all(s > 0 for s in scores)   # the blobby model predicts blobs everywhere
    call = fit_smear_call_on_split(model, ckpt, root)
    assert SmearCall.load(ckpt.with_name(SMEAR_CALL_FILE)) == call
    assert call.fitted_on.startswith('6 validation smears')
    acc = sum(call.applies(s) == t for s, t in zip(scores, truth)) / len(scores)
    assert f'accuracy {acc:.3f}' in call.fitted_on
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


def test_a_broken_call_file_is_one_line(blobby_split):
    from allidb_mmseg.apis import BlastInferencer

    config, ckpt, _ = blobby_split
    ckpt.with_name(SMEAR_CALL_FILE).write_text('not json')
    with pytest.raises(AllidbError, match='smear_call.json: is not a smear-call file'):
        BlastInferencer(str(config), str(ckpt))
