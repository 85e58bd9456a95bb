"""Per-image results of inference: the report rows and the overlay picture (full size for
a field; for a streamed image or slide, an overview small enough to look at)."""
from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np

from ..evaluation.counting import AllRule, Blast, BlastCount, count_blasts
from ..io.rows import RowSource
from ..utils import BLAST_CLASS, atomic_write_json, atomic_write_text, map_nested

__all__ = ['ImageRow', 'REPORT_FIELDS', 'draw_overlay', 'write_reports', 'report_document',
           'summary_line', 'blast_numbers', 'analyse', 'SCALED_MIN_AREA',
           'OVERLAY_MAX_SIDE', 'overlay_step', 'shrink', 'draw_overview']

REPORT_FIELDS = ['file', 'name', 'status', 'error', 'width', 'height',
                 'blast_count', 'blast_area_fraction', 'mean_blast_prob',
                 'all_suspected', 'smear_score', 'all_rule', 'wbc_count',
                 'blast_share', 'mask', 'overlay', 'ood_score', 'ood_flag',
                 'scale_unsure']

CONTOUR_BGR = (0, 255, 255)   # yellow: visible on pink/purple stains
TEXT_BGR = (0, 255, 0)
OVERLAY_MAX_SIDE = 4096
# Blast numbers are drawn on an overview only up to this many blasts.
MAX_NUMBERED = 300
# Source pixels resized at once for an overview.
_SHRINK_PIXELS = 2**25
# The report's setting when each image's minimum blast area follows its
# red-cell size (rows state their own area in ``all_rule``).
SCALED_MIN_AREA = 'per image, from its red-cell size'


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
    # The evidence for the ALL flag (evaluation.smear_call.smear_score).
    smear_score: float | None = None
    all_rule: str = ''
    # White cells counted from their nuclei (smear.white_cells), blasts
    # included, and the blasts' share of them; None for streamed inputs
    # (large images, slides) and where the red-cell size is unknown.
    wbc_count: int | None = None
    blast_share: float | None = None
    mask: str = ''
    overlay: str = ''
    blasts: list[dict] = field(default_factory=list)  # JSON only
    # How unlike the training data the smear looks (> 1: flagged); None
    # when the model has no stain reference (docs/stain_robustness.md).
    ood_score: float | None = None
    ood_flag: bool | None = None
    # The working scale rests on a red-cell measurement the ruler does not
    # trust (smear.cell_scale.measure_rbc; docs/real_data.md): blasts may
    # be seen too large or too small. None otherwise.
    scale_unsure: bool | None = None
    # JSON only: how a slide or large image was read and scaled (empty for
    # ordinary images); see docs/slides_and_large_images.md.
    inference: dict = field(default_factory=dict)

    def fill(self, numbers: dict[str, Any]) -> None:
        """Set the columns ``numbers`` holds (:func:`blast_numbers`)."""
        for k, v in numbers.items():
            setattr(self, k, v)

    def csv_row(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k in REPORT_FIELDS}
        for k in ('blast_area_fraction', 'mean_blast_prob', 'smear_score', 'blast_share',
                  'ood_score'):
            if d[k] is not None:
                d[k] = f'{d[k]:.6f}'
        return {k: '' if v is None else v for k, v in d.items()}


def blast_numbers(blasts: list[Blast], blast_pixels: int, total_pixels: int,
                  prob_sum: float | None, rule: AllRule, min_area: int
                  ) -> dict[str, Any]:
    """An image's report numbers (the :class:`ImageRow` fields they fill)
    from its counted ``blasts`` and the ALL-suspected ``rule``.

    Args:
        blast_pixels: pixels predicted as blast (counted or not).
        total_pixels: the mask's pixels.
        prob_sum: the blast probability summed over those pixels, or None.
        min_area: the minimum blast area the rule's text states.
    """
    fraction = blast_pixels / total_pixels
    mean_prob = prob_sum / blast_pixels \
        if prob_sum is not None and blast_pixels else None
    flagged, score = rule.decide(blasts, fraction, min_area)
    return dict(blast_count=len(blasts), blast_area_fraction=fraction,
                mean_blast_prob=mean_prob, all_suspected=flagged, smear_score=score,
                all_rule=rule.text(min_area), blasts=[asdict(b) for b in blasts])


def overlay_style(shape: tuple[int, ...]) -> tuple[float, int]:
    """(text scale, line width) for marks on an image of ``shape``, growing
    with it so they stay readable on a thumbnail and a 2592-pixel field alike."""
    scale = max(shape[:2]) / 1000.0
    return scale, max(1, round(2 * scale))


def draw_label(out: np.ndarray, label: int, centroid: tuple[float, float],
               scale: float, thick: int) -> None:
    """A blast's number at its centroid (x, y), in place."""
    cx, cy = (int(round(v)) for v in centroid)
    cv2.putText(out, str(label), (cx, cy), cv2.FONT_HERSHEY_SIMPLEX,
                0.5 * scale + 0.3, TEXT_BGR, thick, cv2.LINE_AA)


