"""Table II: tabulation and the one-command reproduction."""
from __future__ import annotations

import csv
import io
import json

import pytest

from allidb_mmseg.analysis import table2
from allidb_mmseg.utils import AllidbError
from helpers import REPO, jpg_seg_root, load_tool, small_options


pytestmark = pytest.mark.usefixtures('one_torch_thread')


def report(miou, macc, fg_iou, mdice=50.0):
    return dict(metrics=dict(aAcc=90.0, mIoU=miou, mAcc=macc, mDice=mdice),
                per_class=dict(lymphoblast=dict(IoU=fg_iou, Acc=1.0)))


def test_rows_put_paper_and_ours_side_by_side_in_0_1_units():
    rows = table2.table_rows(
        {'segformer_allidb_128_aug': report(85.25, 91.0, 72.5)},
        otsu=dict(metrics={'mIoU': 60.0, 'mAcc': 70.0,
                           'IoU.lymphoblast': 30.0, 'mDice': 65.0}))
    by_name = {r['variant']: r for r in rows}
    row = by_name['128x128 with augmentation']
    assert (row['paper_mIoU'], row['paper_mAcc']) == (0.821, 0.917)
    assert (row['ours_mIoU'], row['ours_mAcc']) == (0.853, 0.91)
    assert row['ours_IoU_lymphoblast'] == 0.725
    missing = by_name['256x256 without augmentation']
    assert (missing['paper_mIoU'], missing['paper_mAcc']) == (0.721, 0.809)
    assert missing['ours_mIoU'] is None
    assert by_name['128x128 without augmentation']['paper_mIoU'] == 0.809
    assert by_name['256x256 with augmentation']['paper_mAcc'] == 0.832
    assert rows[-1]['paper_mIoU'] is None and rows[-1]['ours_mIoU'] == 0.6
    md = table2.to_markdown(rows)
    assert '| 128x128 with augmentation | 0.821 | 0.853 | 0.917 | 0.910 |' in md
    assert '| 256x256 without augmentation | 0.721 | - | 0.809 | - |' in md
    parsed = list(csv.DictReader(io.StringIO(table2.to_csv(rows))))
    assert len(parsed) == 5 and parsed[1]['ours_mIoU'] == '0.853'


def test_reproduce_trains_tests_and_writes_the_tables(tmp_path, capsys):
    root = jpg_seg_root(tmp_path / 'data',
                        {'train': 2, 'val': 1, 'test': 2})
    work = tmp_path / 'table2'
    opts = small_options(1, tiny=True)
    tool = load_tool('analysis_tools/reproduce_table2')
    # One of the four variants keeps the test short (tests/test_engine/
    # test_train.py trains all four); the other rows show the paper's numbers only.
    trained = ['segformer_allidb_256_aug']
    argv = ['--data-root', str(root), '--work-dir', str(work),
            '--variants', *trained,
            '--cfg-options'] + [f'{k}={v}'.replace(' ', '')
                                for k, v in opts.items()]
    assert tool.main(argv) == 0
    out = capsys.readouterr().out
    assert '| 128x128 with augmentation | 0.821 | - | 0.917 | - |' in out
    assert '| 256x256 with augmentation | 0.740 | 0.' in out
    rows = list(csv.DictReader((work / 'table2.csv').open()))
    assert len(rows) == 5
    for variant, row in zip(table2.VARIANTS, rows):
        assert float(row['paper_mIoU']) == variant.paper_miou
        if variant.config not in trained:
            assert row['ours_mIoU'] == ''
            continue
        metrics = json.loads(
            (work / variant.config / 'test_metrics.json').read_text())
        assert float(row['ours_mIoU']) == pytest.approx(
            metrics['metrics']['mIoU'] / 100, abs=5e-4)
        assert 0.0 <= float(row['ours_mAcc']) <= 1.0
    assert rows[-1]['variant'].startswith('Otsu')
    md = (work / 'table2.md').read_text()
    assert md.count('\n| ') == 6  # header + 4 variants + Otsu
    # The tables are not overwritten without --force.
    assert tool.main(argv) == 2
    assert capsys.readouterr().err.strip() == \
        f'error: {work / "table2.md"}: exists (use --force to overwrite)'
    with pytest.raises(AllidbError, match='not a directory'):
        table2.reproduce(str(tmp_path / 'nope'), str(work),
                         configs_dir=str(REPO / 'configs'))
