"""Side-by-side speed measurements for a config: every number is a ratio from one run.

Three comparisons, each timed in the same process on the same machine:

(a) whole-field inference, mmseg's stock MiT attention against the fused one
    (same weights; fp32, and bf16 autocast when CUDA is used);
(b) training throughput in img/s (real optimizer steps on crop x crop batches),
    stock against fused attention;
(c) data-pipeline samples/s in one process (= one DataLoader worker): the
    config's training datasets as they are, against the naive variant that
    decodes every full-size file (``LoadImageFromFile``, no cache).

mmseg's own benchmark averages over 200 test iterations and prints NaN on an
11-image split; here images are cycled, every median has at least one timing,
and undefined ratios are reported as null / "n/a", never NaN.
"""
from __future__ import annotations

import copy
import math
import os
import os.path as osp
import platform
import random
import statistics
import time
from contextlib import nullcontext
from typing import Any, Callable, Iterable

import cv2
import numpy as np
import torch
from mmengine.config import Config

from .models.fused_mit import set_fused_attention
from .transforms.cache import CachedCompose

IMG_EXTS = ('.jpg', '.jpeg', '.png', '.tif', '.tiff', '.bmp')
FULL_FIELD_HW = (1944, 2592)  # ALL-IDB1, when no test image is at hand
SPLITS = ('test', 'val', 'train')


# --------------------------------------------------------------------------
# timing helpers
# --------------------------------------------------------------------------
def ratio(num: float | None, den: float | None) -> float | None:
    """num / den, or None when either is missing, non-finite or den <= 0."""
    if num is None or den is None:
        return None
    if not (math.isfinite(num) and math.isfinite(den)) or den <= 0:
        return None
    return num / den


def time_calls(fns: dict[str, Callable[[], Any]], iters: int, warmup: int = 1,
               sync: Callable[[], None] = lambda: None,
               tick: Callable[[], None] = lambda: None
               ) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Wall seconds of ``iters`` (>= 1) calls of each function, interleaved.

    The functions take turns (a, b, b, a, a, b, ...) after ``warmup`` rounds,
    so a change in machine load during the run hits every variant alike and
    the ratios stay meaningful on a shared machine. Returns the times and
    each function's last output.
    """
    names = list(fns)
    outs: dict[str, Any] = {}
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(max(0, warmup)):
        for n in names:
            outs[n] = fns[n]()
            sync()
            tick()
    for i in range(max(1, iters)):
        for n in (names if i % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            outs[n] = fns[n]()
            sync()
            times[n].append(time.perf_counter() - t0)
            tick()
    return times, outs


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def _sync_for(device: torch.device) -> Callable[[], None]:
    if device.type == 'cuda':
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def finite_or_none(obj: Any) -> Any:
    """Replace NaN/inf anywhere in a JSON-like structure by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


# --------------------------------------------------------------------------
# config and data discovery
# --------------------------------------------------------------------------
def crop_size_of(cfg: Config) -> tuple[int, int]:
    """(h, w) of the training input: cfg.crop_size, else the preprocessor size."""
    size = cfg.get('crop_size') or \
        (cfg.model.get('data_preprocessor') or {}).get('size') or (512, 512)
    return int(size[0]), int(size[1])


def find_pairs(data_root: str, split: str, seg_suffix: str = '.png'
               ) -> list[tuple[str, str]]:
    """(image, mask) paths of ``split`` in mmseg's img_dir/ann_dir layout."""
    img_dir = osp.join(data_root, 'img_dir', split)
    ann_dir = osp.join(data_root, 'ann_dir', split)
    if not osp.isdir(img_dir):
        return []
    pairs = []
    for name in sorted(os.listdir(img_dir)):
        stem, ext = osp.splitext(name)
        mask = osp.join(ann_dir, stem + seg_suffix)
        if ext.lower() in IMG_EXTS and osp.isfile(mask):
            pairs.append((osp.join(img_dir, name), mask))
    return pairs


def choose_split(data_root: str, split: str | None = None
                 ) -> tuple[str, list[tuple[str, str]]]:
    """The requested split, else the first of test/val/train holding pairs."""
    for name in ([split] if split else SPLITS):
        pairs = find_pairs(data_root, name)
        if pairs:
            return name, pairs
    return split or '', []


