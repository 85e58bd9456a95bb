"""Deterministic, stratified train/val/test split of image groups.

Stratified by whether an image shows blasts (ALL) or not (healthy donor), so
small val/test sets are not all of one kind. Images are split as *groups*:
byte-identical duplicates (ALL-IDB's Im108_0 is Im093_0) must share a split, or
test leaks into train. The result depends only on names, strata and seed.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

SPLITS = ('train', 'val', 'test')
STRATA = ('all', 'healthy')


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5 + 1e-9))


def check_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    """Three non-negative ratios (train, val, test) that sum to 1."""
    ratios = tuple(float(r) for r in ratios)
    if len(ratios) != 3:
        raise ValueError(f'need 3 ratios (train val test), got {len(ratios)}')
    if any(not math.isfinite(r) or r < 0 for r in ratios):
        raise ValueError(f'ratios must be non-negative numbers, got {ratios}')
    if abs(sum(ratios) - 1.0) > 1e-3:
        raise ValueError(f'ratios must sum to 1, got {ratios} (sum {sum(ratios):g})')
    return ratios


def split_sizes(n: int, ratios: Sequence[float]) -> dict[str, int]:
    """Images per split: val and test rounded half up, train the rest.

    108 images at 0.8/0.1/0.1 give 86/11/11 as in the paper. When there are
    at least as many images as non-zero ratios, each such split gets one.
    """
    r_train, r_val, r_test = check_ratios(ratios)
    sizes = {'train': 0, 'val': _round_half_up(r_val * n),
             'test': _round_half_up(r_test * n)}
    while sizes['val'] + sizes['test'] > n:  # both rounded up past n
        sizes['test' if sizes['test'] >= sizes['val'] else 'val'] -= 1
    sizes['train'] = n - sizes['val'] - sizes['test']
    wanted = [s for s, r in zip(SPLITS, (r_train, r_val, r_test)) if r > 0]
    if n < len(wanted):  # too few images: one each, in split order
        return {s: int(s in wanted[:n]) for s in SPLITS}
    for split in wanted:
        if sizes[split] == 0:
            donor = max(SPLITS, key=lambda s: (sizes[s], -SPLITS.index(s)))
            sizes[donor] -= 1
            sizes[split] += 1
    return sizes


def stratum_targets(sizes: Mapping[str, int], n_all: int, n_healthy: int
                    ) -> dict[str, dict[str, int]]:
    """Per split, how many images of each stratum (largest remainder).

    'all' is shared pro rata, ties in split order; 'healthy' takes the rest.
    """
    n = n_all + n_healthy
    if n == 0:
        return {s: {'all': 0, 'healthy': 0} for s in SPLITS}
    quotas = {s: sizes[s] * n_all / n for s in SPLITS}
    alloc = {s: math.floor(quotas[s]) for s in SPLITS}
    order = sorted(SPLITS, key=lambda s: (-(quotas[s] - alloc[s]),
                                          SPLITS.index(s)))
    for s in order[:n_all - sum(alloc.values())]:
        alloc[s] += 1
    return {s: {'all': alloc[s], 'healthy': sizes[s] - alloc[s]}
            for s in SPLITS}


def split_groups(groups: Sequence[Sequence[str]], has_foreground: Sequence[bool],
                 ratios: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
                 ) -> dict[str, list[str]]:
    """Assign groups of image names to train/val/test; returns sorted names.

    Each stratum's groups are sorted by name, then shuffled with
    ``np.random.default_rng(seed)``; each group goes to the split with the
    largest remaining need that it fits in (a multi-image group may overshoot
    by its extra copies when nothing fits).
    """
    groups = [sorted(g) for g in groups]
    n = sum(len(g) for g in groups)
    sizes = split_sizes(n, ratios)
    n_all = sum(len(g) for g, fg in zip(groups, has_foreground) if fg)
    targets = stratum_targets(sizes, n_all, n - n_all)
    rng = np.random.default_rng(seed)
    result: dict[str, list[str]] = {s: [] for s in SPLITS}
    for stratum in STRATA:
        members = sorted((g for g, fg in zip(groups, has_foreground)
                          if fg == (stratum == 'all')), key=lambda g: g[0])
        filled = {s: 0 for s in SPLITS}
        for idx in rng.permutation(len(members)):
            group = members[idx]
            need = {s: targets[s][stratum] - filled[s] for s in SPLITS}
            fits = [s for s in SPLITS if need[s] >= len(group)] or list(SPLITS)
            split = max(fits, key=lambda s: (need[s], -SPLITS.index(s)))
            filled[split] += len(group)
            result[split].extend(group)
    return {s: sorted(names) for s, names in result.items()}
