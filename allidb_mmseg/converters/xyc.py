"""ALL-IDB1 blast centres (``.xyc``): read and write them, bootstrap masks.

ALL-IDB1 publishes no pixel masks, only one ``.xyc`` file per image with the
centre of every blast ("x y" per line; empty for a healthy smear): enough to
bootstrap training polygons without annotating in CVAT.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage as ndi
from tqdm import tqdm

from ..io.image_io import ImageReadError, read_image
from ..utils import AllidbError, files_by_stem
from .cvat_coco import cvat_coco

__all__ = ['XycError', 'read_xyc', 'write_xyc', 'bootstrap_polygons',
           'stain_feature', 'bootstrap_coco']

FIELD_PERCENTILE = 80
_SPLIT = re.compile(r'[\s,;]+')


class XycError(AllidbError, ValueError):
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
            x, y = map(float, fields)  # ValueError unless two numbers
            if not (np.isfinite(x) and np.isfinite(y)):
                raise ValueError
        except ValueError:
            raise XycError(f'line {no}: expected "x y", got {line.strip()[:40]!r}')
        pts.append((x, y))
    return np.array(pts, np.float64).reshape(-1, 2)


def write_xyc(path: str | os.PathLike, centres) -> None:
    """Write centres in ALL-IDB1's format (integer "x y" per line)."""
    Path(path).write_text(''.join(f'{int(round(x))} {int(round(y))}\n'
                                  for x, y in np.reshape(centres, (-1, 2))))


def _box(x: int, y: int, r: int) -> tuple[slice, slice]:
    """(rows, columns) of the square of half-side ``r`` around (x, y), cut at 0."""
    return slice(max(0, y - r), y + r + 1), slice(max(0, x - r), x + r + 1)


def stain_feature(img_bgr: np.ndarray) -> np.ndarray:
    """Blue minus red, float32: high for white cells, low for the rest.

    In MGG smears blast nuclei (purple) and cytoplasm (sky blue) transmit more
    blue than red; red cells and the background do not. One threshold finds
    whole white cells.
    """
    b, _, r = cv2.split(img_bgr)
    f = b.astype(np.float32) - r.astype(np.float32)
    return cv2.GaussianBlur(f, (0, 0), 1.0)