# --------------------------------------------------------------------------
# (a) inference, stock against fused attention
# --------------------------------------------------------------------------
def build_model_pair(cfg: Config, checkpoint: str | None,
                     device: torch.device) -> tuple[torch.nn.Module,
                                                    torch.nn.Module, int]:
    """The config's model twice, same weights: stock attention and fused.

    The model is built once from the config (so a backbone with
    ``fused_attention=False`` or a plain MixVisionTransformer works too),
    optionally loaded from ``checkpoint``, copied, and each copy's attention
    set explicitly. Returns (stock, fused, number of attention modules).
    """
    from mmengine.model import revert_sync_batchnorm
    from mmengine.runner import load_checkpoint
    from mmseg.registry import MODELS

    model = MODELS.build(copy.deepcopy(cfg.model))
    model = revert_sync_batchnorm(model)  # single process: SyncBN -> BN
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True,
                        logger='silent')
    stock = model
    fused = copy.deepcopy(model)
    n_attn = set_fused_attention(fused, True)
    set_fused_attention(stock, False)
    fused.load_state_dict(stock.state_dict(), strict=True)
    return stock.to(device), fused.to(device), n_attn


def inference_input(cfg: Config, image_path: str | None, scale: float,
                    device: torch.device) -> torch.Tensor:
    """A normalised (1, 3, H, W) field: the image at ``scale`` of its size,
    or a synthetic full ALL-IDB-sized field when there is no image."""
    if image_path is not None:
        img = cv2.imread(image_path, cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f'{image_path}: cannot decode image')
    else:
        rng = np.random.default_rng(0)
        img = rng.integers(0, 256, (*FULL_FIELD_HW, 3), dtype=np.uint8)
    if scale != 1.0:
        h, w = img.shape[:2]
        img = cv2.resize(img, (max(32, round(w * scale)),
                               max(32, round(h * scale))),
                         interpolation=cv2.INTER_AREA)
    pre = cfg.model.get('data_preprocessor') or {}
    mean = np.array(pre.get('mean', [123.675, 116.28, 103.53]), np.float32)
    std = np.array(pre.get('std', [58.395, 57.12, 57.375]), np.float32)
    if pre.get('bgr_to_rgb', False):
        img = img[..., ::-1]
    x = (img.astype(np.float32) - mean) / std
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(device)


