"""COCO categories and segmentations (as CVAT exports them) to class-index masks.

Polygons, uncompressed RLE (CVAT's brush masks, ``iscrowd=1``) and compressed
RLE strings are read; ``iscrowd`` only tells the encoding, a crowd region is not
made "ignore". Precedence is fixed, background < other white cell (2) < ignore
(255) < lymphoblast (1), so annotation order never matters and no other region
can erase a blast. Class 2 is for configs that learn the other white cells apart
(``configs/segformer_allidb_native_wbc.py``); two-class configs refuse it.
"""
from __future__ import annotations

import re
import warnings
from typing import Mapping, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from ..utils import AllidbError, AllidbWarning
from .cvat_coco import decode_rle, rle_runs

BACKGROUND, FOREGROUND, OTHER_WBC, IGNORE = 0, 1, 2, 255
CLASS_NAMES = {'background': BACKGROUND, 'lymphoblast': FOREGROUND,
               'other_white_cell': OTHER_WBC, 'ignore': IGNORE}
# Painting order: later classes win where regions overlap.
PAINT_ORDER = (OTHER_WBC, IGNORE, FOREGROUND)

_BLAST_NAME = re.compile(r'(lympho)?blasts?(_cells?)?')


class ConversionError(AllidbError):
    """Bad input for the converter; the message names the file or annotation."""


class ConversionWarning(AllidbWarning):
    """Input that the converter repairs or skips (clipped or degenerate shapes)."""


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _norm(name: str) -> str:
    return re.sub(r'[\s\-]+', '_', str(name).strip().lower())


def parse_class(value: str | int) -> int:
    """A class given as a name ('lymphoblast', 'ignore', ...) or index (0/1/2/255)."""
    text = str(int(value)) if isinstance(value, (int, np.integer)) else _norm(value)
    if text in CLASS_NAMES:
        return CLASS_NAMES[text]
    if text.isdigit() and int(text) in CLASS_NAMES.values():
        return int(text)
    raise ConversionError(
        f'unknown class {value!r} in the category map (use one of '
        f'{", ".join(CLASS_NAMES)} or {sorted(CLASS_NAMES.values())})')


def resolve_categories(categories: Sequence[Mapping], used_ids: set,
                       category_map: Mapping[str, str | int] | None = None,
                       source: str = 'annotations') -> dict[int, int]:
    """Map COCO category ids to class indices, by category name.

    Rules, first match wins: a ``category_map`` entry; a lone category is
    lymphoblast; "lymphoblast"/"blast(s)" is 1, "background" 0, "ignore" 255,
    "other white cell(s)" 2.
    A used category matching no rule is an error (dropping annotated cells
    would corrupt the masks); unused ones (CVAT exports every label) only warn.
    """
    category_map = dict(category_map or {})
    names = {int(c['id']): str(c['name']) for c in categories}
    known = set(names.values())
    unknown = sorted(set(category_map) - known)
    if unknown:
        raise ConversionError(
            f'{source}: --category-map names unknown categories {unknown} '
            f'(the file has {sorted(known)})')
    mapped = {src: parse_class(dst) for src, dst in category_map.items()}
    result, unmapped_used, unmapped_unused = {}, [], []
    for cat_id, name in sorted(names.items()):
        if name in mapped:
            result[cat_id] = mapped[name]
        elif len(names) == 1 or _BLAST_NAME.fullmatch(_norm(name)):
            result[cat_id] = FOREGROUND
        elif _norm(name).removesuffix('s') in CLASS_NAMES:
            result[cat_id] = CLASS_NAMES[_norm(name).removesuffix('s')]
        elif cat_id in used_ids:
            unmapped_used.append(name)
        else:
            unmapped_unused.append(name)
    if unmapped_used:
        raise ConversionError(
            f'{source}: unmapped categories {sorted(unmapped_used)}; map each '
            f'with --category-map NAME=lymphoblast|background|ignore|other_white_cell')
    for name in sorted(unmapped_unused):
        warnings.warn(f'{source}: category {name!r} has no annotations and no '
                      f'class; ignored', ConversionWarning, stacklevel=2)
    return result


def clip_polygon(points: np.ndarray, width: float, height: float) -> np.ndarray:
    """Sutherland-Hodgman clip of an (N, 2) polygon to [0, width] x [0, height].

    Clamping vertices would change the shape inside the image; clipping keeps
    exactly the part of the polygon that lies on the image.
    """
    def clip(pts, axis, limit, keep_below):
        inside = pts[:, axis] <= limit if keep_below else pts[:, axis] >= limit
        out = []
        for i in range(len(pts)):
            cur, prev = pts[i], pts[i - 1]
            if inside[i] != inside[i - 1]:
                t = (limit - prev[axis]) / (cur[axis] - prev[axis])
                out.append(prev + t * (cur - prev))
            if inside[i]:
                out.append(cur)
        return np.asarray(out, dtype=np.float64).reshape(-1, 2)

    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    for axis, limit, below in ((0, 0.0, False), (0, float(width), True),
                               (1, 0.0, False), (1, float(height), True)):
        pts = clip(pts, axis, limit, below)
    return pts


