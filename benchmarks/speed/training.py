"""(b) Training throughput in img/s: real optimizer steps, stock against fused attention."""
from __future__ import annotations

import copy
from contextlib import nullcontext
from typing import Any, Callable, Iterable

import torch
from mmengine.config import Config

from benchmarks.speed.timing import median, ratio, sync_for, time_calls

__all__ = ['crop_size_of', 'bench_training']


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
    """img/s of real optimizer steps (config's optimizer) on synthetic batches."""
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
