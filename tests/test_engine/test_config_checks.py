"""Command-line overrides that a run cannot use are refused; a shortened
schedule still warms up to the configured learning rate."""
from __future__ import annotations

import copy
import json

import cv2
import pytest
import torch

from allidb_mmseg.engine.config import (check_cfg_options, check_data, load_config,
                                        prepare_train_config)
from allidb_mmseg.engine.runner import train
from allidb_mmseg.utils import AllidbError
from helpers import REPO, call_tool, one_line_error, small_options, write_random_seg_root

CONFIG = str(REPO / 'configs' / 'segformer_allidb_128.py')
PEAK = 6e-5  # the configs' AdamW lr


def lr_per_iteration(param_scheduler: list, max_iters: int) -> list[float]:
    """The lr of each iteration, stepping mmengine's schedulers as the
    Runner's ParamSchedulerHook does (after every iteration)."""
    from mmengine.registry import PARAM_SCHEDULERS

    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=PEAK)
    schedulers = [PARAM_SCHEDULERS.build(dict(copy.deepcopy(s),
                                              optimizer=optimizer))
                  for s in param_scheduler]
    lrs = []
    for _ in range(max_iters):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        for s in schedulers:
            s.step()
    return lrs


@pytest.mark.parametrize('max_iters', [1, 2, 9, 20, 25, 3440])
def test_shortened_schedule_reaches_the_configured_lr(max_iters):
    cfg = load_config(CONFIG, cfg_options={'train_cfg.max_iters': max_iters})
    lrs = lr_per_iteration([dict(s) for s in cfg.param_scheduler], max_iters)
    assert len(lrs) == max_iters
    # The issue: 9 to 25 iterations ran at 5e-11 throughout.
    assert PEAK / 2 <= max(lrs) <= PEAK * (1 + 1e-6)
    if max_iters >= 2:  # a warm-up is kept: the first step is a small one
        assert lrs[0] < PEAK / 100
    warmup, *rest = cfg.param_scheduler
    if max_iters == 3440:  # the paper's schedule is untouched
        assert (warmup.end, rest[0].begin) == (200, 200)


def test_a_20_iteration_run_logs_the_configured_lr(jpg_data_root, tmp_path,
                                                   one_torch_thread):
    work = tmp_path / 'work'
    opts = small_options(20, tiny=True)
    opts['train_cfg.val_interval'] = 100
    train(prepare_train_config(CONFIG, cfg_options=opts,
                               data_root=str(jpg_data_root),
                               work_dir=str(work)))
    run = next(p for p in work.iterdir() if (p / 'vis_data').is_dir())
    lines = (run / 'vis_data' / 'scalars.json').read_text().splitlines()
    logged = [json.loads(line)['lr'] for line in lines if '"lr"' in line]
    assert len(logged) == 20
    assert max(logged) >= PEAK / 2


@pytest.mark.parametrize('option,value,rule', [
    ('train_cfg.max_iters', 'abc', 'must be a whole number >= 1'),
    ('train_cfg.max_iters', 'foo', 'must be a whole number >= 1'),
    ('train_cfg.max_iters', '-5', 'must be a whole number >= 1'),
    ('train_cfg.max_iters', '2.5', 'must be a whole number >= 1'),
    ('train_cfg.val_interval', '0', 'must be a whole number >= 1'),
    ('train_dataloader.batch_size', 'x', 'must be a whole number >= 1'),
    ('train_dataloader.num_workers', '-1', 'must be a whole number >= 0'),
    ('default_hooks.checkpoint.interval', '0', '>= 1 (or -1: never)'),
    ('optim_wrapper.optimizer.lr', '-0.1', 'must be a number > 0'),
])
def test_unusable_cfg_options_are_one_line_errors(tiny_trained, tmp_path,
                                                  option, value, rule):
    # The tiny config: were the value taken, the run would be 2 iterations.
    r = call_tool('train', tiny_trained.config, '--data-root',
                  tiny_trained.data_root, '--work-dir', tmp_path / 'w',
                  '--cfg-options', f'{option}={value}')
    assert r.returncode == 2
    line = one_line_error(r.stderr)
    assert line.startswith(f'error: --cfg-options {option}=')
    assert line.endswith(rule)
    assert not (tmp_path / 'w').exists()  # refused before anything ran


def test_usable_cfg_options_pass():
    check_cfg_options({'train_cfg.max_iters': 5,
                       'default_hooks.checkpoint.interval': -1,
                       'optim_wrapper.optimizer.lr': 1e-4,
                       'model.decode_head.num_classes': 2})
    with pytest.raises(AllidbError):
        check_cfg_options({'train_cfg.max_iters': True})


def test_the_data_check_takes_its_classes_from_the_model(tmp_path):
    root = write_random_seg_root(tmp_path / 'data', {'train': 2})
    mask = root / 'ann_dir' / 'train' / 'im000.png'
    values = cv2.imread(str(mask), cv2.IMREAD_UNCHANGED)
    values[:3] = 2  # a third class
    cv2.imwrite(str(mask), values)
    cfg = load_config(CONFIG, data_root=str(root))
    with pytest.raises(AllidbError, match='holds the value'):
        check_data(cfg, ('train_dataloader',))
    cfg.model.decode_head.num_classes = 3
    check_data(cfg, ('train_dataloader',))
