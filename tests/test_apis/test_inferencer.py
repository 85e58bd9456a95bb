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


def test_rows_carry_the_white_cell_count_and_blast_share(tiny_trained, tmp_path):
    from allidb_mmseg.apis import BlastInferencer
    from allidb_mmseg.smear.cell_scale import estimate_rbc_diameter
    from allidb_mmseg.smear.white_cells import count_white_cells
    from helpers import white_cell_field

    img, _ = white_cell_field()
    cv2.imwrite(str(tmp_path / 'field.png'), img)
    cv2.imwrite(str(tmp_path / 'tiny.png'), blob_image(60, 80, 0))
    rows = BlastInferencer(str(tiny_trained.config), str(tiny_trained.checkpoint))(
        [str(tmp_path / 'field.png'), str(tmp_path / 'tiny.png')], out_dir=tmp_path / 'out')
    field, tiny = rows
    # The red cells are measured (no size in the config), then the nuclei counted.
    assert field.wbc_count == count_white_cells(img, estimate_rbc_diameter(img)).count == 4
    assert field.blast_share == pytest.approx(
        field.blast_count / max(4, field.blast_count) if field.blast_count else 0.0)
    assert tiny.wbc_count is None and tiny.blast_share is None  # too small to measure
    table = {r['name']: r for r in csv.DictReader(open(tmp_path / 'out' / 'report.csv'))}
    assert table['field']['wbc_count'] == '4' and table['tiny']['wbc_count'] == ''


def test_mpp_gives_a_paper_config_the_red_cell_size(tiny_trained, tmp_path):
    """A paper config has no working scale, yet --mpp is the red-cell size of
    its minimum blast area and white-cell count: an image too small to
    measure gets both, and a measurable one is not measured."""
    from allidb_mmseg.apis import BlastInferencer
    from allidb_mmseg.smear.cell_scale import RBC_DIAMETER_UM, default_min_blast_area
    from allidb_mmseg.smear.white_cells import count_white_cells
    from helpers import white_cell_field

    img, _ = white_cell_field()
    cv2.imwrite(str(tmp_path / 'field.png'), img)
    cv2.imwrite(str(tmp_path / 'tiny.png'), blob_image(60, 80, 0))
    mpp = 0.5  # red cells 15 px: not the field's size, so its count changes
    rows = BlastInferencer(str(tiny_trained.config), str(tiny_trained.checkpoint), mpp=mpp)(
        [str(tmp_path / 'field.png'), str(tmp_path / 'tiny.png')], out_dir=tmp_path / 'out')
    field, tiny = rows
    rbc = RBC_DIAMETER_UM / mpp
    assert field.wbc_count == count_white_cells(img, rbc).count
    assert tiny.wbc_count == count_white_cells(blob_image(60, 80, 0), rbc).count
    assert tiny.blast_share is not None or tiny.wbc_count == 0
    assert f'>= {default_min_blast_area(rbc)} px' in field.all_rule
