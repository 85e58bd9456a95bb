"""Side-by-side speed measurements for a config: every number is a ratio from one run.

Three comparisons, each timed in the same process on the same machine:

(a) whole-field inference, mmseg's stock model (MiT attention and
    ``SegformerHead``) against ours (fused attention, ``FusedSegformerHead``),
    same weights; fp32, and bf16 autocast when CUDA is used;
(b) training throughput in img/s (real optimizer steps on crop x crop batches),
    stock against ours; on request, CPU options (channels_last, one thread,
    bf16 autocast, torch.compile) each against ours as it is, and training
    img/s with the config's DataLoader at several worker counts;
(c) data-pipeline samples/s in one process (= one DataLoader worker): the
    config's training datasets as they are, against the naive variant that
    decodes every full-size file (``LoadImageFromFile``, no cache).

mmseg's own benchmark averages over 200 test iterations and prints NaN on an
11-image split; here images are cycled, every median has at least one timing,
and undefined ratios are reported as null / "n/a", never NaN.
"""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any, Sequence

import torch
from mmengine.config import Config

from allidb_mmseg.utils import pair_by_stem
from benchmarks.speed.inference import bench_inference, build_model_pair, inference_input
from benchmarks.speed.pipeline import bench_pipeline
from benchmarks.speed.timing import finite_or_none
from benchmarks.speed.pipeline import train_dataset_cfg
from benchmarks.speed.training import (bench_loader_workers, bench_training,
                                       bench_training_options)

SPLITS = ('test', 'val', 'train')

__all__ = ['SPLITS', 'choose_split', 'run_benchmark', 'markdown_table']


def choose_split(data_root: str, split: str | None = None
                 ) -> tuple[str, list[tuple[str, str]]]:
    """The requested split, else the first of test/val/train holding pairs."""
    for name in ([split] if split else SPLITS):
        pairs = pair_by_stem(Path(data_root) / 'img_dir' / name,
                             Path(data_root) / 'ann_dir' / name).pairs
        if pairs:
            return name, [(str(i), str(m)) for i, m in pairs]
    return split or '', []


def run_benchmark(cfg: Config, *, checkpoint: str | None, data_root: str,
                  split: str | None = None, device: str | None = None,
                  iters: int | None = None, warmup: int = 1,
                  infer_scale: float | None = None, batch_size: int | None = None,
                  pipeline_samples: int | None = None, quick: bool = False,
                  train_options: Sequence[str] = (), loader_workers: Sequence[int] = (),
                  bar: Any = None) -> dict:
    """Run (a), (b) and (c) for ``cfg`` and return one JSON-ready dict.

    ``train_options`` (names of :data:`~benchmarks.speed.training.TRAIN_OPTIONS`)
    adds ``training_options``, each option against ours; ``loader_workers``
    (worker counts) adds ``loader_workers``, training img/s with the
    config's DataLoader over the split at each count.

    Defaults keep a CPU run to about 1-2 minutes: inference at half the
    field's size on CPU (``infer_scale=1`` for full size; the stock path then
    needs ~11.4 GiB for a 2592x1944 field), full size on CUDA. ``bar`` is an
    optional tqdm-like progress bar (``total``, ``update``, ``set_description``).
    """
    import mmseg  # noqa: F401  (registers models)
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    dev = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    on_gpu = dev.type == 'cuda'
    if iters is None:
        iters = 10 if on_gpu and not quick else 2
    if infer_scale is None:
        infer_scale = 0.1 if quick else (1.0 if on_gpu else 0.5)
    if batch_size is None:
        batch_size = 2 if quick else int(cfg.train_dataloader.get('batch_size', 8))
    dtypes = ['fp32', 'bf16'] if on_gpu else ['fp32']
    split, pairs = choose_split(data_root, split)
    if not pairs:
        raise FileNotFoundError(
            f'{data_root}: no image/mask pairs in img_dir/ann_dir '
            f'({"/".join(SPLITS)})')
    views = max(1, len(cfg.train_dataloader.dataset.get('datasets') or [1]))
    epochs = 1 if quick else 2
    n_pipeline = pipeline_samples or epochs * views * len(pairs)
    if bar is not None:
        per_model = max(1, iters) + max(0, warmup)
        bar.total = (4 * len(dtypes) * per_model + 2 * n_pipeline
                     + views * len(pairs) + 2 * len(train_options) * per_model
                     + 2 * len(loader_workers))
    tick = (lambda: bar.update(1)) if bar is not None else (lambda: None)

    def stage(text: str) -> None:
        if bar is not None:
            bar.set_description(text)

    stock, fused, n_attn = build_model_pair(cfg, checkpoint, dev)
    if n_attn == 0:
        raise ValueError('the config\'s model has no MiT attention to compare')
    x = inference_input(cfg, pairs[0][0], infer_scale, dev)
    result: dict[str, Any] = {
        'config': cfg.filename, 'checkpoint': checkpoint,
        'device': torch.cuda.get_device_name(dev) if on_gpu
        else f'cpu ({platform.processor() or platform.machine()}, '
             f'{torch.get_num_threads()} threads)',
        'torch': torch.__version__, 'iters': iters, 'warmup': warmup,
        'attention_modules': n_attn,
        'inference_image': pairs[0][0], 'infer_scale': infer_scale,
    }
    stage(f'(a) inference {x.shape[3]}x{x.shape[2]}')
    result['inference'] = bench_inference(stock, fused, x, iters, warmup, dtypes, tick)
    del x
    stage('(b) training')
    result['training'] = bench_training(cfg, stock, fused, batch_size, iters,
                                        warmup, dtypes, tick)
    del stock
    if train_options:
        stage('(b) training options')
        result['training_options'] = bench_training_options(
            cfg, fused, batch_size, iters, warmup, train_options, tick)
    if loader_workers:
        stage('(b) DataLoader workers')
        result['loader_workers'] = bench_loader_workers(
            cfg, fused, train_dataset_cfg(cfg, data_root, split), loader_workers,
            batch_size, steps=max(2, iters), tick=tick)
    del fused
    stage('(c) data pipeline')
    result['pipeline'] = bench_pipeline(cfg, data_root, split,
                                        pipeline_samples, epochs, tick)
    return finite_or_none(result)