def bootstrap_polygons(img_bgr: np.ndarray, centres: np.ndarray,
                       radius: float | None = None, epsilon: float = 0.7
                       ) -> tuple[list[np.ndarray], list[str]]:
    """One outline per centre, segmented from the image around that centre.

    Steps: threshold :func:`stain_feature` half-way between its level at the
    centres and the field's; fill holes and smooth; split components holding
    several centres (each pixel to the centre whose inscribed disc it is least
    far outside of, as in :mod:`allidb_mmseg.evaluation.counting`); clip each
    cell to 2.5 radii of its centre; polygon by ``approxPolyDP(epsilon)``.

    ``radius`` is the expected blast radius in pixels; by default the width
    over 25 (a red cell diameter at ALL-IDB1's scale). A centre on no stained
    pixel gets a disc of the others' median radius, and a note.

    Returns:
        ``(polygons, notes)``: (N, 2) float x, y arrays in centre order, and
        one note per centre ('' or what fallback was used).
    """
    centres = np.reshape(np.asarray(centres, np.float64), (-1, 2))
    h, w = img_bgr.shape[:2]
    if len(centres) == 0:
        return [], []
    r0 = float(radius) if radius else w / 25.0
    win = int(np.ceil(2.5 * r0))
    f = stain_feature(img_bgr)
    cx, cy = np.clip(np.floor(centres).astype(int), 0, (w - 1, h - 1)).T
    # Threshold half-way between the cells' level (around the centres) and the
    # field's FIELD_PERCENTILE away from them. Not Otsu: in windows packed with
    # red cells, red-vs-background is the strongest split.
    rc = max(1, int(round(r0 / 3)))
    at_centres = np.concatenate([f[_box(x, y, rc)].ravel() for x, y in zip(cx, cy)])
    level_cells = float(np.median(at_centres))
    near = np.zeros((h, w), bool)
    for x, y in zip(cx, cy):
        near[_box(x, y, win)] = True
    rest = f[~near] if (~near).sum() > 1000 else f.ravel()
    level_field = float(np.percentile(rest[::7], FIELD_PERCENTILE))
    fg = f > 0.5 * (level_cells + level_field)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    fg = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, kernel)
    fg = ndi.binary_fill_holes(fg)
    dist = cv2.distanceTransform(np.pad(fg, 1).astype(np.uint8),
                                 cv2.DIST_L2, 5)[1:-1, 1:-1]
    _, comp = cv2.connectedComponents(fg.astype(np.uint8), connectivity=8)
    at = comp[cy, cx]  # each centre's component, 0 on no stained pixel
    # Seed radius per centre: the largest inscribed disc near the centre.
    seed_r = np.array([dist[_box(x, y, 3)].max() for x, y in zip(cx, cy)], np.float64)
    owner = np.full((h, w), -1, np.int32)
    for c in np.unique(at[at > 0]):
        on = np.flatnonzero(at == c)
        ys, xs = np.nonzero(comp == c)
        score = np.stack([np.hypot(xs - cx[i], ys - cy[i]) - seed_r[i] for i in on])
        owner[ys, xs] = on[score.argmin(0)]
    good = seed_r[at > 0]
    r_typ = float(np.median(good)) if good.size else r0
    yy, xx = np.ogrid[:h, :w]
    polys, notes = [], []
    for i, (x, y) in enumerate(zip(cx, cy)):
        rows, cols = _box(x, y, win)
        y0, x0 = rows.start, cols.start
        cell = owner[rows, cols] == i
        cell &= (yy[rows] - y) ** 2 + (xx[:, cols] - x) ** 2 <= win ** 2
        note = ''
        if not cell[y - y0, x - x0]:
            cell = np.zeros(cell.shape, np.uint8)
            cv2.circle(cell, (x - x0, y - y0), int(round(r_typ)), 1, -1)
            note = 'no stained cell at centre: disc of typical radius'
        cell = cv2.morphologyEx(cell.astype(np.uint8), cv2.MORPH_OPEN, kernel)
        n_c, lab = cv2.connectedComponents(cell, connectivity=8)
        if n_c > 2 and lab[y - y0, x - x0] > 0:
            cell = (lab == lab[y - y0, x - x0]).astype(np.uint8)
        cell = ndi.binary_fill_holes(cell).astype(np.uint8)
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
        d = poly - poly.mean(0)
        poly = poly + 0.5 * d / np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-6)[:, None]
        polys.append(np.clip(poly, 0, (w, h)))
        notes.append(note)
    return polys, notes


def bootstrap_coco(img_dir: str | os.PathLike, xyc_dir: str | os.PathLike,
                   radius: float | None = None, missing_as_healthy: bool = False,
                   progress: bool = False) -> tuple[dict, list[dict]]:
    """CVAT-style COCO 1.0 of bootstrapped blast polygons for a folder.

    Images ``IMG/<stem>.<ext>`` are paired with ``XYC/<stem>.xyc``; an image
    without a .xyc is left out unless ``missing_as_healthy`` (then it has no
    annotation). ``file_name`` is relative to ``img_dir``. A centre outside
    its image is skipped, not drawn at the edge.

    Returns:
        ``(coco_dict, log)``: one log entry per image (image, status, blasts,
        notes, ``outside``: the skipped centres), failed ones (not in the
        COCO) included.
    """
    img_dir, xyc_dir = Path(img_dir), Path(xyc_dir)
    images = files_by_stem(img_dir)
    xycs = files_by_stem(xyc_dir, ('.xyc',))
    entries, log = [], []
    for stem, path in tqdm(list(images.items()), desc='bootstrapping', unit='img',
                           disable=not progress):
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
        inside = ((centres >= 0) & (centres < (w, h))).all(1)
        polys, notes = bootstrap_polygons(img, centres[inside], radius)
        entries.append((path.name, w, h, polys))
        log.append(dict(image=path.name, status='ok', blasts=len(polys),
                        notes=[n for n in notes if n],
                        outside=centres[~inside].tolist(),
                        xyc=str(xycs.get(stem, '')), size=[w, h]))
    return cvat_coco(entries), log
