"""How well white cells are counted on real smears with white-cell boxes.

Each BCCD and TXL-PBC field (:func:`benchmarks.rbc_size.real_fields`, from
``../shared/real``, never copied into the repository) has its white cells
boxed. :func:`~allidb_mmseg.smear.white_cells.count_white_cells` counts
them, at the red-cell size of the field's boxes (``boxes``) or at the one
the red-cell ruler measures (``ruler``, as inference does when no size is
given); the table gives, per source, the share of fields counted exactly,
the mean absolute error and the mean signed error.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from allidb_mmseg.smear.cell_scale import measure_rbc
from allidb_mmseg.smear.white_cells import count_white_cells

__all__ = ['measure_wbc_real', 'summarize_wbc', 'format_wbc']


def measure_wbc_real(fields: list[dict], progress: bool = False) -> list[dict]:
    """Count the white cells of each field with white-cell boxes.

    Args:
        fields: from :func:`benchmarks.rbc_size.real_fields`; those without
            ``wbc`` or a reference size are left out.
        progress: a progress bar.

    Returns:
        Rows with the true count and the counts at the boxes' and the
        ruler's red-cell size (None where the ruler gave no size).
    """
    import cv2
    from tqdm import tqdm

    rows = []
    for f in tqdm([f for f in fields if f.get('wbc') is not None and f['true_px']],
                  desc='fields', unit='img', disable=not progress):
        img = cv2.imread(f['file'], cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{f['file']}: not a readable image")
        ruler = measure_rbc(img).diameter
        rows.append(dict(source=f['source'], file=f['file'], true=f['wbc'],
                         boxes=count_white_cells(img, f['true_px']).count,
                         ruler=None if ruler is None
                         else count_white_cells(img, ruler).count))
    return rows


def summarize_wbc(rows: list[dict]) -> dict[str, dict]:
    """Per source and per red-cell size (boxes, ruler): fields, exact share
    (%), mean absolute and mean signed error (cells per field)."""
    out = {}
    for source in dict.fromkeys(r['source'] for r in rows):
        sel = [r for r in rows if r['source'] == source]
        s: dict = dict(fields=len(sel))
        for key in ('boxes', 'ruler'):
            err = np.array([r[key] - r['true'] for r in sel if r[key] is not None])
            s[key] = dict(exact_pct=round(100 * float(np.mean(err == 0)), 1),
                          mae=round(float(np.abs(err).mean()), 2),
                          bias=round(float(err.mean()), 2)) if err.size else None
        out[source] = s
    return out


def format_wbc(summary: dict[str, dict]) -> str:
    """The summary as a Markdown table."""
    def cells(v: Optional[dict]) -> str:
        return '- | - | -' if v is None else \
            f"{v['exact_pct']:.0f} % | {v['mae']:.2f} | {v['bias']:+.2f}"

    lines = ['| source | fields | exact (boxes) | MAE | bias | exact (ruler) | MAE | bias |',
             '|---|---|---|---|---|---|---|---|']
    for source, s in summary.items():
        lines.append(f"| {source} | {s['fields']} | {cells(s['boxes'])} | "
                     f"{cells(s['ruler'])} |")
    return '\n'.join(lines)
