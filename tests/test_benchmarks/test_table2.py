"""Table II: tabulation and the one-command reproduction."""
from __future__ import annotations

import csv
import io
import json

import pytest

from benchmarks import table2
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
                           'IoU.lymphoblast': 30.0, 'mDice': 65.0},
                  per_class={'lymphoblast': {'IoU': 30.0}}))
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
    assert rows[-1]['ours_IoU_lymphoblast'] == 0.3
    md = table2.to_markdown(rows)
    assert '| 128x128 with augmentation | 0.821 | 0.853 | 0.917 | 0.910 |' in md
    assert '| 256x256 without augmentation | 0.721 | - | 0.809 | - |' in md
    parsed = list(csv.DictReader(io.StringIO(table2.to_csv(rows))))
    assert len(parsed) == 6 and parsed[1]['ours_mIoU'] == '0.853'
    native = by_name['native scale with augmentation (beyond the paper)']
    assert native['paper_mIoU'] is None and native['runs'] == 0


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
    assert len(rows) == 6  # 4 paper rows, the native row, Otsu
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
    assert md.count('\n| ') == 7  # header + 4 variants + native + Otsu
    # The tables are not overwritten without --force.
    assert tool.main(argv) == 2
    assert capsys.readouterr().err.strip() == \
        f'error: {work / "table2.md"}: exists (use --force to overwrite)'
    with pytest.raises(AllidbError, match='not a directory'):
        table2.reproduce(str(tmp_path / 'nope'), str(work),
                         configs_dir=str(REPO / 'configs'))


def test_several_runs_show_mean_and_std():
    a, b = report(80.0, 90.0, 60.0), report(84.0, 92.0, 64.0)
    for r, f1 in ((a, 0.9), (b, 0.8)):
        r['per_class']['lymphoblast']['Dice'] = 70.0
        r['detection'] = dict(blast_precision=1.0, blast_recall=f1, blast_F1=f1)
    rows = table2.table_rows({'segformer_allidb_native_aug': [a, b]})
    native = rows[-1]
    assert native['variant'].endswith('(beyond the paper)')
    assert native['ours_mIoU'] == 0.82 and native['ours_mIoU_std'] == 0.028
    assert native['blast_F1'] == 0.85 and native['runs'] == 2
    assert native['ours_Dice_lymphoblast'] == 0.7
    assert native['ours_Dice_lymphoblast_std'] == 0.0
    md = table2.to_markdown(rows)
    assert '| 0.820 ± 0.028 |' in md and '| 0.850 ± 0.071 | 2 |' in md
    parsed = list(csv.DictReader(io.StringIO(table2.to_csv(rows))))
    assert parsed[-1]['ours_mIoU_std'] == '0.028'


def test_native_row_trains_per_seed_and_tests_with_slide_inference(tmp_path):
    root = jpg_seg_root(tmp_path / 'data', {'train': 2, 'val': 1, 'test': 2})
    work = tmp_path / 'table2'
    # The blob images have no red cells to measure: state their size.
    opts = dict(small_options(1, tiny=True), source_rbc_px=24)
    out = table2.reproduce(str(root), str(work), configs_dir=str(REPO / 'configs'),
                           cfg_options=opts, variants=(table2.NATIVE,),
                           seeds=(0, 1), otsu=False)
    runs = out['results']['segformer_allidb_native_aug']
    assert len(runs) == 2
    for seed in (0, 1):
        d = work / 'segformer_allidb_native_aug' / f'seed_{seed}'
        metrics = json.loads((d / 'test_metrics.json').read_text())
        assert 'blast_F1' in metrics['detection']
        log = next(d.glob('*/*.log')).read_text()
        assert f"randomness = dict(seed={seed})" in log
    assert len(out['rows']) == 5  # the paper's four rows, then the native one
    row = out['rows'][-1]
    assert row['variant'].endswith('(beyond the paper)')
    assert row['runs'] == 2 and row['ours_mIoU'] is not None