def stock_attention_bytes(model: torch.nn.Module, hw: tuple[int, int],
                          dtype: torch.dtype) -> int:
    """Peak extra memory of the stock attention: the weights it materialises.

    nn.MultiheadAttention with need_weights=True holds the (heads, queries,
    keys) matrix twice during the softmax; the largest layer sets the peak.
    Uses mmseg MiT's structure (patch-embed convs, sr_ratio); 0 if unknown.
    """
    from mmseg.models.backbones.mit import EfficientMultiheadAttention
    backbone = getattr(model, 'backbone', model)
    stages = getattr(backbone, 'layers', None)
    if stages is None:
        return 0
    h, w = hw
    peak = 0
    elem = torch.finfo(dtype).bits // 8
    for stage in stages:
        conv = getattr(stage[0], 'projection', None)
        if conv is None:
            return 0
        (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
        h = (h + 2 * ph - kh) // sh + 1
        w = (w + 2 * pw - kw) // sw + 1
        for m in stage.modules():
            if isinstance(m, EfficientMultiheadAttention):
                sr = m.sr_ratio
                n_kv = (h // sr) * (w // sr) if sr > 1 else h * w
                peak = max(peak, 2 * m.attn.num_heads * h * w * n_kv * elem)
    return peak


def available_memory(device: torch.device) -> int | None:
    """Bytes free for a new allocation on ``device`` (None if unknown)."""
    if device.type == 'cuda':
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def bench_inference(stock: torch.nn.Module, fused: torch.nn.Module,
                    x: torch.Tensor, iters: int, warmup: int,
                    dtypes: Iterable[str], tick: Callable[[], None] = lambda: None
                    ) -> dict:
    """Median latency of whole-field ``predict`` for each model and dtype."""
    device = x.device
    sync = _sync_for(device)
    stock.eval()
    fused.eval()
    res: dict[str, Any] = {'input_hw': list(x.shape[2:])}
    for name in dtypes:
        dtype = torch.bfloat16 if name == 'bf16' else torch.float32
        def ctx(dtype: torch.dtype = dtype, name: str = name) -> Any:
            return (torch.autocast(device.type, dtype=dtype) if name == 'bf16'
                    else nullcontext())

        need = stock_attention_bytes(stock, tuple(x.shape[2:]), dtype)
        free = available_memory(device)
        entry: dict[str, Any] = {'stock_attention_peak_bytes': need}
        models = {'fused': fused, 'stock': stock}
        if free is not None and need > 0.6 * free:
            entry['stock_skipped'] = (
                f'stock attention needs ~{need / 2**30:.1f} GiB, '
                f'{free / 2**30:.1f} GiB free; use --infer-scale < 1')
            del models['stock']

        def predictor(model: torch.nn.Module, ctx: Any = ctx
                      ) -> Callable[[], torch.Tensor]:
            def run() -> torch.Tensor:
                with torch.inference_mode(), ctx():
                    return model.predict(x)[0].seg_logits.data.float()
            return run

        times, outs = time_calls({k: predictor(m) for k, m in models.items()},
                                 iters, warmup, sync, tick)
        for label, ts in times.items():
            entry[f'{label}_ms'] = 1000 * _median(ts)
            entry[f'{label}_times_ms'] = [1000 * t for t in ts]
        entry['speedup'] = ratio(entry.get('stock_ms'), entry.get('fused_ms'))
        if len(outs) == 2:
            entry['max_abs_diff'] = float((outs['stock'] - outs['fused']).abs().max())
        res[name] = entry
    return res


# --------------------------------------------------------------------------
# (b) training throughput
# --------------------------------------------------------------------------
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
    sync = _sync_for(device)
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
            med = _median(ts)
            entry[f'{label}_step_ms'] = 1000 * med
            entry[f'{label}_img_per_s'] = ratio(batch, med)
        entry['speedup'] = ratio(entry['fused_img_per_s'], entry['stock_img_per_s'])
        res[name] = entry
    return res


# --------------------------------------------------------------------------
# (c) data pipeline
# --------------------------------------------------------------------------
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


def _dataset_nodes(ds: Any) -> Iterable[dict]:
    if isinstance(ds, dict):
        yield ds
        for inner in ds.get('datasets', []) or []:
            yield from _dataset_nodes(inner)
        yield from _dataset_nodes(ds.get('dataset'))


def train_dataset_cfg(cfg: Config, data_root: str, split: str,
                      naive: bool = False) -> dict:
    """The config's training dataset, pointed at ``split`` of ``data_root``."""
    ds = copy.deepcopy(cfg.train_dataloader.dataset)
    for node in _dataset_nodes(ds):
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
    ``epochs`` whole passes so that every view of a ConcatDataset counts. Files are read once beforehand, so both
    sides see the OS file cache.
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


# --------------------------------------------------------------------------
# the whole benchmark
# --------------------------------------------------------------------------
def run_benchmark(cfg: Config, *, checkpoint: str | None, data_root: str,
                  split: str | None = None, device: str | None = None,
                  iters: int | None = None, warmup: int = 1,
                  infer_scale: float | None = None, batch_size: int | None = None,
                  pipeline_samples: int | None = None, quick: bool = False,
                  bar: Any = None) -> dict:
    """Run (a), (b) and (c) for ``cfg`` and return one JSON-ready dict.

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
                     + views * len(pairs))
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
    del stock, fused
    stage('(c) data pipeline')
    result['pipeline'] = bench_pipeline(cfg, data_root, split,
                                        pipeline_samples, epochs, tick)
    return finite_or_none(result)


def _fmt(v: float | None, spec: str = '.1f', suffix: str = '') -> str:
    return 'n/a' if v is None else f'{v:{spec}}{suffix}'


def markdown_table(result: dict) -> str:
    """The README table: one row per comparison, the ratio last."""
    inf, tr, pl = result['inference'], result['training'], result['pipeline']
    h, w = inf['input_hw']
    rows = ['| measurement | stock attention / naive loading | fused / config\'s '
            'pipeline | ratio |', '|---|---|---|---|']
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
    for kind, label in (('warm', 'later epochs'), ('cold', 'first epoch')):
        rows.append(f'| data pipeline, {label}, samples/s per worker | '
                    f'{_fmt(pl["naive"]["samples_per_s"])} | '
                    f'{_fmt(pl[f"ours_{kind}"]["samples_per_s"])} | '
                    f'{_fmt(pl[f"speedup_{kind}"], ".2f", "x")} |')
    return '\n'.join(rows)
