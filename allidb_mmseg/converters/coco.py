"""Convert a CVAT "COCO 1.0" export into the mmseg layout ALLIDBDataset reads.

Output (``out_root``)::

    img_dir/{train,val,test}/<name>     the source images, byte for byte
    ann_dir/{train,val,test}/<stem>.png uint8 class indices (0, 1, 255; 2 if mapped)
    splits/{train,val,test}.txt         stems, sorted, one per line
    summary.json                        counts, foreground fractions, hashes

It is built in a hidden temporary folder beside ``out_root`` and renamed into
place, so bad input (``ConversionError``) never leaves a half-written dataset;
the same inputs give byte-identical files.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError
from tqdm import tqdm

from ..utils import (check_writable_dir, remove_stale_temps, swap_in_dir,
                     temp_dir_beside)
from .coco_masks import (FOREGROUND, IGNORE, ConversionError,
                         ConversionWarning, _is_int, rasterize,
                         resolve_categories)
from .splits import check_ratios, split_groups

__all__ = ['convert_coco', 'ConversionError', 'ConversionWarning']


def _load_coco(ann_file: Path) -> tuple[dict, bytes]:
    try:
        raw = ann_file.read_bytes()
    except OSError as exc:
        raise ConversionError(f'{ann_file}: cannot read ({exc.strerror})')
    try:
        coco = json.loads(raw.decode('utf-8-sig'))
    except UnicodeDecodeError:
        raise ConversionError(f'{ann_file}: invalid JSON (not UTF-8 text)')
    except json.JSONDecodeError as exc:
        raise ConversionError(f'{ann_file}: invalid JSON ({exc.msg} at line '
                              f'{exc.lineno} column {exc.colno})')
    if not isinstance(coco, dict):
        raise ConversionError(f'{ann_file}: invalid COCO (top level is not an object)')
    for key in ('images', 'categories', 'annotations'):
        if not isinstance(coco.get(key, []), list) or (
                key != 'annotations' and key not in coco):
            raise ConversionError(f'{ann_file}: invalid COCO (no "{key}" list)')
    return coco, raw


def _check_coco(coco: dict, src: Path,
                category_map: Mapping[str, str | int] | None
                ) -> tuple[list[dict], dict[int, list[dict]], dict[int, int],
                           dict[str, int]]:
    """Images, annotations per image id, category->class, name->class."""
    by_id, by_name, by_stem = {}, {}, {}
    for i, img in enumerate(coco['images']):
        if not isinstance(img, dict):
            raise ConversionError(f'{src}: image entry {i} is not an object')
        for key in ('width', 'height'):  # some tools write 2592.0
            if isinstance(img.get(key), float) and img[key].is_integer():
                img = dict(img, **{key: int(img[key])})
        for key in ('id', 'width', 'height'):
            if not _is_int(img.get(key)) or (key != 'id' and img[key] <= 0):
                raise ConversionError(f'{src}: image entry {i} has no valid "{key}"')
        name = img.get('file_name')
        if not isinstance(name, str) or not name.strip():
            raise ConversionError(f'{src}: image {img["id"]} has no file_name')
        if img['id'] in by_id:
            raise ConversionError(f'{src}: duplicate image id {img["id"]}')
        if name in by_name:
            raise ConversionError(
                f'{src}: duplicate file name {name!r} (image ids '
                f'{by_name[name]["id"]} and {img["id"]})')
        stem = Path(name).stem
        if stem in by_stem:
            raise ConversionError(
                f'{src}: duplicate file name stem: {by_stem[stem]["file_name"]!r}'
                f' and {name!r} would both write {stem}.png')
        by_id[img['id']] = by_name[name] = by_stem[stem] = img
    categories = {}  # id -> category
    for i, cat in enumerate(coco['categories']):
        if (not isinstance(cat, dict) or not _is_int(cat.get('id'))
                or not isinstance(cat.get('name'), str)):
            raise ConversionError(f'{src}: category entry {i} needs an integer "id" and a "name"')
        if cat['id'] in categories:
            raise ConversionError(f'{src}: duplicate category id {cat["id"]}')
        categories[cat['id']] = cat
    anns: dict[int, list[dict]] = defaultdict(list)
    seen_ann_ids, used = set(), set()
    for i, ann in enumerate(coco.get('annotations', [])):
        if not isinstance(ann, dict) or not _is_int(ann.get('id')):
            raise ConversionError(f'{src}: annotation entry {i} has no integer "id"')
        aid = ann['id']
        if aid in seen_ann_ids:
            raise ConversionError(f'{src}: duplicate annotation id {aid}')
        seen_ann_ids.add(aid)
        if not _is_int(ann.get('image_id')) or ann['image_id'] not in by_id:
            raise ConversionError(f'{src}: annotation {aid}: unknown image_id '
                                  f'{ann.get("image_id")!r}')
        if not _is_int(ann.get('category_id')) or ann['category_id'] not in categories:
            raise ConversionError(f'{src}: annotation {aid}: unknown '
                                  f'category_id {ann.get("category_id")!r}')
        used.add(ann['category_id'])
        anns[ann['image_id']].append(ann)
    classes = resolve_categories(list(categories.values()), used, category_map,
                                 str(src))
    names = {c['name']: classes[c['id']] for c in categories.values()
             if c['id'] in classes}
    return list(by_id.values()), anns, classes, names


@contextlib.contextmanager
def _quiet_decoders():
    """Silence PIL/OpenCV chatter while probing images; errors are ours."""
    old_truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # truncation must raise
    try:
        old_level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # pragma: no cover - other OpenCV builds
        old_level = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', UserWarning)
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = old_truncated
        if old_level is not None:
            cv2.utils.logging.setLogLevel(old_level)


def _check_image(data: bytes, path: Path, width: int, height: int) -> None:
    """Decode fully with PIL (raises on truncation, where OpenCV may decode a
    part) and OpenCV (mmseg's loader); check the size against COCO."""
    with _quiet_decoders():
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                size = im.size
                orientation = im.getexif().get(0x0112, 1)
        except UnidentifiedImageError:
            raise ConversionError(f'{path}: corrupt or unsupported image '
                                  f'(cannot identify the format)')
        except (OSError, ValueError, SyntaxError) as exc:
            raise ConversionError(f'{path}: truncated or corrupt image ({exc})')
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8),
                               cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ConversionError(f'{path}: truncated or corrupt image (OpenCV, '
                              f'which mmseg uses, cannot decode it)')
    if size != (width, height) or decoded.shape[:2] != (height, width):
        raise ConversionError(f'{path}: image is {size[0]}x{size[1]} but the '
                              f'COCO file says {width}x{height}')
    if orientation not in (None, 1):
        warnings.warn(f'{path}: EXIF orientation {orientation}; mmseg rotates '
                      f'such images on load, the mask follows the stored pixels',
                      ConversionWarning, stacklevel=3)