def polygon_area(points: np.ndarray) -> float:
    """Shoelace area of an (N, 2) polygon."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def segmentation_to_rle(seg, height: int, width: int, where: str) -> dict | None:
    """One annotation's segmentation as a single (merged) compressed RLE.

    Polygon parts outside the image are clipped, with a warning; None (after a
    warning) when nothing is left to draw. Malformed data: ConversionError.
    """
    if isinstance(seg, dict):
        return _rle_to_rle(seg, height, width, where)
    if not isinstance(seg, list):
        raise ConversionError(f'{where}: segmentation is neither a polygon list nor an RLE dict')
    if seg and all(isinstance(v, (int, float)) for v in seg):
        seg = [seg]  # a single flat polygon without the outer list
    parts = []
    for k, poly in enumerate(seg):
        if (not isinstance(poly, list)
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                           for v in poly)
                or len(poly) % 2):
            raise ConversionError(f'{where}: polygon part {k} is not a flat list of x, y numbers')
        try:
            pts = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
        except OverflowError:  # an integer of hundreds of digits
            raise ConversionError(f'{where}: polygon part {k} has a '
                                  f'coordinate too large for a float')
        if not np.isfinite(pts).all():
            raise ConversionError(f'{where}: polygon part {k} has non-finite coordinates')
        if len(pts) < 3:
            warnings.warn(f'{where}: polygon part {k} has {len(pts)} point(s); '
                          f'skipped', ConversionWarning, stacklevel=2)
            continue
        if (pts < 0).any() or (pts > (width, height)).any():
            pts = clip_polygon(pts, width, height)
            warnings.warn(f'{where}: polygon part {k} extends outside the '
                          f'{width}x{height} image; clipped',
                          ConversionWarning, stacklevel=2)
        if len(pts) < 3 or polygon_area(pts) == 0.0:
            warnings.warn(f'{where}: polygon part {k} has zero area'
                          f'{" inside the image" if len(pts) else ""}; skipped',
                          ConversionWarning, stacklevel=2)
            continue
        parts.append(pts.ravel().tolist())
    if not parts:
        if not seg:
            warnings.warn(f'{where}: empty segmentation; skipped',
                          ConversionWarning, stacklevel=2)
        return None
    return mask_utils.merge(mask_utils.frPyObjects(parts, height, width))


def _rle_to_rle(seg: dict, height: int, width: int, where: str) -> dict:
    size, counts = seg.get('size'), seg.get('counts')
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(_is_int(v) for v in size)
            or list(size) != [height, width]):
        raise ConversionError(f'{where}: RLE size {size} does not match the '
                              f'image ({height}x{width}, given as [h, w])')
    if isinstance(counts, list):  # uncompressed, column-major runs
        if not all(_is_int(v) and v >= 0 for v in counts):
            raise ConversionError(f'{where}: RLE counts must be non-negative integers')
        total = sum(counts)
    elif isinstance(counts, (str, bytes)):  # compressed
        try:
            counts = counts.encode('ascii') if isinstance(counts, str) else counts
            total = int(rle_runs(counts).sum())
        except (ValueError, UnicodeError) as exc:
            raise ConversionError(f'{where}: corrupt compressed RLE ({exc})')
    else:
        raise ConversionError(f'{where}: RLE counts must be a list or a string')
    if total != height * width:
        raise ConversionError(f'{where}: RLE counts sum to {total}, '
                              f'expected {height}*{width}={height * width}')
    rle = {'size': [height, width], 'counts': counts}
    return mask_utils.frPyObjects(rle, height, width) if isinstance(counts, list) else rle


def rasterize(annotations: Sequence[Mapping], height: int, width: int,
              class_of_category: Mapping[int, int], source: str) -> np.ndarray:
    """uint8 (height, width) mask of class indices for one image: regions are
    united per class, then painted in PAINT_ORDER (see the module docstring)."""
    unions: dict[int, np.ndarray] = {}
    for ann in annotations:
        where = f'{source}: annotation {ann.get("id")}'
        cls = class_of_category[int(ann['category_id'])]
        rle = segmentation_to_rle(ann.get('segmentation'), height, width, where)
        if rle is None or cls == BACKGROUND:
            continue  # background is the default; nothing to paint
        region = decode_rle(rle)
        unions[cls] = unions[cls] | region if cls in unions else region
    mask = np.zeros((height, width), np.uint8)
    for cls in PAINT_ORDER:
        if cls in unions:
            mask[unions[cls]] = cls
    return mask
