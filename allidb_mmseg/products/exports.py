"""Predicted blasts for annotation tools: CVAT "COCO 1.0" pre-annotations and QuPath GeoJSON.

**COCO (CVAT).** One instances file per run, laid out as CVAT exports "COCO
1.0", so "Upload annotations" -> "COCO 1.0" imports it into a task holding the
same images (CVAT matches them by file name, so ``file_name`` is the input's
own name). One ``lymphoblast`` annotation per predicted blast:

- without holes, a polygon per part (``iscrowd=0``; CVAT groups the parts);
- with a hole (a COCO polygon has none), an uncompressed RLE brush mask with
  ``iscrowd=1``, as CVAT writes one; CVAT imports it as a mask shape, our
  converter as a region of its category;
- the mean probability in ``attributes.score`` beside ``occluded: false``
  (CVAT keeps it only if the task's label has a ``score`` attribute).

**GeoJSON (QuPath).** One FeatureCollection per image, as QuPath's "Import
objects" reads it: a (Multi)Polygon feature per blast with
``properties.objectType``, ``classification`` and ``measurements``, in pixels
of the full-resolution image.

Both use the exact pixel-edge outlines of :mod:`.blast_shapes`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..converters.cvat_coco import COCO_CATEGORY, coco_document
from ..converters.cvat_coco import coco_image as image_entry
from ..utils import map_nested
from .blast_shapes import BlastShape, polygon_parts

__all__ = ['COCO_CATEGORY', 'QUPATH_CLASS', 'coco_image', 'coco_annotation',
           'coco_document', 'rle_counts', 'geojson_feature_collection']

QUPATH_CLASS = dict(name='Lymphoblast', color=[255, 200, 0])
OBJECT_TYPES = ('detection', 'annotation')
_DIGITS = 3  # coordinates are on pixel edges; 3 decimals keep scaled ones


def rle_counts(mask: np.ndarray, offset: tuple[int, int], height: int,
               width: int) -> list[int]:
    """Uncompressed COCO RLE counts of a crop placed in a full image.

    Runs alternate background/foreground in column-major order, starting
    with background, and sum to ``height * width`` (CVAT's mask format).
    Computed from the crop's pixels alone, never a full-size array.

    Args:
        mask: (h, w) crop; nonzero = inside.
        offset: (x, y) of ``mask[0, 0]`` in the image.
        height, width: the image's size.
    """
    cols, rows = np.nonzero(np.asarray(mask).T)  # column-major order
    flat = (cols + offset[0]).astype(np.int64) * height + rows + offset[1]
    if not flat.size:
        return [height * width]
    breaks = np.flatnonzero(np.diff(flat) != 1) + 1
    starts = flat[np.r_[0, breaks]]
    ends = flat[np.r_[breaks - 1, flat.size - 1]] + 1
    gaps = starts - np.r_[0, ends[:-1]]
    counts = np.column_stack([gaps, ends - starts]).ravel().tolist()
    counts.append(height * width - int(ends[-1]))
    return counts


def coco_image(image_id: int, file: str, width: int, height: int) -> dict:
    """A COCO image entry as CVAT writes it; ``file_name`` is the file's own name."""
    return image_entry(image_id, Path(file).name, width, height)


def coco_annotation(shape: BlastShape, ann_id: int, image_id: int,
                    height: int, width: int) -> dict:
    """One blast as a COCO annotation (polygons, or RLE when it has holes)."""
    x, y, w, h = shape.bbox
    crowd = shape.has_holes
    if crowd:
        segmentation: Any = dict(size=[int(height), int(width)],
                                 counts=rle_counts(shape.mask, (x, y), height, width))
    else:
        segmentation = [np.round(np.asarray(p.exterior.coords)[:-1], _DIGITS).ravel().tolist()
                        for p in polygon_parts(shape.geometry)]
    attributes: dict[str, Any] = dict(occluded=False)
    if shape.score is not None:
        attributes['score'] = round(float(shape.score), 4)
    return dict(id=ann_id, image_id=image_id,
                category_id=COCO_CATEGORY['id'], segmentation=segmentation,
                area=float(shape.area), bbox=[float(x), float(y), float(w), float(h)],
                iscrowd=int(crowd), attributes=attributes)


def geojson_feature_collection(shapes: Iterable[BlastShape],
                               object_type: str = 'detection') -> dict:
    """QuPath-readable GeoJSON of one image's blasts.

    Args:
        shapes: the image's blasts (:func:`.blast_shapes.blast_shapes`, or
            a slide's in level-0 pixels from
            :func:`.blast_shapes.streamed_shapes`).
        object_type: ``detection`` (light, counted per class by QuPath) or
            ``annotation`` (editable objects).

    Returns:
        A GeoJSON ``FeatureCollection`` (a dict ready for ``json.dump``).
    """
    from shapely.geometry import mapping

    if object_type not in OBJECT_TYPES:
        raise ValueError(f'object_type must be one of {OBJECT_TYPES}, '
                         f'got {object_type!r}')
    features = []
    for s in shapes:
        geometry = mapping(s.geometry)
        geometry['coordinates'] = map_nested(geometry['coordinates'],
                                             lambda c: round(float(c), _DIGITS))
        measurements: dict[str, float] = {'Area px^2': float(s.area)}
        if s.score is not None:
            measurements['Mean blast probability'] = round(float(s.score), 4)
        features.append(dict(type='Feature', geometry=geometry, properties=dict(
            objectType=object_type, name=f'blast {s.label}',
            classification=dict(QUPATH_CLASS), measurements=measurements)))
    return dict(type='FeatureCollection', features=features)