def _check_output(out_root: Path, force: bool, inputs: Sequence[Path]) -> None:
    if not (out_root.exists() or out_root.is_symlink()):
        return
    if not force:
        raise ConversionError(f'{out_root}: output already exists; use --force '
                              f'(force=True) to replace it')
    real_out = out_root.resolve()
    for path in inputs:
        real = path.resolve()
        if real == real_out or real_out in real.parents:
            raise ConversionError(f'{out_root}: refusing to replace it: it holds the input {path}')


def convert_coco(ann_file: str | os.PathLike, img_dir: str | os.PathLike,
                 out_root: str | os.PathLike,
                 ratios: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                 category_map: Mapping[str, str | int] | None = None,
                 force: bool = False, progress: bool = True,
                 allow_outside_img_dir: bool = False) -> dict:
    """Convert a CVAT COCO 1.0 export to masks and a stratified split.

    Args:
        ann_file: the COCO json (CVAT: ``annotations/instances_default.json``).
        img_dir: folder the COCO ``file_name`` entries are relative to.
        out_root: the DATA_ROOT to create; refused if it exists unless
            ``force``.
        ratios: train/val/test fractions; val and test are rounded half up.
        seed: seed of the split's shuffle.
        category_map: COCO category name -> 'lymphoblast' | 'background' |
            'ignore' | 'other_white_cell' (or 1/0/255/2), overriding the name
            rules.
        force: replace an existing ``out_root`` (after success only).
        progress: show a tqdm bar on stderr.
        allow_outside_img_dir: accept ``file_name`` entries that are
            absolute or contain ``..`` (refused by default).

    Returns:
        The summary also written to ``out_root/summary.json``.

    Raises:
        ConversionError: bad input; nothing was written to ``out_root``.
    """
    ann_file, img_dir, out_root = Path(ann_file), Path(img_dir), Path(out_root)
    try:
        ratios = check_ratios(ratios)
    except ValueError as exc:
        raise ConversionError(f'--ratios: {exc}')
    _check_output(out_root, force, [ann_file, img_dir])
    check_writable_dir(out_root.parent)
    coco, raw = _load_coco(ann_file)
    if not img_dir.is_dir():
        raise ConversionError(f'{img_dir}: image folder not found')
    images, anns, classes, name_classes = _check_coco(coco, ann_file,
                                                      category_map)
    if not images:
        raise ConversionError(f'{ann_file}: the COCO file lists no images')
    if not allow_outside_img_dir:
        # A COCO file from someone else must not pull arbitrary files into the dataset.
        for img in images:
            name = Path(img['file_name'])
            if name.is_absolute() or '..' in name.parts:
                raise ConversionError(
                    f'{ann_file}: image {img["id"]}: file_name {img["file_name"]!r} points '
                    f'outside --img-dir (give --allow-outside-img-dir to read it anyway)')

    # Temporaries of killed conversions are removed, others only reported.
    removed, unknown = remove_stale_temps(out_root.parent, out_root.name)
    for path in removed:
        warnings.warn(f'{path}: removed, a temporary folder of a conversion '
                      'that was killed', ConversionWarning, stacklevel=2)
    for path in unknown:
        warnings.warn(f'{path}: a temporary folder of an earlier conversion; '
                      'delete it if no conversion is running',
                      ConversionWarning, stacklevel=2)
    out_root.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(out_root)
    try:
        summary = _build(tmp, ann_file, raw, img_dir, images, anns, classes,
                         name_classes, ratios, seed, progress)
        swap_in_dir(tmp, out_root)
    except BaseException as exc:  # bad input, Ctrl-C, SIGTERM, a full disk
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, KeyboardInterrupt):
            exc.add_note(f'{out_root} is as it was before this run')
        raise
    return summary


