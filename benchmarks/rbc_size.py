"""How well the red-cell size is measured: synthetic fields and real smears.

Why: a native-scale model sees each image at the scale the red-cell
estimate gives (:mod:`allidb_mmseg.smear.cell_scale`); an
estimate off by 10 % shows the model cells 10 % too large or small. The
synthetic smears know their true red-cell diameter, so the error can be
measured over image sizes and red-cell densities.

Real smears (:func:`real_fields`, ``../shared/real``, never copied into the
repository) have no true diameter, only boxes drawn around red cells. A
field's reference size is the median ``max(w, h)`` of its red-cell boxes
that do not touch the image border: a border box is cut, and the larger
side of a box survives a neighbour's overlap that hides part of the cell
(``sqrt(w * h)`` shrinks with every occluded box). Sources:

* BCCD (Pascal VOC boxes, 640x480);
* TXL-PBC, split by image size, which tells its merged sources apart
  (:data:`TXL_SOURCES`);
* Zheng et al. 2018, Dataset 2 (300x300 CellaVision crops): only the white
  cell is masked, so every crop gets one measured size,
  :data:`ZHENG2_RBC_PX` (see its comment); Dataset 1 (120x120) has no
  reference size and is reported for its unsure share only.
"""
from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np

from allidb_mmseg.smear.cell_scale import (RBC_CONFIDENCE_MIN, RbcMeasure,
                                           estimate_rbc_diameter, measure_rbc)
from allidb_mmseg.synthetic import render_field

__all__ = ['DEFAULT_WIDTHS', 'measure_rbc_estimates', 'summarize_estimates',
           'format_estimates', 'TXL_SOURCES', 'ZHENG2_RBC_PX', 'field_truth',
           'real_fields', 'measure_real', 'global_factor', 'summarize_real',
           'format_real', 'BOX_SIDES', 'MISREAD_PCT']

DEFAULT_WIDTHS = (320, 480, 640, 960, 1296, 1920, 2592)
# A box's size (:func:`field_truth`).
BOX_SIDES = {'max': max, 'mean': lambda w, h: (w + h) / 2}
# Off by more than this (after the global factor), a field is misread.
MISREAD_PCT = 20.0


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


# TXL-PBC's images come from four sources; their names are UUIDs, their
# sizes tell the source (the sizes its README gives for each merged set).
TXL_SOURCES = {(640, 480): 'TXL-PBC / BCCD 640x480',
               (416, 416): 'TXL-PBC / BCD 416x416',
               (360, 363): 'TXL-PBC / PBC 360x363',
               (366, 369): 'TXL-PBC / PBC 360x363',
               (575, 575): 'TXL-PBC / Raabin-WBC 575x575'}
TXL_WBC_CLASS, TXL_RBC_CLASS = 0, 1  # data.yaml: names ['WBC', 'RBC', 'Platelets']
# Zheng Dataset 2's red-cell size in its 300x300 crops, one value for all
# (one instrument, one magnification): the median max(w, h) of the boxes
# of 35 isolated, whole red cells in 23 crops (a colour-distance-from-glass
# mask, the expert white-cell mask removed, convex and round components
# only), checked by eye on a 50 px grid. The same cells: area-equivalent
# diameter 68 px, fitted ellipse minor axis 63 px (the data's README: ~65).
ZHENG2_RBC_PX = 72.0
# A field needs this many whole red-cell boxes for a reference size.
MIN_TRUTH_BOXES = 3
# A box within this many pixels of the border is cut by it.
_BORDER_PX = 2


def field_truth(boxes: Iterable[tuple[float, float, float, float]],
                width: int, height: int,
                min_boxes: int = MIN_TRUTH_BOXES, side: str = 'max') -> Optional[float]:
    """A field's reference red-cell diameter from its red-cell boxes.

    Args:
        boxes: ``(x0, y0, x1, y1)`` in pixels.
        width, height: the image size.
        min_boxes: fewer whole boxes than this give no reference.
        side: a box's size, ``'max'`` (``max(w, h)``) or ``'mean'``
            (``(w + h) / 2``, issue 17's definition).

    Returns:
        The median box size of the boxes not touching the border, or None.
    """
    size = BOX_SIDES[side]
    sides = [size(x1 - x0, y1 - y0) for x0, y0, x1, y1 in boxes
             if x0 > _BORDER_PX and y0 > _BORDER_PX
             and x1 < width - 1 - _BORDER_PX and y1 < height - 1 - _BORDER_PX]
    return float(np.median(sides)) if len(sides) >= min_boxes else None


def _voc_rbc_boxes(xml_path: Path) -> tuple[list[tuple], int, int, int]:
    """Red-cell boxes, the image size and the number of white-cell boxes."""
    root = ET.parse(xml_path).getroot()
    width = int(root.findtext('size/width'))
    height = int(root.findtext('size/height'))
    boxes, wbc = [], 0
    for obj in root.iter('object'):
        name = (obj.findtext('name') or '').strip()
        wbc += name == 'WBC'
        if name != 'RBC':
            continue
        b = obj.find('bndbox')
        boxes.append(tuple(float(b.findtext(k)) for k in
                           ('xmin', 'ymin', 'xmax', 'ymax')))
    return boxes, width, height, wbc


