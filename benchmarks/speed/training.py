"""(b) Training throughput in img/s: real optimizer steps, mmseg's stock model
against ours (fused attention and fused head); and, on request, CPU options
(channels_last, one thread, bf16 autocast, torch.compile) and DataLoader
worker counts, each against ours as configured, in the same run."""
from __future__ import annotations

import copy
import math
import time
from contextlib import nullcontext
from typing import Any, Callable, Iterable

import torch
from mmengine.config import Config

from benchmarks.speed.timing import median, ratio, sync_for, time_calls

__all__ = ['crop_size_of', 'bench_training', 'TRAIN_OPTIONS', 'bench_training_options',
           'bench_loader_workers']


def crop_size_of(cfg: Config) -> tuple[int, int]:
    """(h, w) of the training input: cfg.crop_size, else the preprocessor size."""
    size = cfg.get('crop_size') or \
        (cfg.model.get('data_preprocessor') or {}).get('size') or (512, 512)
    return int(size[0]), int(size[1])


def _synthetic_batch(batch: int, hw: tuple[int, int], classes: int) -> dict:
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, *hw), generator=g, dtype=torch.uint8))
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, classes, (1, *hw), generator=g))
        s.set_metainfo(dict(img_shape=hw, ori_shape=hw, pad_shape=hw))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def _optim_wrapper(cfg: Config, model: torch.nn.Module):
    """The config's optimizer (paramwise settings included), without AMP."""
    import logging

    from mmengine.logging import MMLogger
    from mmengine.optim import OptimWrapper, build_optim_wrapper
    ow = cfg.get('optim_wrapper')
    if ow is None:
        return OptimWrapper(torch.optim.AdamW(model.parameters(), lr=6e-5))
    ow = copy.deepcopy(ow)
    ow['type'] = 'OptimWrapper'  # AMP is chosen by the benchmark, not cfg
    ow.pop('dtype', None)
    ow.pop('loss_scale', None)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # one INFO line per parameter otherwise
    try:
        return build_optim_wrapper(model, ow)
    finally:
        logger.setLevel(level)


def bench_training(cfg: Config, stock: torch.nn.Module, fused: torch.nn.Module,
                   batch: int, iters: int, warmup: int, dtypes: Iterable[str],
                   tick: Callable[[], None] = lambda: None) -> dict:
    """img/s of real optimizer steps (config's optimizer) on synthetic batches.

    ``stock`` and ``fused`` take turns (see :func:`time_calls`); each is
    copied first, so both start from the same weights.
    """
    device = next(stock.parameters()).device
    sync = sync_for(device)
    hw = crop_size_of(cfg)
    classes = int(cfg.model.get('decode_head', {}).get('num_classes', 2))
    data = _synthetic_batch(batch, hw, classes)
    res: dict[str, Any] = {'batch_size': batch, 'input_hw': list(hw)}
    for name in dtypes:
        ctx_dtype = torch.bfloat16 if name == 'bf16' else None
        entry: dict[str, Any] = {}

        def stepper(base: torch.nn.Module, ctx_dtype: Any = ctx_dtype
                    ) -> Callable[[], None]:
            model = copy.deepcopy(base).train()
            ow = _optim_wrapper(cfg, model)

            def step() -> None:
                ctx = (torch.autocast(device.type, dtype=ctx_dtype)
                       if ctx_dtype else nullcontext())
                with ctx:
                    model.train_step(data, ow)
            return step

        times, _ = time_calls({'fused': stepper(fused), 'stock': stepper(stock)},
                              iters, warmup, sync, tick)
        for label, ts in times.items():
            med = median(ts)
            entry[f'{label}_step_ms'] = 1000 * med
            entry[f'{label}_img_per_s'] = ratio(batch, med)
        entry['speedup'] = ratio(entry['fused_img_per_s'], entry['stock_img_per_s'])
        res[name] = entry
    return res


# What bench_training_options can try; each keeps the maths of a step.
TRAIN_OPTIONS = ('channels_last', 'one_thread', 'bf16', 'compile')


def _loss_of(log_vars: Any) -> float | None:
    loss = log_vars.get('loss') if isinstance(log_vars, dict) else None
    if isinstance(loss, torch.Tensor):
        loss = loss.detach()
    return None if loss is None else float(loss)


