"""The domain-shift benchmark's data layout, OOD precision/recall and table; the tool's errors."""
from __future__ import annotations

import os

from benchmarks.domain_shift import (ShiftRow, make_profile_sets,
                                                markdown_table, ood_precision_recall)
from helpers import call_tool


def row(profile: str, flagged: int, n: int = 4, variant: str = 'plain') -> ShiftRow:
    return ShiftRow(variant, 'none', 'lab_a', profile, 80.0, 1.0, 0.9, 0.947, flagged, n)


def test_ood_precision_recall_counts_shifted_images_as_positives():
    rows = [row('lab_a', 1), row('yellow', 4), row('pale', 2)]
    o = ood_precision_recall(rows, 'lab_a')
    assert o['precision'] == 6 / 7 and o['recall'] == 6 / 8
    assert (o['flagged_shifted'], o['shifted'], o['flagged_in_domain'], o['in_domain']) \
        == (6, 8, 1, 4)
    assert ood_precision_recall([row('lab_a', 0)], 'lab_a') == dict(
        precision=1.0, recall=1.0, flagged_shifted=0, shifted=0, flagged_in_domain=0,
        in_domain=4)


def test_markdown_table_lists_every_row():
    from dataclasses import asdict
    rows = [row('lab_a', 0), row('yellow', 4)]
    text = markdown_table(dict(
        settings=dict(train_profile='lab_a', num_train=8, size=96, iters=4, num_test=4),
        rows=[asdict(r) for r in rows], ood={'plain': ood_precision_recall(rows, 'lab_a')}))
    assert 'Trained on `lab_a`: 8 fields of 96x96, 4 iterations' in text
    assert '| plain | none | yellow | 80.00 | 1.000 | 0.900 | 0.947 | 4/4 |' in text
    assert '| plain | 1.000 | 1.000 |' in text


def test_profile_sets_link_an_mmseg_data_root(tmp_path):
    data = make_profile_sets(tmp_path, 'lab_a', ['lab_a', 'pale'], num_train=2, num_test=1,
                             size=96, seed=3)
    assert sorted(os.listdir(data / 'img_dir')) == ['train', 'val']
    assert len(list((data / 'img_dir' / 'train').glob('*.jpg'))) == 2
    assert len(list((data / 'ann_dir' / 'val').glob('*.png'))) == 1
    assert (tmp_path / 'test_pale' / 'centres').is_dir()
    # Test fields use another seed than the training fields.
    train = (tmp_path / 'train' / 'images' / 'synth_000.jpg').read_bytes()
    assert train != (tmp_path / 'test_lab_a' / 'images' / 'synth_000.jpg').read_bytes()


def test_tool_refuses_a_bad_variant(tmp_path):
    r = call_tool('analysis_tools/domain_shift', '--out', tmp_path / 'o',
                  '--variant', 'x=configs/nope.py')
    assert r.returncode == 2 and r.stderr == 'error: configs/nope.py: not NAME=CONFIG ' \
        'with an existing config\n'
