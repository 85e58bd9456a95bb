"""COCO 1.0 exactly as CVAT exports it, and the pycocotools rasterization of it.

:func:`coco_document` and :func:`coco_image` frame every COCO file this package
writes. Ground-truth masks are made from the very polygons written to the JSON,
with the pycocotools calls a converter uses, so its output must equal them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from pycocotools import mask as mask_utils

__all__ = ['CATEGORY', 'COCO_CATEGORY', 'flat_polygon', 'rle_runs', 'decode_rle',
           'polygons_to_mask', 'coco_annotation', 'coco_image', 'coco_document', 'cvat_coco']

CATEGORY = 'lymphoblast'
COCO_CATEGORY = {'id': 1, 'name': CATEGORY, 'supercategory': ''}


def flat_polygon(poly: np.ndarray) -> list[float]:
    """[x1, y1, x2, y2, ...] as CVAT writes it (floats, 2 decimals)."""
    return [round(float(v), 2) for v in np.asarray(poly, np.float64).reshape(-1)]


def rle_runs(counts: bytes) -> np.ndarray:
    """The run lengths of a compressed COCO RLE string (maskApi.c's format).

    Raises:
        ValueError: a character outside the format, a string that ends inside
            a run length, or a negative run.
    """
    c = np.frombuffer(counts, np.uint8).astype(np.int64) - 48
    bad = np.flatnonzero((c < 0) | (c >= 64))
    if len(bad):
        raise ValueError(f'invalid character {chr(counts[bad[0]])!r}')
    if not len(c):
        return c
    if c[-1] & 0x20:
        raise ValueError('string ends inside a run length')
    ends = np.flatnonzero((c & 0x20) == 0)
    starts = np.r_[0, ends[:-1] + 1]
    digit = np.arange(len(c)) - np.repeat(starts, ends - starts + 1)
    x = np.add.reduceat((c & 0x1f) << (5 * digit), starts)
    x -= ((c[ends] & 0x10) > 0) << (5 * (ends - starts + 1))  # the sign bit
    # From the fourth run on, each is stored as the difference from the run two before.
    x[3::2] = np.cumsum(x[1::2])[1:]
    x[2::2] = np.cumsum(x[2::2])
    if (x < 0).any():
        raise ValueError('negative run length')
    return x


def decode_rle(rle: dict) -> np.ndarray:
    """bool (H, W) mask of a compressed COCO RLE.

    Same pixels as ``pycocotools.mask.decode``, whose numpy 2 fallback turns
    a Ctrl-C that lands inside it into a TypeError.
    """
    height, width = rle['size']
    counts = rle['counts']
    runs = rle_runs(counts.encode('ascii') if isinstance(counts, str) else counts)
    flat = np.repeat(np.arange(len(runs)) % 2 == 1, runs)
    return flat.reshape(width, height).T


def polygons_to_mask(polygons: Sequence[np.ndarray], height: int, width: int) -> np.ndarray:
    """uint8 (H, W) mask, 1 inside any polygon (union), rasterized by pycocotools."""
    out = np.zeros((height, width), np.uint8)
    for poly in polygons:
        rles = mask_utils.frPyObjects([flat_polygon(poly)], height, width)
        out |= decode_rle(mask_utils.merge(rles))
    return out


def coco_annotation(ann_id: int, image_id: int, poly: np.ndarray, height: int,
                    width: int) -> dict:
    """One CVAT-style polygon annotation: area from pycocotools, bbox from vertices."""
    seg = flat_polygon(poly)
    rle = mask_utils.merge(mask_utils.frPyObjects([seg], height, width))
    xs, ys = seg[0::2], seg[1::2]
    x0, y0 = min(xs), min(ys)
    return {
        'id': ann_id,
        'image_id': image_id,
        'category_id': COCO_CATEGORY['id'],
        'segmentation': [seg],
        'area': float(mask_utils.area(rle)),
        'bbox': [x0, y0, round(max(xs) - x0, 2), round(max(ys) - y0, 2)],
        'iscrowd': 0,
        'attributes': {'occluded': False},
    }


def coco_image(image_id: int, file_name: str, width: int, height: int) -> dict:
    """A COCO image entry as CVAT writes it."""
    return {'id': image_id, 'width': int(width), 'height': int(height),
            'file_name': file_name, 'license': 0, 'flickr_url': '', 'coco_url': '',
            'date_captured': 0}


def coco_document(images: Sequence[dict], annotations: Sequence[dict],
                  description: str = '') -> dict:
    """A whole instances file, with CVAT's top-level keys and our one category.

    ``images`` are :func:`coco_image` entries; ``description`` goes to ``info``.
    """
    return {
        'licenses': [{'name': '', 'id': 0, 'url': ''}],
        'info': {'contributor': '', 'date_created': '', 'description': description,
                 'url': '', 'version': '', 'year': ''},
        'categories': [dict(COCO_CATEGORY)],
        'images': list(images),
        'annotations': list(annotations),
    }


def cvat_coco(images: Sequence[tuple[str, int, int, Sequence[np.ndarray]]]) -> dict:
    """The whole export: ``images`` holds (file_name, width, height, polygons)."""
    entries, annotations = [], []
    for image_id, (file_name, width, height, polygons) in enumerate(images, start=1):
        entries.append(coco_image(image_id, file_name, width, height))
        for poly in polygons:
            annotations.append(coco_annotation(len(annotations) + 1, image_id, poly,
                                               height, width))
    return coco_document(entries, annotations)
