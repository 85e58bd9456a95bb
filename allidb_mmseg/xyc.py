"""ALL-IDB1 blast centres (``.xyc``): read them, score counts, bootstrap masks.

ALL-IDB1 publishes no pixel masks, only one ``.xyc`` file per image with the
centre of every blast ("x y" per line; empty for a healthy smear). These are
enough to (a) score a model's blast *counts* and ALL/healthy calls, and (b)
bootstrap training polygons, so users can train without annotating in CVAT.

Matching rule (:func:`match_centres`): a centre inside a predicted blast is a
hit. A predicted blast holding no centre is a false positive. A centre in no
predicted blast is a miss, and so is every centre beyond the first in one
predicted blast (two blasts predicted as one: one hit, one miss).
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from .counting import DEFAULT_MIN_BLAST_AREA, AllRule, count_blasts

__all__ = ['XycError', 'read_xyc', 'write_xyc', 'CountScore', 'match_centres',
           'score_counts', 'bootstrap_polygons', 'stain_feature']

# The field's level is the brightest of its non-cell parts (background
# rather than red cells): this percentile of the feature away from the centres.
FIELD_PERCENTILE = 80
_SPLIT = re.compile(r'[\s,;]+')


class XycError(ValueError):
    """A malformed .xyc file; ``str()`` names the line."""


def read_xyc(path: str | os.PathLike) -> np.ndarray:
    """Centres as an (N, 2) float array of (x, y) pixels; (0, 2) if empty.

    Accepts whitespace, comma or semicolon separators and blank lines.
    """
    pts = []
    text = Path(path).read_text(encoding='utf-8', errors='replace')
    for no, line in enumerate(text.splitlines(), start=1):
        fields = [f for f in _SPLIT.split(line.strip()) if f]
        if not fields:
            continue
        try:
            if len(fields) != 2:
                raise ValueError
            x, y = float(fields[0]), float(fields[1])
            if not (np.isfinite(x) and np.isfinite(y)):
                raise ValueError
        except ValueError:
            raise XycError(f'line {no}: expected "x y", got {line.strip()[:40]!r}')
        pts.append((x, y))
    return np.array(pts, np.float64).reshape(-1, 2)


def write_xyc(path: str | os.PathLike, centres) -> None:
    """Write centres in ALL-IDB1's format (integer "x y" per line)."""
    lines = [f'{int(round(x))} {int(round(y))}' for x, y in np.reshape(centres, (-1, 2))]
    Path(path).write_text(''.join(f'{ln}\n' for ln in lines))


# ---------------------------------------------------------------- scoring --

@dataclass
class CountScore:
    """Scores of one image (or, summed, of a set): see the module docstring."""

    true_count: int
    pred_count: int
    hits: int
    false_positives: int
    misses: int

    @property
    def precision(self) -> float:
        d = self.hits + self.false_positives
        return self.hits / d if d else 1.0

    @property
    def recall(self) -> float:
        d = self.hits + self.misses
        return self.hits / d if d else 1.0

    @property
    def count_error(self) -> int:
        """Predicted minus true count (signed)."""
        return self.pred_count - self.true_count

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(precision=self.precision, recall=self.recall,
                 count_error=self.count_error)
        return d


def match_centres(labels: np.ndarray, centres: np.ndarray) -> CountScore:
    """Score predicted blast ``labels`` (0 = none, k = blast k) against centres.

    A centre is looked up at its pixel ``(int(y), int(x))``; centres outside
    the image are misses. Precision or recall with nothing to count is 1.
    """
    h, w = labels.shape
    n_pred = int(labels.max()) if labels.size else 0
    hit_labels: list[int] = []
    for x, y in np.reshape(centres, (-1, 2)):
        xi, yi = int(np.floor(x)), int(np.floor(y))
        if 0 <= xi < w and 0 <= yi < h and labels[yi, xi] > 0:
            hit_labels.append(int(labels[yi, xi]))
    found = set(hit_labels)
    n_true = int(np.reshape(centres, (-1, 2)).shape[0])
    hits = len(found)
    return CountScore(true_count=n_true, pred_count=n_pred, hits=hits,
                      false_positives=n_pred - hits, misses=n_true - hits)