def _build(tmp: Path, ann_file: Path, raw: bytes, img_dir: Path,
           images: list[dict], anns: dict[int, list[dict]],
           classes: dict[int, int], name_classes: dict[str, int],
           ratios: tuple[float, float, float], seed: int,
           progress: bool) -> dict:
    staged, staged_masks = tmp / 'staging', tmp / 'staging_masks'
    staged.mkdir()
    staged_masks.mkdir()
    info = {}  # file name -> (sha256, foreground px, ignore px, px)
    images = sorted(images, key=lambda im: Path(im['file_name']).name)
    for img in tqdm(images, desc='convert', unit='img', disable=not progress,
                    dynamic_ncols=True):
        name = Path(img['file_name']).name
        path = img_dir / img['file_name']
        if not path.is_file() and (img_dir / name).is_file():
            path = img_dir / name  # CVAT may keep task folders
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ConversionError(f'{path}: image file not found (image id '
                                  f'{img["id"]} in {ann_file.name})')
        except OSError as exc:
            raise ConversionError(f'{path}: cannot read ({exc.strerror})')
        h, w = img['height'], img['width']
        _check_image(data, path, w, h)
        mask = rasterize(anns.get(img['id'], []), h, w, classes, str(ann_file))
        (staged / name).write_bytes(data)
        ok, png = cv2.imencode('.png', mask)
        if not ok:  # pragma: no cover - OpenCV always encodes uint8
            raise ConversionError(f'{path}: could not encode the mask')
        (staged_masks / f'{Path(name).stem}.png').write_bytes(png.tobytes())
        info[name] = (hashlib.sha256(data).hexdigest(),
                      int((mask == FOREGROUND).sum()),
                      int((mask == IGNORE).sum()), h * w)

    by_hash = defaultdict(list)
    for name, (sha, *_) in info.items():
        by_hash[sha].append(name)
    groups = sorted((sorted(g) for g in by_hash.values()), key=lambda g: g[0])
    duplicates = [g for g in groups if len(g) > 1]
    for g in duplicates:
        warnings.warn(f'{img_dir}: {", ".join(g)} have identical content; '
                      f'they are kept in the same split', ConversionWarning,
                      stacklevel=3)
    has_fg = [any(info[n][1] > 0 for n in g) for g in groups]
    splits = split_groups(groups, has_fg, ratios, seed)

    (tmp / 'splits').mkdir()
    counts, fg_fraction, ignore_fraction = {}, {}, {}
    for split, names in splits.items():
        for sub in ('img_dir', 'ann_dir'):
            (tmp / sub / split).mkdir(parents=True)
        for name in names:
            mask_name = f'{Path(name).stem}.png'
            os.replace(staged / name, tmp / 'img_dir' / split / name)
            os.replace(staged_masks / mask_name, tmp / 'ann_dir' / split / mask_name)
        (tmp / 'splits' / f'{split}.txt').write_text(
            ''.join(f'{s}\n' for s in sorted(Path(n).stem for n in names)), encoding='utf-8')
        n_all = sum(info[n][1] > 0 for n in names)
        fg, ignore, pixels = (sum(info[n][k] for n in names) for k in (1, 2, 3))
        counts[split] = {'images': len(names), 'all': n_all,
                         'healthy': len(names) - n_all}
        fg_fraction[split] = round(fg / pixels, 6) if pixels else 0.0
        ignore_fraction[split] = round(ignore / pixels, 6) if pixels else 0.0
    staged.rmdir()
    staged_masks.rmdir()

    summary = {
        'annotation_file': {'name': ann_file.name,
                            'sha256': hashlib.sha256(raw).hexdigest()},
        'categories': dict(sorted(name_classes.items())),
        'counts': counts,
        'duplicates': duplicates,
        'foreground_fraction': fg_fraction,
        'ignore_fraction': ignore_fraction,
        'images': len(info),
        'ratios': list(ratios),
        'seed': int(seed),
        'source_sha256': {img['file_name']: info[Path(img['file_name']).name][0]
                          for img in images},
    }
    (tmp / 'summary.json').write_text(
        json.dumps(summary, indent=2, sort_keys=True) + '\n', encoding='utf-8')
    return summary
