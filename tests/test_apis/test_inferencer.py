"""BlastInferencer: the folder-level API object, used as docs/api.md shows it."""
from __future__ import annotations

import csv
import json

import cv2
import pytest

from allidb_mmseg.products.report import ImageRow
from allidb_mmseg.utils import AllidbError
from helpers import blob_image


def test_the_three_lines_of_the_docs(tiny_trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'smears').mkdir()
    for k in range(2):
        cv2.imwrite(str(tmp_path / 'smears' / f'field{k}.png'), blob_image(60, 80, k))

    from allidb_mmseg.apis import BlastInferencer
    inferencer = BlastInferencer(str(tiny_trained.config), str(tiny_trained.checkpoint))
    rows = inferencer(['smears/'], out_dir='results')

    out = tmp_path / 'results'
    assert all(isinstance(r, ImageRow) for r in rows)
    assert [(r.name, r.status) for r in rows] == [('field0', 'ok'), ('field1', 'ok')]
    for r in rows:
        mask = cv2.imread(str(out / r.mask), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (60, 80) and (out / r.overlay).is_file()
        assert r.all_rule.startswith('blast_count >= 1')
    table = list(csv.DictReader(open(out / 'report.csv')))
    assert [row['name'] for row in table] == ['field0', 'field1']
    doc = json.loads((out / 'report.json').read_text())
    assert doc['summary']['ok'] == 2
    assert doc['settings']['checkpoint'] == str(tiny_trained.checkpoint)
    assert 'field1' in (out / 'index.html').read_text()

    # The outputs are never replaced without force; one input may be a str.
    with pytest.raises(AllidbError, match='use --force'):
        inferencer('smears/field0.png', out_dir='results')
    again = inferencer('smears/field0.png', out_dir='results', force=True,
                       geojson='annotation', progress=False)
    assert [r.name for r in again] == ['field0']
    assert (out / 'geojson' / 'field0.geojson').is_file()


def test_arguments_are_checked_in_one_line(tiny_trained, tmp_path):
    from allidb_mmseg.apis import BlastInferencer

    cfg, ckpt = str(tiny_trained.config), str(tiny_trained.checkpoint)
    cases = [((cfg,), {}, 'needs its trained checkpoint'),
             ((cfg, tmp_path / 'nope.pth'), {}, 'nope.pth: no such file'),
             ((tmp_path / 'm.onnx', ckpt), {}, 'takes no checkpoint'),
             ((cfg, ckpt), dict(mpp=0), '--mpp: must be positive'),
             ((cfg, ckpt), dict(threads=0), '--threads: must be at least 1')]
    for args, kwargs, problem in cases:
        with pytest.raises(AllidbError, match=problem) as e:
            BlastInferencer(*args, **kwargs)
        assert '\n' not in str(e.value)
    with pytest.raises(AllidbError, match='no such file or folder|no input'):
        BlastInferencer(cfg, ckpt)([], tmp_path / 'out')
