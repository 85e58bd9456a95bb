"""Validation metrics against iteration, for several training runs in one figure.

Why: choosing between losses (or scales) by one final number hides whether a
run was still improving or had collapsed; the curves of every validation
show it. mmengine records each validation in ``<run>/vis_data/scalars.json``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from allidb_mmseg.utils import AllidbError, atomic_write

__all__ = ['read_val_scalars', 'plot_val_curves']


def read_val_scalars(work_dir: str | Path) -> list[dict]:
    """Every validation of the training run in ``work_dir``, in step order.

    The run is the timestamped folder whose ``vis_data/scalars.json`` holds
    the most validations (tests of a checkpoint hold one).
    """
    best: list[dict] = []
    for path in sorted(Path(work_dir).glob('*/vis_data/scalars.json')):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line]
        vals = [r for r in rows if 'mIoU' in r and 'step' in r]
        if len(vals) > len(best):
            best = vals
    if not best:
        raise AllidbError(work_dir, 'no validation results (*/vis_data/scalars.json)')
    return sorted(best, key=lambda r: r['step'])


def plot_val_curves(runs: dict[str, list[dict]], metrics: Sequence[str],
                    path: str | Path, title: str = '') -> str:
    """One panel per metric, one line per run; written atomically as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5 * len(metrics), 3.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        for label, rows in runs.items():
            pts = [(r['step'], r[metric]) for r in rows if r.get(metric) is not None]
            if pts:
                ax.plot(*zip(*pts), marker='o', label=label)
        ax.set(xlabel='iteration', title=metric)
        ax.grid(alpha=0.3)
    axes[0].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=90, format='png'))
    return str(path)