def _fmt(v: float | None, spec: str = '.1f', suffix: str = '') -> str:
    return 'n/a' if v is None else f'{v:{spec}}{suffix}'


def markdown_table(result: dict) -> str:
    """The docs/performance.md table: one row per comparison, the ratio last."""
    inf, tr, pl = result['inference'], result['training'], result['pipeline']
    h, w = inf['input_hw']
    rows = ['| measurement | mmseg stock (attention, head) / naive loading / '
            'as configured | ours (fused) / config\'s pipeline / option | ratio |',
            '|---|---|---|---|']
    for name in ('fp32', 'bf16'):
        if name in inf:
            e = inf[name]
            note = '' if 'max_abs_diff' not in e else \
                f' (max abs diff {e["max_abs_diff"]:.1e})'
            rows.append(f'| inference {w}x{h}, {name}, ms{note} | '
                        f'{_fmt(e.get("stock_ms"))} | {_fmt(e.get("fused_ms"))} | '
                        f'{_fmt(e.get("speedup"), ".2f", "x")} |')
    for name in ('fp32', 'bf16'):
        if name in tr:
            e = tr[name]
            rows.append(f'| training batch {tr["batch_size"]} at '
                        f'{tr["input_hw"][1]}x{tr["input_hw"][0]}, {name}, img/s | '
                        f'{_fmt(e["stock_img_per_s"])} | {_fmt(e["fused_img_per_s"])} | '
                        f'{_fmt(e["speedup"], ".2f", "x")} |')
    opts = result.get('training_options') or {}
    for name, e in opts.items():
        if isinstance(e, dict):
            diff = e.get('first_loss_diff')
            note = '' if diff is None else f', first-step loss diff {diff:.1e}'
            if name == 'compile':
                note += f', first step {e["first_step_s"]:.0f} s'
            rows.append(f'| training, ours + {name}, img/s{note} | '
                        f'{_fmt(e["base_img_per_s"])} | {_fmt(e["option_img_per_s"])} | '
                        f'{_fmt(e["ratio"], ".2f", "x")} |')
    lw = result.get('loader_workers')
    if lw:
        base_n = lw['configured_workers']
        base = (lw['workers'].get(str(base_n)) or {}).get('img_per_s')
        for n, e in lw['workers'].items():
            rows.append(f'| training with the DataLoader, {n} workers vs the '
                        f'config\'s {base_n}, img/s | {_fmt(base)} | '
                        f'{_fmt(e["img_per_s"])} | '
                        f'{_fmt(lw["ratio_vs_configured"].get(n), ".2f", "x")} |')
    for kind, label in (('warm', 'later epochs'), ('cold', 'first epoch')):
        rows.append(f'| data pipeline, {label}, samples/s per worker | '
                    f'{_fmt(pl["naive"]["samples_per_s"])} | '
                    f'{_fmt(pl[f"ours_{kind}"]["samples_per_s"])} | '
                    f'{_fmt(pl[f"speedup_{kind}"], ".2f", "x")} |')
    return '\n'.join(rows)