def bench_training_options(cfg: Config, model: torch.nn.Module, batch: int,
                           iters: int, warmup: int, options: Iterable[str],
                           tick: Callable[[], None] = lambda: None) -> dict:
    """Each CPU option against the model as it is, in img/s of real steps.

    For every option, two copies of ``model`` (same weights, same seeded
    first step) take turns: ``base`` as configured and ``base`` with the
    option. ``ratio`` > 1 means the option is faster. ``first_loss_diff`` is
    |loss of the first step| between the two: 0 (or float rounding) for an
    option that keeps the maths, larger for bf16. ``first_step_s`` of
    ``compile`` includes its compilation.

    Args:
        cfg: the config (optimizer, crop size, classes).
        model: the model to train (ours: fused attention and head).
        batch: images per step.
        iters: timed steps per variant (>= 1).
        warmup: untimed steps per variant first (>= 1 for ``compile``).
        options: names from :data:`TRAIN_OPTIONS`.
        tick: called after every step (progress bars).

    Returns:
        ``{option: {base_img_per_s, option_img_per_s, ratio, first_loss_diff,
        first_step_s}}``, plus ``batch_size``, ``input_hw`` and ``threads``.

    Raises:
        ValueError: an unknown option.
    """
    device = next(model.parameters()).device
    sync = sync_for(device)
    hw = crop_size_of(cfg)
    classes = int(cfg.model.get('decode_head', {}).get('num_classes', 2))
    data = _synthetic_batch(batch, hw, classes)
    threads = torch.get_num_threads()
    res: dict[str, Any] = {'batch_size': batch, 'input_hw': list(hw), 'threads': threads}
    for option in options:
        if option not in TRAIN_OPTIONS:
            raise ValueError(f'unknown training option {option!r} '
                             f'(one of {", ".join(TRAIN_OPTIONS)})')
        first: dict[str, tuple[float | None, float]] = {}

        def stepper(label: str, option: str | None) -> Callable[[], None]:
            m = copy.deepcopy(model).train()
            if option == 'channels_last':
                m = m.to(memory_format=torch.channels_last)
            elif option == 'compile':  # in place: the state-dict keys stay
                m.backbone.compile()
                m.decode_head.compile()
            ow = _optim_wrapper(cfg, m)
            ctx = (torch.autocast(device.type, dtype=torch.bfloat16)
                   if option == 'bf16' else nullcontext())
            n = 1 if option == 'one_thread' else threads

            def step() -> None:
                seeded = label not in first
                if seeded:
                    torch.manual_seed(0)  # the same dropout in the first step
                    t0 = time.perf_counter()
                torch.set_num_threads(n)
                try:
                    with ctx:
                        out = m.train_step(data, ow)
                finally:
                    torch.set_num_threads(threads)
                if seeded:
                    first[label] = (_loss_of(out), time.perf_counter() - t0)
            return step

        times, _ = time_calls({'base': stepper('base', None),
                               'option': stepper('option', option)},
                              iters, max(1, warmup), sync, tick)
        entry: dict[str, Any] = {}
        for label, ts in times.items():
            entry[f'{label}_step_ms'] = 1000 * median(ts)
            entry[f'{label}_img_per_s'] = ratio(batch, median(ts))
        entry['ratio'] = ratio(entry['option_img_per_s'], entry['base_img_per_s'])
        a, b = first['base'][0], first['option'][0]
        entry['first_loss_diff'] = None if a is None or b is None else abs(a - b)
        entry['first_step_s'] = first['option'][1]
        entry['base_first_step_s'] = first['base'][1]
        res[option] = entry
    return res


def bench_loader_workers(cfg: Config, model: torch.nn.Module, dataset: dict,
                         workers: Iterable[int], batch: int, steps: int,
                         warm_steps: int | None = None, rounds: int = 2,
                         tick: Callable[[], None] = lambda: None) -> dict:
    """Training img/s with the config's DataLoader at each worker count.

    Real steps of ``model`` on batches from ``cfg.train_dataloader`` (its
    sampler and collate) over ``dataset``, with ``num_workers`` set to each
    count in turn. Only one loader is alive at a time, so no idle loader's
    workers prefetch during another's timing: each block builds its loader,
    runs ``warm_steps`` untimed steps (default: three passes over the
    dataset, so that every worker's image cache is filled, as it is for
    most of a real run), times ``steps`` steps and shuts the loader down.
    The counts take turns over ``rounds`` (a, b, c, c, b, a, ...), and the
    median block counts.

    Args:
        cfg: the config (train_dataloader, optimizer).
        model: the model to train (copied once; all counts share the copy).
        dataset: the dataset config (e.g. :func:`train_dataset_cfg`).
        workers: the worker counts to compare.
        batch: images per step.
        steps: timed steps per block (>= 1).
        warm_steps: untimed steps per block first.
        rounds: blocks per worker count.
        tick: called after every timed block.

    Returns:
        ``{'workers': {n: {img_per_s, block_img_per_s, warm_s}}, 'batch_size',
        'configured_workers', 'ratio_vs_configured': {n: ratio}}``; ``warm_s``
        is the median time of the untimed start of a block (worker start-up
        and cold caches included).
    """
    from mmengine.runner import Runner
    from mmseg.registry import DATASETS

    counts = list(dict.fromkeys(int(w) for w in workers))
    configured = int(cfg.train_dataloader.get('num_workers', 0))
    n_samples = len(DATASETS.build(copy.deepcopy(dataset)))
    if warm_steps is None:
        warm_steps = 3 * max(1, math.ceil(n_samples / batch))
    m = copy.deepcopy(model).train()
    ow = _optim_wrapper(cfg, m)
    rates: dict[int, list[float]] = {w: [] for w in counts}
    warm: dict[int, list[float]] = {w: [] for w in counts}
    for r in range(max(1, rounds)):
        for w in (counts if r % 2 == 0 else counts[::-1]):
            dl = copy.deepcopy(cfg.train_dataloader)
            dl.update(dataset=copy.deepcopy(dataset), batch_size=batch,
                      num_workers=w, persistent_workers=w > 0)
            if w == 0:
                dl.pop('prefetch_factor', None)
            t0 = time.perf_counter()
            loader = Runner.build_dataloader(dl, seed=0)
            it = iter(loader)
            for _ in range(warm_steps):
                m.train_step(next(it), ow)
            t1 = time.perf_counter()
            for _ in range(max(1, steps)):
                m.train_step(next(it), ow)
            t2 = time.perf_counter()
            warm[w].append(t1 - t0)
            rates[w].append(batch * max(1, steps) / (t2 - t1))
            del it, loader  # shuts persistent workers down
            tick()
    res: dict[str, Any] = {'batch_size': batch, 'dataset_len': n_samples,
                           'steps': steps, 'warm_steps': warm_steps,
                           'configured_workers': configured, 'workers': {}}
    for w in counts:
        res['workers'][str(w)] = dict(img_per_s=median(rates[w]),
                                      block_img_per_s=rates[w],
                                      warm_s=median(warm[w]))
    base = res['workers'].get(str(configured), {}).get('img_per_s')
    res['ratio_vs_configured'] = {str(w): ratio(res['workers'][str(w)]['img_per_s'], base)
                                  for w in counts}
    return res
