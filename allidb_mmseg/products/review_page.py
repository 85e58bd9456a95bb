"""A review page for an output folder: ``index.html``, opened straight from disk.

One HTML file, script and style inline, with the run's ``report.json`` embedded
(per-blast lists left out), so it needs no server and shows what the report
says. Its pictures are files beside it, by relative path, so the folder can be
moved or zipped whole::

    OUT/index.html
    OUT/overlays/<name>.png        the full overlay ("mask on")
    OUT/review/images/<name>.jpg   the image itself ("mask off"), at most 2048 px
    OUT/review/thumbs/<name>.jpg   the card thumbnail, at most 256 px, lazily loaded
"""
from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from ..utils import atomic_imwrite, atomic_write_text, fit_within

__all__ = ['PAGE_NAME', 'review_paths', 'review_outputs', 'write_review_images',
           'write_review_page', 'page_data']

PAGE_NAME = 'index.html'
THUMB_SIDE, THUMB_QUALITY = 256, 80
VIEW_SIDE, VIEW_QUALITY = 2048, 85


def review_paths(out_dir: str | Path, name: str) -> dict[str, Path]:
    """Where the page's pictures of image ``name`` go (``thumb``, ``plain``)."""
    out_dir = Path(out_dir)
    return dict(thumb=out_dir / 'review' / 'thumbs' / f'{name}.jpg',
                plain=out_dir / 'review' / 'images' / f'{name}.jpg')


def review_outputs(out_dir: str | Path, names: Iterable[str]) -> list[Path]:
    """Every file the page of these images consists of."""
    return [Path(out_dir) / PAGE_NAME] + [
        p for name in names for p in review_paths(out_dir, name).values()]


def write_review_images(out_dir: str | Path, name: str, overlay: np.ndarray,
                        plain: np.ndarray) -> None:
    """The card thumbnail (of the BGR ``overlay``) and the "mask off" picture
    (the BGR image ``plain``) of image ``name`` in the page's folder."""
    paths = review_paths(out_dir, name)
    atomic_imwrite(paths['thumb'], fit_within(overlay, THUMB_SIDE),
                   [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
    atomic_imwrite(paths['plain'], fit_within(plain, VIEW_SIDE),
                   [cv2.IMWRITE_JPEG_QUALITY, VIEW_QUALITY])


def page_data(report: dict, out_dir: str | Path, title: str,
              default_sort: str = 'name',
              legend: Sequence[tuple[str, Sequence[int]]] = ()) -> dict:
    """What the page embeds: the report minus per-blast lists, plus the
    relative paths of each image's pictures."""
    out_dir = Path(out_dir)
    images = []
    for row in report.get('images', []):
        row = {k: v for k, v in row.items() if k != 'blasts'}
        if row.get('status') == 'ok':
            rel = {k: p.relative_to(out_dir).as_posix()
                   for k, p in review_paths(out_dir, row['name']).items()}
            row.update(rel, overlay=Path(row['overlay']).as_posix())
        images.append(row)
    return dict(title=title, summary=report.get('summary', {}),
                settings=report.get('settings', {}), images=images,
                default_sort=default_sort,
                legend=[[label, list(rgb)] for label, rgb in legend])


def write_review_page(out_dir: str | Path, report: dict,
                      title: str | None = None, default_sort: str = 'name',
                      legend: Sequence[tuple[str, Sequence[int]]] = ()) -> Path:
    """Write ``OUT/index.html`` for a report (the content of report.json).

    Args:
        out_dir: the output folder holding ``overlays/`` and ``review/``.
        report: ``{"summary": ..., "settings": ..., "images": [...]}``, as
            :func:`allidb_mmseg.products.report.write_reports` writes it; rows
            may carry more keys (``iou``, ``true_count``), which the page
            shows.
        title: the page title (default: the folder's name).
        default_sort: ``name``, ``count``, ``prob`` or ``iou``.
        legend: (label, RGB) pairs shown under the summary.

    Returns:
        The page's path.
    """
    out_dir = Path(out_dir)
    title = title or f'Blast review: {out_dir.resolve().name}'
    data = page_data(report, out_dir, title, default_sort, legend)
    # JSON in a <script> element: no "<" may close it early; \u003c is the
    # same character to the JSON parser.
    payload = json.dumps(data, allow_nan=False).replace('<', '\\u003c')
    template = resources.files(__package__).joinpath(
        'review_page.html').read_text(encoding='utf-8')
    page = template.replace('__TITLE__', html.escape(title)) \
                   .replace('__DATA__', payload)
    path = out_dir / PAGE_NAME
    atomic_write_text(path, page)
    return path

