"""The accuracy comparison tool, end to end on tiny fields and tiny models."""
from __future__ import annotations

import dataclasses
import json

import pytest

from benchmarks import native_accuracy as na
from allidb_mmseg.utils import AllidbError
from helpers import REPO, small_options

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def tiny_methods() -> tuple:
    tiny = tuple((k, v) for k, v in small_options(1, tiny=True).items()
                 if k.startswith('model.'))
    return tuple(dataclasses.replace(m, iters=1, batch_size=2,
                                     options=m.options + tiny + (('working_rbc_px', 8),))
                 for m in na.DEFAULT_METHODS)


def test_dataset_is_made_once_and_never_mixed(tmp_path):
    spec = na.DatasetSpec(size=(200, 150), train=2, val=1, test=2, seed=3)
    info = na.make_dataset(tmp_path / 'd', spec)
    assert info['splits']['test'] == dict(images=2, healthy=1,
                                          blasts=info['splits']['test']['blasts'])
    for sub in ('img_dir', 'ann_dir', 'xyc'):
        assert sorted(p.name for p in (tmp_path / 'd' / sub).iterdir()) == \
            ['test', 'train', 'val']
    assert na.make_dataset(tmp_path / 'd', spec) == info  # reused
    with pytest.raises(AllidbError, match='holds another synthetic set'):
        na.make_dataset(tmp_path / 'd', dataclasses.replace(spec, test=3))


def test_targets_report_margins():
    base = dict(mIoU=70.0, IoU_lymphoblast=40.0, blast_precision=0.6,
                blast_recall=0.7, blast_F1=0.65, count_MAE=1.5, ALL_accuracy=0.8)
    nat = dict(base, IoU_lymphoblast=50.0, blast_F1=0.97, count_MAE=2.0,
               ALL_accuracy=0.95)
    checks = {c['target']: c for c in na.targets({'native': nat, '128_aug': base})}
    assert checks['native beats 128_aug on count_MAE']['margin'] == -0.5
    assert not checks['native beats 128_aug on mIoU']['met']
    assert checks['lymphoblast IoU +15 points or more']['margin'] == -5.0
    assert checks['blast F1 >= 0.95']['met']
    assert checks['ALL-vs-healthy accuracy >= 0.95']['met']


def test_compare_trains_tests_tabulates_and_reuses_runs(tmp_path):
    spec = na.DatasetSpec(size=(320, 240), train=2, val=1, test=2)
    work = tmp_path / 'acc'
    out = na.compare(str(work), configs_dir=str(REPO / 'configs'), spec=spec,
                     methods=tiny_methods(), seeds=(0,))
    assert set(out['rows']) == {'native', '128_aug', 'Otsu'}
    for name in ('native', '128_aug'):
        row = out['rows'][name]
        assert row['runs'] == 1 and row['train_iters'] == 1
        assert row['train_cpu_min'] > 0
        assert 0 <= row['blast_F1'] <= 1 and row['mIoU'] is not None
        report = json.loads((work / name / 'seed_0' / 'test_metrics.json').read_text())
        assert 'blast_recall' in report['detection']
    md = (work / 'accuracy.md').read_text()
    assert md.count('\n| native |') == 1 and '| Otsu |' in md
    assert '| lymphoblast IoU +15 points or more |' in md
    for fig in ('comparison.png', 'example.png'):
        assert (work / fig).stat().st_size > 5000
    ckpt = next((work / 'native' / 'seed_0').glob('*.pth'))
    stamp = ckpt.stat().st_mtime_ns
    again = na.compare(str(work), configs_dir=str(REPO / 'configs'), spec=spec,
                       methods=tiny_methods(), seeds=(0,), figures=False)
    assert ckpt.stat().st_mtime_ns == stamp  # reused, not retrained
    assert again['rows']['native']['train_cpu_min'] == out['rows']['native']['train_cpu_min']