def draw_banner(out: np.ndarray, count: int, flagged: bool | None,
                scale: float, thick: int) -> None:
    """``blasts: N`` and the ALL flag in the top-left corner, in place."""
    text = f'blasts: {count}'
    if flagged is not None:
        text += '  ALL suspected' if flagged else '  no ALL flag'
    font = cv2.FONT_HERSHEY_SIMPLEX
    fs = 0.8 * scale + 0.4
    (tw, th), base = cv2.getTextSize(text, font, fs, thick + 1)
    pad = max(4, th // 3)
    cv2.rectangle(out, (0, 0), (tw + 2 * pad, th + base + 2 * pad), (0, 0, 0), -1)
    cv2.putText(out, text, (pad, pad + th), font, fs, (255, 255, 255),
                thick + 1, cv2.LINE_AA)


def draw_overlay(img: np.ndarray, count: BlastCount, flagged: bool | None = None
                 ) -> np.ndarray:
    """The image with each blast's contour, its number, and ``blasts: N``."""
    out = img.copy()
    scale, thick = overlay_style(out.shape)
    for b in count.blasts:
        x, y, bw, bh = b.bbox
        sel = (count.labels[y:y + bh, x:x + bw] == b.label).astype(np.uint8)
        contours, _ = cv2.findContours(sel, cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE, offset=(x, y))
        cv2.drawContours(out, contours, -1, CONTOUR_BGR, thick, cv2.LINE_AA)
        draw_label(out, b.label, b.centroid, scale, thick)
    draw_banner(out, count.count, flagged, scale, thick)
    return out


def overlay_step(height: int, width: int) -> int:
    """Mask pixels per overlay pixel: the overlay's long side at most
    :data:`OVERLAY_MAX_SIDE`."""
    return max(1, math.ceil(max(height, width) / OVERLAY_MAX_SIDE))


def shrink(source: RowSource, height: int, width: int) -> np.ndarray:
    """``source`` area-averaged to ``height`` x ``width``, read in bands."""
    out = np.empty((height, width, 3), np.uint8)
    fy = source.height / height
    rows = max(1, int(_SHRINK_PIXELS / (source.width * fy)))
    for t0 in range(0, height, rows):
        t1 = min(height, t0 + rows)
        y0 = min(source.height - 1, int(round(t0 * fy)))
        y1 = max(y0 + 1, min(source.height, int(round(t1 * fy))))
        out[t0:t1] = cv2.resize(source.read_rows(y0, y1), (width, t1 - t0),
                                interpolation=cv2.INTER_AREA)
    return out


def draw_overview(img: np.ndarray, thumb: np.ndarray, blasts: list[Blast],
                  step: float, flagged: bool | None) -> np.ndarray:
    """Blast outlines (from the small mask), numbers and the count, drawn in
    place on the small image ``img``; ``blasts`` are in mask pixels, ``step``
    mask pixels per overview pixel."""
    scale, thick = overlay_style(img.shape)
    contours, _ = cv2.findContours(thumb.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    # Cells are small on an overview: thinner outlines than on a field.
    cv2.drawContours(img, contours, -1, CONTOUR_BGR, max(1, thick // 3),
                     cv2.LINE_AA)
    if len(blasts) <= MAX_NUMBERED:
        for b in blasts:
            draw_label(img, b.label, (b.centroid[0] / step, b.centroid[1] / step),
                       scale, thick)
    draw_banner(img, len(blasts), flagged, scale, thick)
    return img


def summary(rows: list[ImageRow]) -> dict[str, int]:
    ok = [r for r in rows if r.status == 'ok']
    return dict(images=len(rows), ok=len(ok), failed=len(rows) - len(ok),
                all_suspected=sum(bool(r.all_suspected) for r in ok),
                blasts=sum(r.blast_count or 0 for r in ok),
                ood_flagged=sum(bool(r.ood_flag) for r in ok),
                scale_unsure=sum(bool(r.scale_unsure) for r in ok))


def summary_line(rows: list[ImageRow]) -> str:
    s = summary(rows)
    return (f"{s['images']} images: {s['ok']} segmented, {s['failed']} failed; "
            f"{s['blasts']} blasts; {s['all_suspected']} ALL-suspected")


def write_reports(rows: list[ImageRow], csv_path: str | os.PathLike,
                  json_path: str | os.PathLike,
                  settings: dict[str, Any] | None = None) -> None:
    """report.csv (one row per image) and report.json (rows with per-blast
    stats, the settings used and a summary)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=REPORT_FIELDS, lineterminator='\n')
    writer.writeheader()
    writer.writerows(r.csv_row() for r in rows)
    atomic_write_text(csv_path, buf.getvalue())
    atomic_write_json(json_path, report_document(rows, settings), indent=1)


def report_document(rows: list[ImageRow],
                    settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The content of report.json: summary, settings and rows (NaN as None)."""
    return map_nested(dict(summary=summary(rows), settings=settings or {},
                           images=[asdict(r) for r in rows]),
                      lambda v: None if isinstance(v, float) and not math.isfinite(v) else v)


def analyse(mask: np.ndarray, prob: np.ndarray | None, min_area: int,
            rule: AllRule) -> tuple[Any, dict[str, Any]]:
    """Count blasts in a class mask; the report's numbers for it."""
    blast = mask == BLAST_CLASS
    n_blast = int(np.count_nonzero(blast))
    prob_sum = None
    if prob is not None:
        # Summed in float64 over row bands: float16 sums lose precision, and
        # a whole-image float64 copy would cost 8 bytes per pixel.
        prob_sum = sum(float(prob[r:r + 1024][blast[r:r + 1024]].sum(dtype=np.float64))
                       for r in range(0, prob.shape[0], 1024))
    count = count_blasts(blast, min_area=min_area, prob=prob)
    del blast
    return count, blast_numbers(count.blasts, n_blast, mask.size, prob_sum,
                                rule, min_area)
