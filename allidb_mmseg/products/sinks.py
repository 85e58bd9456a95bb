"""Extra outputs of a batch run: the review page, COCO pre-annotations, QuPath GeoJSON.

:func:`.batch.run_batch` hands every segmented image to each *sink* and closes
them with the report's rows and settings (also for the images done before an
interruption). A sink names its files up front, so that the run can refuse to
overwrite them without ``--force`` before any work.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from ..evaluation.counting import BlastCount
from ..utils import AllidbError, atomic_write_json
from .blast_shapes import BlastShape, blast_shapes
from .exports import (coco_annotation, coco_document, coco_image,
                      geojson_feature_collection)
from .report import ImageRow, report_document
from .review_page import review_outputs, write_review_images, write_review_page

__all__ = ['Segmented', 'ImageSink', 'ReviewPageSink', 'CocoSink',
           'GeoJsonSink', 'output_sinks', 'skipped_line', 'wants_outlines']


@dataclass
class Segmented:
    """One segmented image as the sinks see it.

    Attributes:
        row: its report row, filled in.
        image: the BGR image (a streamed image: its downsampled overlay).
        count: the counted blasts; None for a streamed image, whose label
            image was never whole in memory.
        overlay: the BGR overlay written to ``overlays/``.
        outlines: a streamed image's blast outlines, traced band by band
            (when a sink asked for them), else None.
        slide: a whole-slide image (outlines in level-0 slide pixels).
    """

    row: ImageRow
    image: np.ndarray
    count: BlastCount | None
    overlay: np.ndarray
    outlines: list[BlastShape] | None = None
    slide: bool = False

    @cached_property
    def shapes(self) -> list[BlastShape] | None:
        """The blasts' outlines, traced once for all sinks (None: not kept)."""
        return self.outlines if self.count is None else blast_shapes(self.count)


class ImageSink(Protocol):
    """What :func:`.batch.run_batch` calls on each extra output."""

    # A sink that sets ``wants_outlines = True`` gets the outlines of
    # streamed images too (they are then kept while counting).

    def outputs(self, files: Sequence[str], names: Sequence[str]) -> list[Path]:
        """The files it would write (raise AllidbError if it cannot take these inputs)."""

    def add(self, seg: Segmented) -> None:
        """Take one segmented image."""

    def close(self, rows: Sequence[ImageRow], settings: dict) -> None:
        """Finish with the run's rows and settings (those of report.json)."""


@dataclass
class ReviewPageSink:
    """``OUT/index.html`` and its pictures (:mod:`.review_page`)."""

    out_dir: Path

    def outputs(self, files, names):
        return review_outputs(self.out_dir, names)

    def add(self, seg: Segmented) -> None:
        write_review_images(self.out_dir, seg.row.name, seg.overlay, seg.image)

    def close(self, rows, settings) -> None:
        write_review_page(self.out_dir, report_document(list(rows), settings))


@dataclass
class CocoSink:
    """One COCO 1.0 instances file for CVAT (:mod:`.exports`)."""

    path: Path
    # (image, its annotations) per image, numbered in input order by close().
    entries: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    wants_outlines = True

    def outputs(self, files, names):
        if self.path.is_dir():
            raise AllidbError(self.path, 'is a folder; --coco-out takes a file name')
        dup = [n for n, k in Counter(Path(f).name for f in files).items() if k > 1]
        if dup:
            raise AllidbError(dup[0], 'two inputs have this file name; CVAT '
                              'matches images by name, so --coco-out needs '
                              'unique names')
        return [self.path]

    def add(self, seg: Segmented) -> None:
        if seg.slide or seg.shapes is None:  # CVAT takes no slides
            self.skipped.append(seg.row.name)
            return
        row = seg.row
        anns = [coco_annotation(s, 0, 0, row.height, row.width) for s in seg.shapes]
        self.entries.append((coco_image(0, row.file, row.width, row.height), anns))

    def close(self, rows, settings) -> None:
        by_name = {img['file_name']: (img, anns) for img, anns in self.entries}
        images, annotations = [], []
        for row in rows:  # ids as CVAT numbers them: images, then annotations
            entry = by_name.get(Path(row.file).name)
            if row.status != 'ok' or entry is None:
                continue
            images.append(dict(entry[0], id=len(images) + 1))
            annotations += [dict(a, id=len(annotations) + k + 1, image_id=len(images))
                            for k, a in enumerate(entry[1])]
        atomic_write_json(self.path, coco_document(
            images, annotations, 'allidb_mmseg predictions (pre-annotations)'),
            indent=None)


@dataclass
class GeoJsonSink:
    """``OUT/geojson/<name>.geojson`` per image, for QuPath (:mod:`.exports`)."""

    out_dir: Path
    object_type: str = 'detection'
    skipped: list = field(default_factory=list)
    wants_outlines = True

    def path(self, name: str) -> Path:
        return self.out_dir / 'geojson' / f'{name}.geojson'

    def outputs(self, files, names):
        return [self.path(n) for n in names]

    def add(self, seg: Segmented) -> None:
        if seg.shapes is None:
            self.skipped.append(seg.row.name)
            return
        atomic_write_json(self.path(seg.row.name), geojson_feature_collection(
            seg.shapes, self.object_type), indent=None)

    def close(self, rows, settings) -> None:
        pass


def output_sinks(out_dir: str | Path, coco_out: str | Path | None = None,
                 geojson: bool = False, geojson_type: str = 'detection'
                 ) -> list[ImageSink]:
    """The extra outputs of ``tools/infer.py``: the review page, COCO and GeoJSON when asked."""
    sinks: list[ImageSink] = [ReviewPageSink(Path(out_dir))]
    if coco_out:
        sinks.append(CocoSink(Path(coco_out)))
    if geojson:
        sinks.append(GeoJsonSink(Path(out_dir), geojson_type))
    return sinks


def wants_outlines(sinks: Sequence[ImageSink]) -> bool:
    """Whether a sink needs the outlines of streamed images."""
    return any(getattr(s, 'wants_outlines', False) for s in sinks)


def skipped_line(sinks: Sequence[ImageSink]) -> str | None:
    """One line naming the whole-slide images left out of the COCO export
    (CVAT's tasks take images, not slides; their blasts are in the GeoJSON,
    in slide coordinates), or None."""
    names = sorted({n for s in sinks for n in getattr(s, 'skipped', [])})
    if not names:
        return None
    return (f'{len(names)} whole-slide image(s) are not in --coco-out (CVAT '
            f'takes images, not slides; use --geojson for QuPath), e.g. {names[0]}')
