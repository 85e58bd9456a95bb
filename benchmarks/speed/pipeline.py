"""(c) Data-pipeline samples/s in one process: the config's pipeline against a naive one."""
from __future__ import annotations

import copy
import random
import time
from typing import Any, Callable

import numpy as np
from mmengine.config import Config

from allidb_mmseg.datasets.transforms.cache import CachedCompose
from allidb_mmseg.engine.config import walk_dataset_cfg
from benchmarks.speed.timing import ratio

__all__ = ['naive_pipeline', 'train_dataset_cfg', 'bench_pipeline']


def naive_pipeline(pipeline: list) -> list:
    """The pipeline with every shortcut undone: full decode, no cache."""
    out = []
    for t in pipeline:
        t = copy.deepcopy(t)
        kind = t.get('type') if isinstance(t, dict) else None
        if kind == 'CachedCompose':
            out.extend(naive_pipeline(t['transforms']))
            continue
        if kind == 'LoadImageFromFileFast':
            for key in ('target_scale', 'keep_ratio', 'max_factor'):
                t.pop(key, None)
            t['type'] = 'LoadImageFromFile'
        out.append(t)
    return out


def train_dataset_cfg(cfg: Config, data_root: str, split: str,
                      naive: bool = False) -> dict:
    """The config's training dataset, pointed at ``split`` of ``data_root``."""
    ds = copy.deepcopy(cfg.train_dataloader.dataset)
    for node in walk_dataset_cfg(ds):
        if 'data_prefix' in node or 'data_root' in node:
            node['data_root'] = data_root
            node['data_prefix'] = dict(img_path=f'img_dir/{split}',
                                       seg_map_path=f'ann_dir/{split}')
        if naive and 'pipeline' in node:
            node['pipeline'] = naive_pipeline(node['pipeline'])
    return ds


def _time_samples(datasets: dict[str, Any], n: int, starts: dict[str, int],
                  tick: Callable[[], None] = lambda: None) -> dict[str, dict]:
    """samples/s (wall and CPU time) of each dataset, taking turns per sample."""
    wall = {k: 0.0 for k in datasets}
    cpu = {k: 0.0 for k in datasets}
    for i in range(n):
        for name, ds in datasets.items():
            t0, c0 = time.perf_counter(), time.process_time()
            ds[(starts[name] + i) % len(ds)]
            wall[name] += time.perf_counter() - t0
            cpu[name] += time.process_time() - c0
            tick()
    return {k: {'samples': n, 'samples_per_s': ratio(n, wall[k]),
                'cpu_samples_per_s': ratio(n, cpu[k])} for k in datasets}


def bench_pipeline(cfg: Config, data_root: str, split: str,
                   samples: int | None = None, epochs: int = 2,
                   tick: Callable[[], None] = lambda: None) -> dict:
    """samples/s in one process: the config's pipeline against the naive one.

    ``ours_cold`` is the first pass over the dataset (first epoch, nothing
    cached yet), ``ours_warm`` the steady state of later epochs, timed in
    turns with the naive pipeline over the same indices: ``samples``, or
    ``epochs`` whole passes so that every view of a ConcatDataset counts.
    Files are read once beforehand, so both sides see the OS file cache.
    """
    from mmseg.registry import DATASETS
    CachedCompose.clear_all()
    seed = 0
    random.seed(seed)
    np.random.seed(seed)
    naive = DATASETS.build(train_dataset_cfg(cfg, data_root, split, naive=True))
    ours = DATASETS.build(train_dataset_cfg(cfg, data_root, split))
    n_ds = len(ours)
    if n_ds == 0:
        raise ValueError(f'{data_root}: split {split!r} has no samples')
    naive[0]  # imports, first-call setup, file cache
    for i in range(n_ds):
        with open(ours.get_data_info(i)['img_path'], 'rb') as f:
            f.read()
    if samples is None:
        samples = max(1, epochs) * n_ds
    res: dict[str, Any] = {'split': split, 'dataset_len': n_ds}
    res['ours_cold'] = _time_samples({'ours': ours}, n_ds, {'ours': 0},
                                     tick)['ours']
    both = _time_samples({'naive': naive, 'ours': ours}, samples,
                         {'naive': 0, 'ours': n_ds}, tick)
    res['naive'], res['ours_warm'] = both['naive'], both['ours']
    base = res['naive']
    for kind in ('cold', 'warm'):
        ours_k = res[f'ours_{kind}']
        res[f'speedup_{kind}'] = ratio(ours_k['samples_per_s'], base['samples_per_s'])
        res[f'cpu_speedup_{kind}'] = ratio(ours_k['cpu_samples_per_s'],
                                           base['cpu_samples_per_s'])
    return res
