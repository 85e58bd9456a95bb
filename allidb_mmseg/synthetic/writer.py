"""Write a synthetic data set in the layout of a CVAT "COCO 1.0" export plus ground truth.

The demo runs the real converter on the COCO file; the masks beside it are the truth the
converter's output must equal.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..utils import swap_in_dir, temp_dir_beside
from ..converters.cvat_coco import cvat_coco, polygons_to_mask
from ..converters.xyc import write_xyc
from .field import render_field
from .stain_profiles import get_stain_profile

JPEG_PARAMS = [cv2.IMWRITE_JPEG_QUALITY, 95, cv2.IMWRITE_JPEG_OPTIMIZE, 0,
               cv2.IMWRITE_JPEG_PROGRESSIVE, 0]


def _write_all(tmp: Path, num_images: int, size: tuple[int, int], seed: int,
               healthy_fraction: float, progress: bool,
               stain_profile: str | None = None) -> list[dict]:
    width, height = size
    for sub in ('images', 'annotations', 'masks', 'centres'):
        (tmp / sub).mkdir()
    n_healthy = int(round(healthy_fraction * num_images))
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    healthy = {int(i) for i in rng.permutation(num_images)[:n_healthy]}
    records, coco_images = [], []
    for i in tqdm(range(num_images), desc='synthetic fields', unit='img', disable=not progress):
        # Image i's own stream: the same field for the same (seed, i), whatever num_images.
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, i)))
        n_blasts = 0 if i in healthy else int(rng.integers(1, 9))
        img, polygons, centres = render_field(rng, (width, height), n_blasts,
                                              stain_profile=stain_profile)
        stem = f'synth_{i:03d}'
        if not cv2.imwrite(str(tmp / 'images' / f'{stem}.jpg'), img, JPEG_PARAMS):
            raise OSError(f'{tmp / "images" / stem}.jpg: could not write JPEG')
        mask = polygons_to_mask(polygons, height, width)
        if not cv2.imwrite(str(tmp / 'masks' / f'{stem}.png'), mask):
            raise OSError(f'{tmp / "masks" / stem}.png: could not write PNG')
        write_xyc(tmp / 'centres' / f'{stem}.xyc', centres)
        coco_images.append((f'{stem}.jpg', width, height, polygons))
        records.append({'file_name': f'{stem}.jpg', 'width': width, 'height': height,
                        'blasts': len(polygons), 'healthy': i in healthy})
    doc = cvat_coco(coco_images)
    (tmp / 'annotations' / 'instances_default.json').write_text(json.dumps(doc))
    return records


def make_synthetic(out_dir: str | os.PathLike, num_images: int = 40,
                   size: tuple[int, int] = (640, 480), seed: int = 0,
                   healthy_fraction: float = 0.5, force: bool = False, *,
                   progress: bool = False, stain_profile: str | None = None) -> dict:
    """Write ``num_images`` synthetic smear fields under ``out_dir``.

    Layout: ``images/synth_NNN.jpg``, ``annotations/instances_default.json`` (CVAT COCO
    1.0, category 'lymphoblast'), ``masks/synth_NNN.png`` (uint8 0/1 ground truth from the
    same polygons) and ``centres/synth_NNN.xyc``. ``round(healthy_fraction * num_images)``
    images have no blasts, the others 1-8. Built beside ``out_dir`` and renamed into place;
    a non-empty ``out_dir`` is refused (FileExistsError) unless ``force``. The same
    arguments give byte-identical files. ``stain_profile`` (a name of
    :data:`~allidb_mmseg.synthetic.STAIN_PROFILES`) stains the same fields like another lab.
    """
    out = Path(out_dir)
    width, height = (int(v) for v in size)
    if num_images < 1:
        raise ValueError(f'num_images must be >= 1, got {num_images}')
    if width < 64 or height < 64:
        raise ValueError(f'size {width}x{height} is too small (min 64x64)')
    if not 0.0 <= healthy_fraction <= 1.0:
        raise ValueError(f'healthy_fraction must be in [0, 1], got {healthy_fraction}')
    get_stain_profile(stain_profile)  # ValueError for an unknown name, before any work
    exists = out.exists() or out.is_symlink()
    if exists and (not out.is_dir() or any(out.iterdir())) and not force:
        raise FileExistsError(f'{out}: exists and is not empty (use force to replace it)')

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(out)
    try:
        records = _write_all(tmp, num_images, (width, height), seed, healthy_fraction,
                             progress, stain_profile)
        swap_in_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {
        'out_dir': str(out),
        'num_images': num_images,
        'num_healthy': sum(r['healthy'] for r in records),
        'num_blasts': sum(r['blasts'] for r in records),
        'size': [width, height],
        'seed': seed,
        'stain_profile': stain_profile,
        'images': records,
    }