def _yolo_rbc_boxes(txt_path: Path, width: int, height: int) -> tuple[list[tuple], int]:
    """Red-cell boxes in pixels and the number of white-cell boxes."""
    boxes, wbc = [], 0
    for line in txt_path.read_text().splitlines():
        parts = line.split()
        wbc += len(parts) == 5 and int(float(parts[0])) == TXL_WBC_CLASS
        if len(parts) != 5 or int(float(parts[0])) != TXL_RBC_CLASS:
            continue
        cx, cy, w, h = (float(v) for v in parts[1:])
        boxes.append(((cx - w / 2) * width, (cy - h / 2) * height,
                      (cx + w / 2) * width, (cy + h / 2) * height))
    return boxes, wbc


def _spread(items: list, n: Optional[int]) -> list:
    """At most ``n`` of ``items`` (sorted), evenly spaced; all when None."""
    if n is None or len(items) <= n:
        return items
    return [items[int(i * len(items) / n)] for i in range(n)]


def real_fields(real_root: str | Path, per_source: Optional[int] = None,
                side: str = 'max') -> list[dict]:
    """The real fields with a reference red-cell size (or none: Zheng D1).

    Args:
        real_root: the folder of ``README.md`` of the shared real data
            (``bccd/``, ``txl_pbc/``, ``zheng_wbc/``); missing sources are
            skipped.
        per_source: at most this many fields per source, evenly spread
            over the sorted file names (None: all).
        side: a box's size (:func:`field_truth`).

    Returns:
        Rows ``dict(source, file, true_px, wbc)``; ``true_px`` None where
        there is no reference, ``wbc`` (white-cell boxes) None for Zheng's
        crops. Fields whose boxes give no reference are left out.
    """
    root = Path(real_root)
    by_source: dict[str, list[dict]] = {}
    bccd = root / 'bccd' / 'BCCD'
    for xml_path in sorted((bccd / 'Annotations').glob('*.xml')):
        image = bccd / 'JPEGImages' / f'{xml_path.stem}.jpg'
        boxes, width, height, wbc = _voc_rbc_boxes(xml_path)
        true = field_truth(boxes, width, height, side=side)
        if image.is_file() and true is not None:
            by_source.setdefault('BCCD 640x480', []).append(
                dict(file=str(image), true_px=true, wbc=wbc))
    txl = root / 'txl_pbc' / 'TXL_PBC'
    for image in sorted((txl / 'images').glob('*/*.jpg')):
        label = txl / 'labels' / image.parent.name / f'{image.stem}.txt'
        size = _image_size(image)
        if size not in TXL_SOURCES or not label.is_file():
            continue
        boxes, wbc = _yolo_rbc_boxes(label, *size)
        true = field_truth(boxes, *size, side=side)
        if true is not None:
            by_source.setdefault(TXL_SOURCES[size], []).append(
                dict(file=str(image), true_px=true, wbc=wbc))
    zheng = root / 'zheng_wbc'
    for folder, name, true in (('Dataset 2', 'Zheng D2 300x300', ZHENG2_RBC_PX),
                               ('Dataset 1', 'Zheng D1 120x120', None)):
        for image in sorted((zheng / folder).glob('*.bmp')):
            by_source.setdefault(name, []).append(dict(file=str(image),
                                                       true_px=true, wbc=None))
    return [dict(source=source, **f) for source, files in by_source.items()
            for f in _spread(files, per_source)]


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def measure_real(fields: list[dict],
                 measure: Callable[[np.ndarray], RbcMeasure] = measure_rbc,
                 progress: bool = False) -> list[dict]:
    """Measure each real field's red cells.

    Args:
        fields: from :func:`real_fields`.
        measure: the ruler (``img -> RbcMeasure``).
        progress: a progress bar.

    Returns:
        The rows, each with ``estimate_px``, ``error_pct`` (None without an
        estimate or a reference), ``confidence``, ``n_cells`` and
        ``seconds``.
    """
    import cv2
    from tqdm import tqdm

    rows = []
    for f in tqdm(fields, desc='fields', unit='img', disable=not progress):
        img = cv2.imread(f['file'], cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{f['file']}: not a readable image")
        t0 = time.perf_counter()
        m = measure(img)
        seconds = time.perf_counter() - t0
        err = None if m.diameter is None or f['true_px'] is None \
            else round(100.0 * (m.diameter / f['true_px'] - 1.0), 2)
        rows.append(dict(f, estimate_px=None if m.diameter is None
                         else round(m.diameter, 2), error_pct=err,
                         confidence=round(m.confidence, 3), n_cells=m.n_cells,
                         seconds=round(seconds, 4)))
    return rows


def _unsure(row: dict, threshold: float) -> bool:
    return row['estimate_px'] is None or row['confidence'] < threshold


def global_factor(rows: list[dict]) -> Optional[float]:
    """The ruler's reading over the box size: the median of ``estimate_px /
    true_px`` over the fields of the box sources (BCCD, TXL-PBC; Zheng D2's
    reference is not a box). None without such a field.

    The ruler reads the inscribed disc of a thresholded cell, inside its pale
    rim; a box is drawn around the outer edge: one factor for every source
    takes that difference of definition out, not a per-source fit.
    """
    ratios = [r['estimate_px'] / r['true_px'] for r in rows
              if r['estimate_px'] and r['true_px'] and not r['source'].startswith('Zheng')]
    return float(np.median(ratios)) if ratios else None


def _pct_of(flags: list[bool]) -> Optional[float]:
    return _round(100 * np.mean(flags)) if flags else None


def summarize_real(rows: list[dict], threshold: float = RBC_CONFIDENCE_MIN,
                   factor: Optional[float] = None) -> dict[str, dict]:
    """Per source: fields, median |error| %, share within 20 %, share
    unsure, and the share within 20 % of the fields not unsure.

    A field without an estimate counts as unsure and as not within 20 %.
    With ``factor`` (:func:`global_factor`), also after dividing every
    estimate by it: the median |error|, the share within 20 %, and the
    share flagged unsure of the fields misread by more than
    :data:`MISREAD_PCT` (or not read) and of the rest.
    """
    out = {}
    for source in dict.fromkeys(r['source'] for r in rows):
        sel = [r for r in rows if r['source'] == source]
        unsure = [_unsure(r, threshold) for r in sel]
        known = [r for r in sel if r['true_px'] is not None]
        known_unsure = [u for u, r in zip(unsure, sel) if r['true_px'] is not None]
        errs = np.array([abs(r['error_pct']) for r in known
                         if r['error_pct'] is not None])
        within = [r['error_pct'] is not None and abs(r['error_pct']) <= 20
                  for r in known]
        sure_within = [w for w, u in zip(within, known_unsure) if not u]
        out[source] = dict(
            fields=len(sel),
            median_abs_error_pct=_round(np.median(errs)) if errs.size else None,
            within_20_pct=_round(100 * np.mean(within)) if known else None,
            unsure_pct=_round(100 * np.mean(unsure)),
            sure_within_20_pct=_round(100 * np.mean(sure_within))
            if sure_within else None,
            mean_seconds=_round(np.mean([r['seconds'] for r in sel]), 3))
        if factor and known:
            off = [abs(100.0 * (r['estimate_px'] / factor / r['true_px'] - 1.0))
                   if r['estimate_px'] else np.inf for r in known]
            bad = [e > MISREAD_PCT for e in off]
            out[source].update(
                median_abs_error_after_pct=_round(np.median(off)),
                within_20_after_pct=_round(100 * (1 - np.mean(bad))),
                unsure_of_misread_pct=_pct_of([u for u, b in zip(known_unsure, bad) if b]),
                unsure_of_rest_pct=_pct_of([u for u, b in zip(known_unsure, bad) if not b]))
    return out


def _round(v: float, digits: int = 1) -> float:
    return round(float(v), digits)


def format_real(summary: dict[str, dict], threshold: Optional[float] = None,
                factor: Optional[float] = None) -> str:
    """The per-source summary as a Markdown table; with ``factor``, a second
    table of the errors after dividing by it and the flag's hits."""
    def pct(v: Optional[float]) -> str:
        return '-' if v is None else f'{v:.0f} %'

    head = ('| source | fields | median abs error | within 20 % | unsure '
            '| within 20 % of the sure | s/field |')
    lines = [head, '|---|---|---|---|---|---|---|']
    for source, s in summary.items():
        lines.append(f"| {source} | {s['fields']} | {pct(s['median_abs_error_pct'])} | "
                     f"{pct(s['within_20_pct'])} | {pct(s['unsure_pct'])} | "
                     f"{pct(s['sure_within_20_pct'])} | {s['mean_seconds']:.2f} |")
    if threshold is not None:
        lines.append(f'\nunsure: no estimate, or confidence below {threshold:.2f}')
    if factor:
        lines += [f'\nAfter dividing every estimate by the global factor {factor:.3f} '
                  '(the median ruler / box ratio over the BCCD and TXL-PBC fields); '
                  f'misread: off by more than {MISREAD_PCT:g} % or not read:\n',
                  '| source | median abs error | within 20 % | unsure of the misread '
                  '| unsure of the rest |', '|---|---|---|---|---|']
        for source, s in summary.items():
            if 'within_20_after_pct' in s:
                lines.append(f"| {source} | {pct(s['median_abs_error_after_pct'])} | "
                             f"{pct(s['within_20_after_pct'])} | "
                             f"{pct(s['unsure_of_misread_pct'])} | "
                             f"{pct(s['unsure_of_rest_pct'])} |")
    return '\n'.join(lines)
