"""Timing that stays fair on a shared machine: interleaved calls, medians, safe ratios."""
from __future__ import annotations

import math
import statistics
import time
from typing import Any, Callable

import torch

__all__ = ['ratio', 'time_calls', 'median', 'sync_for', 'finite_or_none']


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


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def sync_for(device: torch.device) -> Callable[[], None]:
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
