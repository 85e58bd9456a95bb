"""Segment many smears into an output folder: masks, overlays, a report.

The folder layout, fixed so other tools can rely on it::

    OUT/masks/<name>.png      uint8 class indices (1 = lymphoblast)
    OUT/overlays/<name>.png   the image with blast contours and the count
    OUT/report.csv, OUT/report.json

``<name>`` is the input's stem; a second input with the same stem becomes
``<stem>-2`` (then ``-3``...), so nothing is overwritten within a run.
Existing outputs are never replaced unless ``force`` is given: the whole run
is refused before any work (files of other runs in the folder that this run
would not write are left alone, even with ``force``).
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..evaluation.counting import AllRule, count_blasts
from ..evaluation.detection import image_min_blast_area
from ..utils import atomic_imwrite
from .report import ImageRow, draw_overlay, write_reports
from .image_io import ImageReadError, read_image
from .inference import BLAST_CLASS, segment
from .blast_shapes import blast_mean_probs
from .sinks import ImageSink, Segmented

__all__ = ['InputItem', 'collect_inputs', 'plan_names', 'existing_outputs',
           'analyse', 'process_image', 'run_batch']

_GLOB_CHARS = set('*?[')
# The report's setting when each image's minimum blast area follows its
# red-cell size (rows state their own area in ``all_rule``).
SCALED_MIN_AREA = 'per image, from its red-cell size'



@dataclass
class InputItem:
    """One thing to segment; ``error`` is set when it was never a file."""

    file: str
    error: str = ''


def collect_inputs(specs: Iterable[str]) -> list[InputItem]:
    """Expand files, folders (their files, not recursive) and glob patterns.

    Every regular, non-hidden file of a folder is taken, images or not: a
    stray non-image is reported as failed rather than silently ignored. A
    name that matches nothing becomes a failed item too. Duplicates (same
    file reached twice) are kept once.
    """
    items: list[InputItem] = []
    seen: set[str] = set()

    def add(p: Path) -> None:
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            items.append(InputItem(str(p)))

    for spec in specs:
        p = Path(spec)
        if p.is_dir():
            for f in sorted(p.iterdir()):
                if f.is_file() and not f.name.startswith('.'):
                    add(f)
        elif p.is_file():
            add(p)
        elif _GLOB_CHARS & set(spec):
            hits = [Path(h) for h in sorted(glob.glob(spec, recursive=True))]
            hits = [h for h in hits if h.is_file()]
            if not hits:
                items.append(InputItem(spec, 'no file matches this pattern'))
            for h in hits:
                add(h)
        else:
            items.append(InputItem(spec, 'no such file or folder'))
    return items


def plan_names(files: list[str]) -> list[str]:
    """Unique output names: the stem, or ``<stem>-k`` for a repeated stem
    (never equal to another input's own stem)."""
    stems = [Path(f).stem for f in files]
    taken = set(stems)
    used: set[str] = set()
    names = []
    for stem in stems:
        name, k = stem, 2
        while name in used or (name != stem and name in taken):
            name, k = f'{stem}-{k}', k + 1
        used.add(name)
        names.append(name)
    return names


def output_paths(out_dir: Path, name: str) -> tuple[Path, Path]:
    return out_dir / 'masks' / f'{name}.png', out_dir / 'overlays' / f'{name}.png'


def existing_outputs(out_dir: Path, names: list[str]) -> list[Path]:
    """Files this run would write that already exist."""
    paths = [out_dir / 'report.csv', out_dir / 'report.json']
    for n in names:
        paths.extend(output_paths(out_dir, n))
    return [p for p in paths if p.exists()]


def analyse(mask: np.ndarray, prob: np.ndarray | None, min_area: int,
            rule: AllRule) -> tuple[Any, dict[str, Any]]:
    """Count blasts in a class mask; the report's numbers for it."""
    blast = mask == BLAST_CLASS
    n_blast = int(np.count_nonzero(blast))
    fraction = n_blast / blast.size
    mean_prob = None
    if prob is not None and n_blast:
        # Summed in float64 over row bands: float16 sums lose precision, and
        # a whole-image float64 copy would cost 8 bytes per pixel.
        total = sum(float(prob[r:r + 1024][blast[r:r + 1024]].sum(dtype=np.float64))
                    for r in range(0, prob.shape[0], 1024))
        mean_prob = total / n_blast
    count = count_blasts(blast, min_area=min_area)
    del blast
    flag = rule.applies(count.count, fraction)
    blasts = count.stats()
    if prob is not None:
        for b, p in zip(blasts, blast_mean_probs(count, prob)):
            b['mean_prob'] = p
    return count, dict(blast_count=count.count, blast_area_fraction=fraction,
                       mean_blast_prob=mean_prob, all_suspected=flag,
                       all_rule=rule.text(min_area), blasts=blasts)


def process_image(model: Any, file: str, name: str, out_dir: Path,
                  min_area: int | None = None,
                  rule: AllRule = AllRule(),
                  sinks: Sequence[ImageSink] = ()) -> ImageRow:
    """Segment one file and write its mask and overlay (and hand it to the
    ``sinks``); never raises for a bad file (the row says what went wrong).

    ``min_area`` None: the minimum blast area follows the image's red-cell
    size (the config's ``source_rbc_px``, else measured; see
    :func:`~allidb_mmseg.evaluation.detection.image_min_blast_area`).
    """
    row = ImageRow(file=file, name=name)
    mask_path, overlay_path = output_paths(out_dir, name)
    try:
        img = read_image(file)
        row.height, row.width = img.shape[:2]
        if min_area is None:
            min_area = image_min_blast_area(img, model.cfg.get('source_rbc_px'))
        mask, prob = segment(model, img, return_prob=True)
        count, numbers = analyse(mask, prob, min_area, rule)
        del prob
        for k, v in numbers.items():
            setattr(row, k, v)
        atomic_imwrite(mask_path, mask)
        del mask
        overlay = draw_overlay(img, count, row.all_suspected)
        atomic_imwrite(overlay_path, overlay)
        row.mask = str(mask_path.relative_to(out_dir))
        row.overlay = str(overlay_path.relative_to(out_dir))
        seg = Segmented(row, img, count, overlay)  # outlines traced once
        for sink in sinks:
            sink.add(seg)
    except ImageReadError as e:
        row.status, row.error = 'failed', str(e)
    except MemoryError:
        row.status, row.error = 'failed', 'out of memory while processing this image'
    except Exception as e:  # one bad file must not end a batch
        msg = str(e).strip().splitlines()
        row.status = 'failed'
        row.error = f'{type(e).__name__}: {msg[0] if msg else ""}'.rstrip(': ')
    if row.status == 'failed':
        row.blasts = []
        for k in ('blast_count', 'blast_area_fraction', 'mean_blast_prob',
                  'all_suspected'):
            setattr(row, k, None)
        row.all_rule = ''
    return row


def run_batch(model: Any, items: list[InputItem], out_dir: str | os.PathLike,
              min_area: int | None = None, rule: AllRule = AllRule(),
              progress: bool = True, on_fail: Callable[[ImageRow], None] | None = None,
              settings: dict[str, Any] | None = None,
              sinks: Sequence[ImageSink] = ()) -> list[ImageRow]:
    """Process every item, then write report.csv and report.json (then
    close the ``sinks``: review page, COCO, GeoJSON; see :mod:`.sinks`).

    The caller checks :func:`existing_outputs` first (refuse or ``force``).
    The reports are written even if the run is interrupted, for the images
    done so far.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    (out_dir / 'masks').mkdir(parents=True, exist_ok=True)
    (out_dir / 'overlays').mkdir(parents=True, exist_ok=True)
    names = plan_names([it.file for it in items])
    rows: list[ImageRow] = []
    settings = dict(settings or {}, min_blast_area=min_area or SCALED_MIN_AREA,
                    all_rule=rule.text(min_area or SCALED_MIN_AREA))
    try:
        bar = tqdm(list(zip(items, names)), desc='segmenting', unit='img',
                   disable=not progress, dynamic_ncols=True)
        for item, name in bar:
            bar.set_postfix_str(Path(item.file).name[-30:], refresh=False)
            if item.error:
                row = ImageRow(file=item.file, name=name, status='failed',
                               error=item.error)
            else:
                row = process_image(model, item.file, name, out_dir, min_area,
                                    rule, sinks)
            rows.append(row)
            if row.status == 'failed' and on_fail is not None:
                on_fail(row)
        bar.close()
    finally:
        write_reports(rows, out_dir / 'report.csv', out_dir / 'report.json',
                      settings)
        for sink in sinks:
            sink.close(rows)
    return rows
