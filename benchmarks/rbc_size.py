"""How well the red-cell size is measured: synthetic fields of known scale.

Why: a native-scale model sees each image at the scale the red-cell
estimate gives (:mod:`allidb_mmseg.smear.cell_scale`); an
estimate off by 10 % shows the model cells 10 % too large or small. The
synthetic smears know their true red-cell diameter, so the error can be
measured over image sizes and red-cell densities.
"""
from __future__ import annotations

import time
from typing import Iterable, Optional

import numpy as np

from allidb_mmseg.smear.cell_scale import estimate_rbc_diameter
from allidb_mmseg.synthetic import render_field

__all__ = ['DEFAULT_WIDTHS', 'measure_rbc_estimates', 'summarize_estimates',
           'format_estimates']

DEFAULT_WIDTHS = (320, 480, 640, 960, 1296, 1920, 2592)


def measure_rbc_estimates(widths: Iterable[int] = DEFAULT_WIDTHS,
                          per_width: int = 6, seed: int = 0,
                          rbc_density: Optional[float] = None,
                          progress: bool = False) -> list[dict]:
    """Render fields (4:3, 0-7 blasts) and estimate their red-cell size.

    Args:
        widths: field widths in pixels (red cells are about width / 25).
        per_width: fields per width.
        seed: the fields' random seed.
        rbc_density: the generator's red-cell density (None: its default,
            0.6-1.05 cell areas per field area).
        progress: a progress bar.

    Returns:
        One row per field: width, true and estimated diameter (px), the
        relative error in percent (None when the estimate gave up) and the
        time the estimate took.
    """
    from tqdm import tqdm

    jobs = [(w, i) for w in widths for i in range(per_width)]
    rows = []
    for w, i in tqdm(jobs, desc='fields', unit='img', disable=not progress):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(w, i)))
        info: dict = {}
        img, _, _ = render_field(rng, (w, w * 3 // 4), int(rng.integers(0, 8)),
                                 rbc_density=rbc_density, info=info)
        t0 = time.perf_counter()
        est = estimate_rbc_diameter(img)
        seconds = time.perf_counter() - t0
        true = float(info['rbc_diameter'])
        rows.append(dict(width=w, true_px=round(true, 2),
                         estimate_px=None if est is None else round(est, 2),
                         error_pct=None if est is None
                         else round(100.0 * (est / true - 1.0), 2),
                         seconds=round(seconds, 4)))
    return rows


def summarize_estimates(rows: list[dict]) -> dict:
    """Per width and overall: mean, std and largest absolute error (%)."""
    def stats(sel: list[dict]) -> dict:
        errs = np.array([r['error_pct'] for r in sel if r['error_pct'] is not None])
        return dict(fields=len(sel), failed=len(sel) - errs.size,
                    mean_error_pct=round(float(errs.mean()), 2) if errs.size else None,
                    std_error_pct=round(float(errs.std()), 2) if errs.size else None,
                    max_abs_error_pct=round(float(np.abs(errs).max()), 2) if errs.size else None,
                    mean_seconds=round(float(np.mean([r['seconds'] for r in sel])), 3))
    widths = sorted({r['width'] for r in rows})
    return dict(per_width={w: stats([r for r in rows if r['width'] == w]) for w in widths},
                overall=stats(rows))


def format_estimates(summary: dict) -> str:
    """The summary as a Markdown table."""
    lines = ['| width (px) | fields | mean error | std | max abs error | failed | s/field |',
             '|---|---|---|---|---|---|---|']
    items = list(summary['per_width'].items()) + [('all', summary['overall'])]

    def pct(v: Optional[float], signed: bool = False) -> str:
        return '-' if v is None else (f'{v:+.1f} %' if signed else f'{v:.1f} %')

    for w, s in items:
        lines.append(f"| {w} | {s['fields']} | {pct(s['mean_error_pct'], True)} | "
                     f"{pct(s['std_error_pct'])} | {pct(s['max_abs_error_pct'])} | "
                     f"{s['failed']} | {s['mean_seconds']:.2f} |")
    return '\n'.join(lines)
