"""tools/infer.py end to end with a tiny trained checkpoint, bad inputs included."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import (TINY_CONFIG, TINY_MIT, blob_image, run_tool,
                     write_random_seg_root)

TRAIN_TAIL = '''
train_dataloader = dict(batch_size=2, num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='ALLIDBDataset', data_root={root!r}, img_suffix='.png',
                 data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
                 pipeline=train_pipeline))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=1000)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2),
                     logger=dict(type='LoggerHook', interval=1))
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork'),
               dist_cfg=dict(backend='gloo'))
log_level = 'WARNING'
'''


@pytest.fixture(scope='module')
def tiny_ckpt(tmp_path_factory):
    """(config, checkpoint) from 2 iterations of mmengine's Runner."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    tmp = tmp_path_factory.mktemp('tiny')
    root = write_random_seg_root(tmp / 'data', {'train': 4})
    cfg_path = tmp / 'tiny.py'
    cfg_path.write_text(TINY_CONFIG.format(backbone=TINY_MIT) + TRAIN_TAIL.format(root=str(root)))
    cfg = Config.fromfile(str(cfg_path))
    cfg.work_dir = str(tmp / 'work')
    Runner.from_cfg(cfg).train()
    ckpt = tmp / 'work' / 'iter_2.pth'
    assert ckpt.is_file()
    return cfg_path, ckpt


def infer(cfg, ckpt, *args):
    return run_tool('infer', cfg, ckpt, *args, '--device', 'cpu')


def make_inputs(d: Path) -> dict[str, str]:
    """Good and bad inputs; returns name -> expected status."""
    (d / 'a').mkdir(parents=True)
    (d / 'b').mkdir()
    cv2.imwrite(str(d / 'a' / 'field.png'), blob_image(90, 130, 1))
    cv2.imwrite(str(d / 'b' / 'field.png'), blob_image(70, 100, 2))   # same stem
    cv2.imwrite(str(d / 'a' / 'photo.jpg'), blob_image(120, 160, 3))
    cv2.imwrite(str(d / 'a' / 'gray.png'), cv2.cvtColor(blob_image(), cv2.COLOR_BGR2GRAY))
    rgba = cv2.cvtColor(blob_image(), cv2.COLOR_BGR2BGRA)
    rgba[:10, :, 3] = 0
    cv2.imwrite(str(d / 'a' / 'rgba.png'), rgba)
    cv2.imwrite(str(d / 'a' / 'deep.tif'), blob_image().astype(np.uint16) * 16)
    ok, buf = cv2.imencode('.jpg', blob_image(200, 200))
    (d / 'a' / 'cut.jpg').write_bytes(buf.tobytes()[:len(buf) // 2])
    (d / 'a' / 'notes.txt').write_text('not an image\n')
    return {'field': 'ok', 'field-2': 'ok', 'photo': 'ok', 'gray': 'ok', 'rgba': 'ok',
            'deep': 'ok', 'cut': 'failed', 'notes': 'failed', 'missing': 'failed'}


def test_infer_end_to_end(tiny_ckpt, tmp_path):
    cfg, ckpt = tiny_ckpt
    expected = make_inputs(tmp_path / 'in')
    out = tmp_path / 'out'
    args = [tmp_path / 'in' / 'a', str(tmp_path / 'in' / 'b' / '*.png'),
            tmp_path / 'in' / 'missing.jpg', '--out-dir', out, '--min-blast-area', 20]
    r = infer(cfg, ckpt, *args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'Traceback' not in r.stderr
    assert 'segmenting' in r.stderr                      # the progress bar
    assert '9 images: 6 segmented, 3 failed' in r.stdout  # the summary line
    for bad in ('cut.jpg', 'notes.txt', 'missing.jpg'):
        assert any(ln.startswith('warning: ') and bad in ln for ln in r.stderr.splitlines())

    rows = {row['name']: row for row in csv.DictReader(open(out / 'report.csv'))}
    assert {n: row['status'] for n, row in rows.items()} == expected
    assert 'truncated' in rows['cut']['error']
    assert 'not an image' in rows['notes']['error']
    assert rows['field-2']['file'].endswith(os.path.join('b', 'field.png'))
    for name, row in rows.items():
        if row['status'] != 'ok':
            assert row['error'] and not row['mask']
            continue
        src = cv2.imread(row['file'], cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(out / row['mask']), cv2.IMREAD_UNCHANGED)
        overlay = cv2.imread(str(out / row['overlay']))
        assert mask.shape == src.shape[:2] == overlay.shape[:2]
        assert (int(row['height']), int(row['width'])) == mask.shape
        assert set(np.unique(mask)) <= {0, 1}
        frac = float(row['blast_area_fraction'])
        assert abs(frac - (mask == 1).mean()) < 1e-5
        assert row['all_suspected'] in ('True', 'False')
        assert row['all_rule'].startswith('blast_count >= 1')
        if frac > 0:
            assert 0.5 <= float(row['mean_blast_prob']) <= 1.0
    doc = json.loads((out / 'report.json').read_text())
    assert doc['summary'] == dict(images=9, ok=6, failed=3,
                                  all_suspected=sum(r['all_suspected'] == 'True'
                                                    for r in rows.values()),
                                  blasts=sum(int(r['blast_count'] or 0)
                                             for r in rows.values()),
                                  ood_flagged=0,  # no stain reference here
                                  scale_unsure=0)  # a whole-image config
    by_name = {x['name']: x for x in doc['images']}
    assert len(by_name['field']['blasts']) == by_name['field']['blast_count']

    # An existing output is never overwritten without --force.
    before = {p: p.stat().st_mtime_ns for p in out.rglob('*') if p.is_file()}
    again = infer(cfg, ckpt, *args)
    assert again.returncode == 2
    assert again.stderr.startswith('error: ') and 'use --force' in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert {p: p.stat().st_mtime_ns for p in out.rglob('*') if p.is_file()} == before
    forced = infer(cfg, ckpt, tmp_path / 'in' / 'a' / 'photo.jpg', '--out-dir', out, '--force')
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert len(list(csv.DictReader(open(out / 'report.csv')))) == 1
    assert not list(out.rglob('.*tmp*'))  # no temporary files left


def test_infer_fails_only_when_nothing_succeeds(tiny_ckpt, tmp_path):
    cfg, ckpt = tiny_ckpt
    (tmp_path / 'x.txt').write_text('hello')
    r = infer(cfg, ckpt, tmp_path / 'x.txt', '--out-dir', tmp_path / 'o')
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith('error: ')
    rows = list(csv.DictReader(open(tmp_path / 'o' / 'report.csv')))
    assert [row['status'] for row in rows] == ['failed']
    bad = infer(cfg, tmp_path / 'nope.pth', tmp_path / 'x.txt', '--out-dir', tmp_path / 'p')
    assert bad.returncode == 2 and bad.stderr.startswith('error: ') and 'nope.pth' in bad.stderr
