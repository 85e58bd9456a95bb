"""Segment many smears into an output folder: masks, overlays, a report.

The folder layout, fixed so other tools can rely on it::

    OUT/masks/<name>.png      uint8 class indices (1 = lymphoblast)
    OUT/masks/<name>.ome.tif  the same for a slide: tiled, pyramidal
    OUT/overlays/<name>.png   blast contours and the count (at most 4096 px
                              long for slides and images above 36 MP)
    OUT/report.csv, OUT/report.json

``<name>`` is the input's stem, ``<stem>-2`` (``-3``...) for a repeated one.
Existing outputs are never replaced without ``force``: the whole run is
refused before any work (files it would not write are left alone, even with
``force``).
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from tqdm import tqdm

from ..evaluation.counting import AllRule
from ..io.slides import is_slide
from ..products.report import SCALED_MIN_AREA, ImageRow, write_reports
from ..products.sinks import ImageSink
from ..products.stain_check import StainCheck
from ..utils import WriteError
from .pipeline import output_paths, process_image

__all__ = ['InputItem', 'collect_inputs', 'plan_names', 'existing_outputs',
           'process_image', 'run_batch']


@dataclass
class InputItem:
    """One thing to segment; ``error`` is set when it was never a file."""

    file: str
    error: str = ''


def collect_inputs(specs: Iterable[str]) -> list[InputItem]:
    """Expand files, folders (their files, not recursive) and glob patterns.

    Every non-hidden file of a folder is taken, so a stray non-image is
    reported as failed, not silently ignored; so is a name that matches
    nothing. A file reached twice is kept once.
    """
    items: list[InputItem] = []
    seen: set[str] = set()
    for spec in specs:
        p = Path(spec)
        if p.is_dir():
            files = [f for f in sorted(p.iterdir())
                     if f.is_file() and not f.name.startswith('.')]
        elif p.is_file():
            files = [p]
        elif set('*?[') & set(spec):
            files = [Path(h) for h in sorted(glob.glob(spec, recursive=True))
                     if Path(h).is_file()]
            if not files:
                items.append(InputItem(spec, 'no file matches this pattern'))
        else:
            files = []
            items.append(InputItem(spec, 'no such file or folder'))
        for f in files:
            key = os.path.realpath(f)
            if key not in seen:
                seen.add(key)
                items.append(InputItem(str(f)))
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


def existing_outputs(out_dir: Path, names: list[str],
                     files: list[str] | None = None) -> list[Path]:
    """Files this run would write that already exist (``files``, the
    inputs, tell slides from images)."""
    paths = [out_dir / 'report.csv', out_dir / 'report.json']
    for k, n in enumerate(names):
        paths.extend(output_paths(out_dir, n, files is not None and is_slide(files[k])))
    return [p for p in paths if p.exists()]


def run_batch(model: Any, items: list[InputItem], out_dir: str | os.PathLike,
              min_area: int | None = None, rule: AllRule = AllRule(),
              progress: bool = True, on_fail: Callable[[ImageRow], None] | None = None,
              settings: dict[str, Any] | None = None,
              sinks: Sequence[ImageSink] = (),
              names: list[str] | None = None,
              reports: tuple[Path, Path] | None = None,
              stain: StainCheck | None = None,
              mpp: float | None = None) -> list[ImageRow]:
    """Process every item, write report.csv and report.json, then close the
    ``sinks`` (review page, COCO, GeoJSON; see :mod:`.sinks`).

    ``stain`` (:func:`~allidb_mmseg.products.stain_check.load_stain_check`)
    scores, and may normalize, every image; ``mpp`` overrides every input's
    microns per pixel. The caller checks :func:`existing_outputs` first.
    If the run is interrupted (Ctrl-C, SIGTERM) or an output cannot be
    written, the reports of the images done so far are still written and the
    exception carries a note saying so. ``names`` (planned over a larger
    list) and ``reports`` (other CSV/JSON paths) serve a distributed shard.
    """
    out_dir = Path(out_dir)
    for folder in ('masks', 'overlays'):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    names = names or plan_names([it.file for it in items])
    rows: list[ImageRow] = []
    stated_area = min_area or SCALED_MIN_AREA
    settings = dict(settings or {}, min_blast_area=stated_area, all_rule=rule.text(stated_area))
    csv_path, json_path = reports or (out_dir / 'report.csv', out_dir / 'report.json')
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
                                    rule, mpp, progress, sinks, stain)
            rows.append(row)
            if row.status == 'failed' and on_fail is not None:
                on_fail(row)
        bar.close()
    except BaseException as exc:  # Ctrl-C, SIGTERM, a full disk...
        try:
            write_reports(rows, csv_path, json_path, settings)
        except WriteError as err:
            exc.add_note(f'the report could not be written either ({err})')
        else:
            exc.add_note(f'report of the {len(rows)} image(s) done so far: {csv_path}')
        raise
    else:
        write_reports(rows, csv_path, json_path, settings)
    finally:
        for sink in sinks:
            sink.close(rows, settings)
    return rows
