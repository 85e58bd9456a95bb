"""(a) Whole-field inference, mmseg's stock MiT attention against the fused one."""
from __future__ import annotations

import copy
from contextlib import nullcontext
from typing import Any, Callable, Iterable

import cv2
import numpy as np
import torch
from mmengine.config import Config

from allidb_mmseg.models.fused_head import set_fused_head
from allidb_mmseg.models.fused_mit import set_fused_attention
from benchmarks.speed.timing import median, ratio, sync_for, time_calls

FULL_FIELD_HW = (1944, 2592)  # ALL-IDB1, when no test image is at hand

__all__ = ['FULL_FIELD_HW', 'build_model_pair', 'inference_input',
           'stock_attention_bytes', 'available_memory', 'bench_inference']


def build_model_pair(cfg: Config, checkpoint: str | None,
                     device: torch.device) -> tuple[torch.nn.Module,
                                                    torch.nn.Module, int]:
    """The config's model twice, same weights: mmseg's stock one and ours.

    The model is built once from the config (so a backbone with
    ``fused_attention=False``, a plain MixVisionTransformer or a plain
    ``SegformerHead`` works too), optionally loaded from ``checkpoint``,
    copied, and each copy set explicitly: "stock" runs mmseg's MiT attention
    and mmseg's ``SegformerHead``, "fused" the fused attention and
    :class:`~allidb_mmseg.models.FusedSegformerHead`. Returns (stock, fused,
    number of attention modules).
    """
    from mmengine.model import revert_sync_batchnorm
    from mmseg.registry import MODELS

    from allidb_mmseg.models.checkpoint import load_into_model

    model = MODELS.build(copy.deepcopy(cfg.model))
    model = revert_sync_batchnorm(model)  # single process: SyncBN -> BN
    if checkpoint:  # one-line error unless every tensor fits
        load_into_model(model, checkpoint)
    stock = model
    fused = copy.deepcopy(model)
    n_attn = set_fused_attention(fused, True)
    set_fused_attention(stock, False)
    set_fused_head(fused, True)
    set_fused_head(stock, False)
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
    sync = sync_for(device)
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
            entry[f'{label}_ms'] = 1000 * median(ts)
            entry[f'{label}_times_ms'] = [1000 * t for t in ts]
        entry['speedup'] = ratio(entry.get('stock_ms'), entry.get('fused_ms'))
        if len(outs) == 2:
            entry['max_abs_diff'] = float((outs['stock'] - outs['fused']).abs().max())
        res[name] = entry
    return res