def score_counts(pred_mask: np.ndarray, centres: np.ndarray,
                 min_area: int = DEFAULT_MIN_BLAST_AREA,
                 rule: AllRule = AllRule()) -> dict:
    """One image's row for eval_counts: scores plus the ALL/healthy call.

    Blasts are counted exactly as ``tools/infer.py`` counts them
    (components of class 1 above ``min_area``, touching blasts split).
    The truth is ALL when the image has at least one centre.
    """
    blast = np.asarray(pred_mask) == 1
    count = count_blasts(blast, min_area=min_area)
    score = match_centres(count.labels, centres)
    fraction = float(blast.mean()) if blast.size else 0.0
    pred_all = rule.applies(count.count, fraction)
    true_all = score.true_count > 0
    return dict(score.as_dict(), pred_all=pred_all, true_all=true_all,
                all_correct=pred_all == true_all)


# -------------------------------------------------------------- bootstrap --

def stain_feature(img_bgr: np.ndarray) -> np.ndarray:
    """Blue minus red, float32: high for white cells, low for the rest.

    In May-Grunwald-Giemsa smears, blast nuclei (purple) and cytoplasm (sky
    blue) both transmit more blue than red; red cells (eosin pink) and the
    pale background do not. So one threshold finds whole white cells.
    """
    b, _, r = cv2.split(img_bgr)
    f = b.astype(np.float32) - r.astype(np.float32)
    return cv2.GaussianBlur(f, (0, 0), 1.0)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions not connected to the image border."""
    h, w = mask.shape
    flood = np.pad(mask.astype(np.uint8), 1)
    ff = flood.copy()
    cv2.floodFill(ff, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 1)
    holes = ff[1:-1, 1:-1] == 0
    return mask.astype(bool) | holes


def bootstrap_polygons(img_bgr: np.ndarray, centres: np.ndarray,
                       radius: float | None = None, epsilon: float = 0.7
                       ) -> tuple[list[np.ndarray], list[str]]:
    """One outline per centre, segmented from the image around that centre.

    Steps: threshold :func:`stain_feature` half-way between its level at
    the centres and the field's median; fill holes and smooth; split components holding several
    centres between them (each pixel to the centre whose inscribed disc it is
    least far outside of, as in :mod:`allidb_mmseg.counting`); clip each
    cell to 2.5 radii of its centre; polygon by ``approxPolyDP(epsilon)``.

    ``radius`` is the expected blast radius in pixels; by default the width
    over 25 (a red cell diameter at ALL-IDB1's scale; blasts are 1.6-2.3
    red-cell radii). A centre on no stained pixel gets a disc of the
    median radius of the others, and a note in the returned list.

    Returns ``(polygons, notes)``: (N, 2) float x, y arrays in centre order,
    and one note per centre ('' or what fallback was used).
    """
    centres = np.reshape(np.asarray(centres, np.float64), (-1, 2))
    h, w = img_bgr.shape[:2]
    if len(centres) == 0:
        return [], []
    r0 = float(radius) if radius else w / 25.0
    win = int(np.ceil(2.5 * r0))
    f = stain_feature(img_bgr)
    cx = np.clip(np.floor(centres[:, 0]).astype(int), 0, w - 1)
    cy = np.clip(np.floor(centres[:, 1]).astype(int), 0, h - 1)
    # Threshold half-way between the cells' level (around the centres) and
    # the rest of the field (the image median: red cells and background
    # cover most of a field). Otsu fails here: windows packed with red cells
    # make red-vs-background the strongest split.
    rc = max(1, int(round(r0 / 3)))
    at_centres = np.concatenate([
        f[max(0, y - rc):y + rc + 1, max(0, x - rc):x + rc + 1].ravel()
        for x, y in zip(cx, cy)])
    level_cells = float(np.median(at_centres))
    near = np.zeros((h, w), bool)
    for x, y in zip(cx, cy):
        near[max(0, y - win):y + win + 1, max(0, x - win):x + win + 1] = True
    rest = f[~near] if (~near).sum() > 1000 else f.ravel()
    level_field = float(np.percentile(rest[::7], FIELD_PERCENTILE))
    fg = f > 0.5 * (level_cells + level_field)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    fg = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, kernel)
    fg = _fill_holes(fg)
    dist = cv2.distanceTransform(np.pad(fg, 1).astype(np.uint8),
                                 cv2.DIST_L2, 5)[1:-1, 1:-1]
    n, comp = cv2.connectedComponents(fg.astype(np.uint8), connectivity=8)
    # Seed radius per centre: the largest inscribed disc near the centre.
    seed_r = np.array([dist[max(0, y - 3):y + 4, max(0, x - 3):x + 4].max()
                       for x, y in zip(cx, cy)], np.float64)
    owner = np.full((h, w), -1, np.int32)
    for c in range(1, n):
        on = np.flatnonzero(comp[cy, cx] == c)
        if on.size == 0:
            continue
        ys, xs = np.nonzero(comp == c)
        if on.size == 1:
            owner[ys, xs] = on[0]
            continue
        score = np.stack([np.hypot(xs - cx[i], ys - cy[i]) - seed_r[i] for i in on])
        owner[ys, xs] = on[score.argmin(0)]
    good = seed_r[comp[cy, cx] > 0]
    r_typ = float(np.median(good)) if good.size else r0
    yy, xx = np.ogrid[:h, :w]
    polys: list[np.ndarray] = []
    notes: list[str] = []
    for i, (x, y) in enumerate(zip(cx, cy)):
        x0, x1 = max(0, x - win), min(w, x + win + 1)
        y0, y1 = max(0, y - win), min(h, y + win + 1)
        cell = owner[y0:y1, x0:x1] == i
        cell &= (yy[y0:y1] - y) ** 2 + (xx[:, x0:x1] - x) ** 2 <= win ** 2
        note = ''
        if not cell[y - y0, x - x0]:
            disc = np.zeros(cell.shape, np.uint8)
            cv2.circle(disc, (x - x0, y - y0), int(round(r_typ)), 1, -1)
            cell = disc > 0
            note = 'no stained cell at centre: disc of typical radius'
        cell = cv2.morphologyEx(cell.astype(np.uint8), cv2.MORPH_OPEN, kernel)
        n_c, lab = cv2.connectedComponents(cell, connectivity=8)
        if n_c > 2 and lab[y - y0, x - x0] > 0:
            cell = (lab == lab[y - y0, x - x0]).astype(np.uint8)
        cell = _fill_holes(cell).astype(np.uint8)
        contours, _ = cv2.findContours(cell, cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_NONE, offset=(x0, y0))
        if not contours:
            r = max(2, int(round(r_typ)))
            cont = cv2.ellipse2Poly((int(x), int(y)), (r, r), 0, 0, 360, 10)
            note = note or 'cell vanished after smoothing: disc of typical radius'
        else:
            cont = max(contours, key=cv2.contourArea)
            cont = cv2.approxPolyDP(cont, epsilon, True).reshape(-1, 2)
        # Pixel indices -> outline through pixel edges (what a polygon
        # rasteriser fills back to the same pixels): shift half a pixel out.
        poly = cont.astype(np.float64) + 0.5
        ctr = poly.mean(0)
        d = poly - ctr
        norm = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-6)[:, None]
        poly = poly + 0.5 * d / norm
        poly[:, 0] = np.clip(poly[:, 0], 0, w)
        poly[:, 1] = np.clip(poly[:, 1], 0, h)
        polys.append(poly)
        notes.append(note)
    return polys, notes


# ------------------------------------------------------------ whole sets --

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.tif', '.tiff', '.bmp')


def _by_stem(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith('.'):
            out.setdefault(p.stem, p)
    return out


def evaluate_folders(pred_dir: str | os.PathLike, xyc_dir: str | os.PathLike,
                     min_area: int = DEFAULT_MIN_BLAST_AREA,
                     rule: AllRule = AllRule(), missing_as_healthy: bool = False,
                     progress: bool = False) -> dict:
    """Score every predicted mask ``PRED/<stem>.png`` against ``XYC/<stem>.xyc``.

    Returns ``dict(images=[...], total={...}, unmatched={...})``. Totals are
    micro-averaged (hits, misses and false positives summed over images);
    ``mean_abs_count_error`` and ``all_accuracy`` are per-image means. A mask
    without a .xyc is skipped (listed in ``unmatched``) unless
    ``missing_as_healthy``, which scores it as an image with no blasts.
    """
    pred_dir, xyc_dir = Path(pred_dir), Path(xyc_dir)
    masks = _by_stem(pred_dir, ('.png',))
    xycs = _by_stem(xyc_dir, ('.xyc',))
    stems = [s for s in masks if s in xycs or missing_as_healthy]
    rows = []
    it = stems
    if progress:
        from tqdm import tqdm
        it = tqdm(stems, desc='scoring', unit='img')
    for stem in it:
        mask = cv2.imread(str(masks[stem]), cv2.IMREAD_UNCHANGED)
        if mask is None or mask.ndim != 2:
            raise XycError(f'{masks[stem]}: not a single-channel mask PNG')
        try:
            centres = read_xyc(xycs[stem]) if stem in xycs else np.zeros((0, 2))
        except XycError as e:
            raise XycError(f'{xycs[stem]}: {e}') from None
        rows.append(dict(image=stem, **score_counts(mask, centres, min_area, rule)))
    n = len(rows)
    hits = sum(r['hits'] for r in rows)
    fp = sum(r['false_positives'] for r in rows)
    fn = sum(r['misses'] for r in rows)
    total = dict(
        images=n, true_count=sum(r['true_count'] for r in rows),
        pred_count=sum(r['pred_count'] for r in rows), hits=hits,
        false_positives=fp, misses=fn,
        precision=hits / (hits + fp) if hits + fp else 1.0,
        recall=hits / (hits + fn) if hits + fn else 1.0,
        mean_abs_count_error=float(np.mean([abs(r['count_error']) for r in rows])) if n else 0.0,
        mean_count_error=float(np.mean([r['count_error'] for r in rows])) if n else 0.0,
        all_accuracy=float(np.mean([r['all_correct'] for r in rows])) if n else 0.0,
        min_blast_area=min_area, all_rule=rule.text(min_area))
    unmatched = dict(masks_without_xyc=sorted(set(masks) - set(xycs)) if not missing_as_healthy else [],
                     xyc_without_mask=sorted(set(xycs) - set(masks)))
    return dict(images=rows, total=total, unmatched=unmatched)


def bootstrap_coco(img_dir: str | os.PathLike, xyc_dir: str | os.PathLike,
                   radius: float | None = None, missing_as_healthy: bool = False,
                   progress: bool = False) -> tuple[dict, list[dict]]:
    """CVAT-style COCO 1.0 of bootstrapped blast polygons for a folder.

    Images ``IMG/<stem>.<ext>`` are paired with ``XYC/<stem>.xyc``; an image
    without a .xyc is left out unless ``missing_as_healthy`` (then it is
    written with no annotation, i.e. as a healthy smear). ``file_name`` is
    relative to ``img_dir``, as ``tools/convert_coco.py --img-dir`` expects.
    Returns ``(coco_dict, log)``: one log entry per image (stem, blasts,
    status, notes), failed images included and left out of the COCO.
    """
    from .apis.image_io import ImageReadError, read_image
    from .synthetic.coco import cvat_coco

    img_dir, xyc_dir = Path(img_dir), Path(xyc_dir)
    images = _by_stem(img_dir, IMAGE_SUFFIXES)
    xycs = _by_stem(xyc_dir, ('.xyc',))
    entries, log = [], []
    it = list(images.items())
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc='bootstrapping', unit='img')
    for stem, path in it:
        if stem not in xycs and not missing_as_healthy:
            log.append(dict(image=path.name, status='skipped', error='no .xyc file'))
            continue
        try:
            centres = read_xyc(xycs[stem]) if stem in xycs else np.zeros((0, 2))
            img = read_image(path)
        except (XycError, ImageReadError, OSError) as e:
            bad = xycs.get(stem) if isinstance(e, XycError) else path
            log.append(dict(image=path.name, status='failed', error=f'{bad}: {e}'))
            continue
        h, w = img.shape[:2]
        polys, notes = bootstrap_polygons(img, centres, radius)
        entries.append((path.name, w, h, polys))
        log.append(dict(image=path.name, status='ok', blasts=len(polys),
                        notes=[n for n in notes if n]))
    return cvat_coco(entries), log
