"""Per-image results of inference: the overlay picture and the report rows.

The report is what a user reads first, so one row holds everything about an
image (size, count, area, confidence, the ALL flag and the rule behind it)
and failed files are rows too, with the reason, so nothing goes missing
silently. Both CSV (spreadsheets) and JSON (scripts) are written, each to a
temporary name first and then renamed, so an interrupted run never leaves a
half-written report.
"""
from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np

from ..evaluation.counting import BlastCount
from ..utils import atomic_write_bytes

__all__ = ['ImageRow', 'REPORT_FIELDS', 'draw_overlay', 'write_reports',
           'summary_line']

REPORT_FIELDS = ['file', 'name', 'status', 'error', 'width', 'height',
                 'blast_count', 'blast_area_fraction', 'mean_blast_prob',
                 'all_suspected', 'all_rule', 'mask', 'overlay',
                 'ood_score', 'ood_flag']

CONTOUR_BGR = (0, 255, 255)   # yellow: visible on pink/purple stains
TEXT_BGR = (0, 255, 0)


@dataclass
class ImageRow:
    """One image in report.csv / report.json (failed images included)."""

    file: str
    name: str
    status: str = 'ok'          # 'ok' or 'failed'
    error: str = ''
    width: int | None = None
    height: int | None = None
    blast_count: int | None = None
    blast_area_fraction: float | None = None
    mean_blast_prob: float | None = None   # over predicted blast pixels
    all_suspected: bool | None = None
    all_rule: str = ''
    mask: str = ''
    overlay: str = ''
    blasts: list[dict] = field(default_factory=list)  # JSON only
    # How unlike the training data the smear looks (> 1: flagged); None
    # when the model has no stain reference (docs/stain_robustness.md).
    ood_score: float | None = None
    ood_flag: bool | None = None

    def csv_row(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop('blasts')
        for k in ('blast_area_fraction', 'mean_blast_prob', 'ood_score'):
            if d[k] is not None:
                d[k] = f'{d[k]:.6f}'
        return {k: '' if v is None else v for k, v in d.items()}


def draw_overlay(img: np.ndarray, count: BlastCount, flagged: bool | None = None
                 ) -> np.ndarray:
    """The image with each blast's contour, its number, and ``blasts: N``.

    Line widths and text scale with the image, so the marks stay readable on
    a 640-pixel thumbnail and on a 2592-pixel field alike.
    """
    out = img.copy()
    h, w = out.shape[:2]
    scale = max(h, w) / 1000.0
    thick = max(1, round(2 * scale))
    font = cv2.FONT_HERSHEY_SIMPLEX
    for b in count.blasts:
        x, y, bw, bh = b.bbox
        sel = (count.labels[y:y + bh, x:x + bw] == b.label).astype(np.uint8)
        contours, _ = cv2.findContours(sel, cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE, offset=(x, y))
        cv2.drawContours(out, contours, -1, CONTOUR_BGR, thick, cv2.LINE_AA)
        cx, cy = (int(round(v)) for v in b.centroid)
        cv2.putText(out, str(b.label), (cx, cy), font, 0.5 * scale + 0.3,
                    TEXT_BGR, thick, cv2.LINE_AA)
    text = f'blasts: {count.count}'
    if flagged is not None:
        text += '  ALL suspected' if flagged else '  no ALL flag'
    fs = 0.8 * scale + 0.4
    (tw, th), base = cv2.getTextSize(text, font, fs, thick + 1)
    pad = max(4, th // 3)
    cv2.rectangle(out, (0, 0), (tw + 2 * pad, th + base + 2 * pad), (0, 0, 0), -1)
    cv2.putText(out, text, (pad, pad + th), font, fs, (255, 255, 255),
                thick + 1, cv2.LINE_AA)
    return out


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


def summary(rows: list[ImageRow]) -> dict[str, int]:
    ok = [r for r in rows if r.status == 'ok']
    return dict(images=len(rows), ok=len(ok), failed=len(rows) - len(ok),
                all_suspected=sum(bool(r.all_suspected) for r in ok),
                blasts=sum(r.blast_count or 0 for r in ok),
                ood_flagged=sum(bool(r.ood_flag) for r in ok))


def summary_line(rows: list[ImageRow]) -> str:
    s = summary(rows)
    return (f"{s['images']} images: {s['ok']} segmented, {s['failed']} failed; "
            f"{s['blasts']} blasts; {s['all_suspected']} ALL-suspected")


def write_reports(rows: list[ImageRow], csv_path: str | os.PathLike,
                  json_path: str | os.PathLike,
                  settings: dict[str, Any] | None = None) -> None:
    """report.csv (one row per image) and report.json (rows with per-blast
    stats, the settings used and a summary)."""
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=REPORT_FIELDS, lineterminator='\n')
    writer.writeheader()
    for r in rows:
        writer.writerow(r.csv_row())
    atomic_write_bytes(csv_path, buf.getvalue().encode())
    doc = dict(summary=summary(rows), settings=settings or {},
               images=[asdict(r) for r in rows])
    atomic_write_bytes(json_path, (json.dumps(_json_safe(doc), indent=1)
                                   + '\n').encode())
