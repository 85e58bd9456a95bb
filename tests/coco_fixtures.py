"""Small smear-like images and CVAT-style COCO exports of known masks.

The masks are made first (irregular blobs), then encoded the ways CVAT and
other tools write them: polygons traced from contours (iscrowd=0, several
parts when a cell's mask is split), uncompressed RLE with ``counts`` a list of
column-major runs (iscrowd=1, CVAT's mask export), and compressed RLE strings.
So a converter's output can be compared with masks that did not come from the
converter's own rasterization.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils


def blob_mask(rng: np.random.Generator, h: int, w: int, cx: float, cy: float,
              r0: float) -> np.ndarray:
    """bool mask of an irregular, smooth radial blob (a cell outline)."""
    theta = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    r = np.full_like(theta, r0)
    for k in range(2, 6):
        r += r0 * rng.uniform(0, 0.12) * np.cos(k * theta + rng.uniform(0, 6.3))
    pts = np.stack([cx + r * np.cos(theta), cy + r * np.sin(theta)], 1)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1, shift=4)
    return mask.astype(bool)


def smear(rng: np.random.Generator, h: int, w: int, n_blasts: int
          ) -> tuple[np.ndarray, list[np.ndarray]]:
    """BGR smear-like field (pale background, red cells, purple blasts).

    Returns the image and one bool mask per blast; the first blast is cut by
    a vertical band when wide enough, so its mask has two parts.
    """
    img = np.empty((h, w, 3), np.float32)
    img[:] = (225, 215, 235)  # pale pink-grey plasma, BGR
    for _ in range(int(h * w / 500)):  # red cells with central pallor
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(5, 8)
        cv2.circle(img, (int(cx), int(cy)), int(r), (150, 120, 205), -1)
        cv2.circle(img, (int(cx), int(cy)), int(r * 0.45), (185, 165, 225), -1)
    instances = []
    for i in range(n_blasts):
        r0 = rng.uniform(14, 22)
        cx = rng.uniform(r0 + 2, w - r0 - 2)
        cy = rng.uniform(r0 + 2, h - r0 - 2)
        m = blob_mask(rng, h, w, cx, cy, r0)
        if i == 0:  # a split cell: two parts in one annotation
            m[:, int(cx) - 2:int(cx) + 2] = False
        instances.append(m)
        img[m] = (150, 60, 110) + rng.normal(0, 12, (int(m.sum()), 3))
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), instances


def uncompressed_rle(mask: np.ndarray) -> dict:
    """CVAT's mask export: runs over the column-major pixels, zeros first."""
    flat = np.asarray(mask, np.uint8).ravel(order='F')
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0] == 1:
        counts = [0] + counts
    return {'counts': counts, 'size': list(mask.shape)}


def compressed_rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {'counts': rle['counts'].decode('ascii'), 'size': list(rle['size'])}


def contour_polygons(mask: np.ndarray) -> list[list[float]]:
    """Polygons along the cell edges, from contours, simplified like CVAT.

    Contours are traced on a 2x upsampled mask, so the vertices sit a quarter
    pixel inside the mask's outer pixel edges (in COCO's continuous
    coordinates, where pixel i spans [i, i+1)) rather than on the centres of
    the boundary pixels, which would shave half a pixel off every cell; then
    approxPolyDP drops vertices to within half a pixel.
    """
    up = cv2.resize(mask.astype(np.uint8), None, fx=2, fy=2,
                    interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(up, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    polys = []
    for c in contours:
        c = cv2.approxPolyDP(c, 1.0, True).reshape(-1, 2).astype(np.float64)
        if len(c) >= 3:
            polys.append([round(v, 2) for v in ((c + 0.5) / 2).ravel().tolist()])
    return polys


def encode(mask: np.ndarray, encoding: str) -> tuple[object, int]:
    """(segmentation, iscrowd) of one instance in the given encoding."""
    if encoding == 'polygon':
        return contour_polygons(mask), 0
    if encoding == 'rle':
        return uncompressed_rle(mask), 1
    if encoding == 'compressed':
        return compressed_rle(mask), 1
    raise ValueError(encoding)


def coco_doc(images: list[dict], annotations: list[dict],
             categories=({'id': 1, 'name': 'lymphoblast'},)) -> dict:
    return {'licenses': [{'name': '', 'id': 0, 'url': ''}],
            'info': {'description': '', 'version': '', 'year': ''},
            'categories': [dict(c, supercategory='') for c in categories],
            'images': images, 'annotations': annotations}


def write_cvat_export(root: Path, n_all: int = 3, n_healthy: int = 2,
                      size: tuple[int, int] = (200, 150),
                      encoding: str = 'polygon', seed: int = 0,
                      ext: str | tuple[str, ...] = '.jpg'
                      ) -> tuple[Path, Path, dict]:
    """CVAT-like export dir; returns (ann file, image dir, {stem: gt mask}).

    ``ext`` may be a tuple of image extensions, used in turn.
    """
    exts = (ext,) if isinstance(ext, str) else tuple(ext)
    rng = np.random.default_rng(seed)
    w, h = size
    img_dir = root / 'images'
    img_dir.mkdir(parents=True)
    images, annotations, gt = [], [], {}
    for i in range(n_all + n_healthy):
        stem, ext = f'Im{i + 1:03d}_{int(i < n_all)}', exts[i % len(exts)]
        img, instances = smear(rng, h, w, 3 if i < n_all else 0)
        cv2.imwrite(str(img_dir / f'{stem}{ext}'), img)
        images.append({'id': i + 1, 'file_name': f'{stem}{ext}', 'width': w,
                       'height': h, 'license': 0, 'flickr_url': '',
                       'coco_url': '', 'date_captured': 0})
        gt[stem] = np.zeros((h, w), np.uint8)
        for m in instances:
            gt[stem][m] = 1
            seg, crowd = encode(m, encoding)
            ys, xs = np.nonzero(m)
            annotations.append({
                'id': len(annotations) + 1, 'image_id': i + 1, 'category_id': 1,
                'segmentation': seg, 'area': float(m.sum()),
                'bbox': [float(xs.min()), float(ys.min()),
                         float(xs.max() - xs.min() + 1),
                         float(ys.max() - ys.min() + 1)],
                'iscrowd': crowd, 'attributes': {'occluded': False}})
    ann = root / 'annotations' / 'instances_default.json'
    ann.parent.mkdir(parents=True)
    ann.write_text(json.dumps(coco_doc(images, annotations)))
    return ann, img_dir, gt


def tiny_export(root: Path, n: int = 4, ext: str = '.png'
                ) -> tuple[Path, Path, dict]:
    """A 64x48 export with one square blast per image (for bad-input tests).

    Returns (ann file, image dir, the COCO dict) so a test can break it.
    """
    img_dir = root / 'images'
    img_dir.mkdir(parents=True)
    rng = np.random.default_rng(1)
    images, anns = [], []
    for i in range(n):
        name = f'im{i}{ext}'
        img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        cv2.imwrite(str(img_dir / name), img)
        images.append({'id': i + 1, 'file_name': name, 'width': 64,
                       'height': 48})
        if i % 2 == 0:
            anns.append({'id': len(anns) + 1, 'image_id': i + 1,
                         'category_id': 1, 'iscrowd': 0,
                         'segmentation': [[10, 10, 30, 10, 30, 30, 10, 30]]})
    doc = coco_doc(images, anns)
    ann = root / 'instances_default.json'
    ann.write_text(json.dumps(doc))
    return ann, img_dir, doc
