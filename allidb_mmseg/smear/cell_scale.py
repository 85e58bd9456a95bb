"""The working scale of native-scale configs: cell size in pixels.

A native-scale config (``configs/segformer_allidb_native_aug.py``) rescales
every image once so that red blood cells measure ``working_rbc_px`` pixels
across, whatever the camera, magnification or image size, then works in tiles.
This module (numpy and OpenCV only) is the one place that knows how big the
cells of an image are; its contract is kept stable for ``allidb_mmseg.apis``.

``cfg_or_settings`` is an mmengine ``Config`` or any mapping holding the
config's ``working_rbc_px`` and ``source_rbc_px`` (a per-dataset override of
the input's red-cell size; None measures each image).
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Mapping, MutableMapping, NamedTuple, Optional

import cv2
import numpy as np
from scipy import ndimage as ndi

__all__ = ['RBC_DIAMETER_UM', 'BLAST_RBC_RATIO', 'MIN_BLAST_AREA_FRACTION',
           'ScaleUnknownError', 'estimate_rbc_diameter', 'source_rbc_diameter',
           'working_scale_factor', 'default_min_blast_area', 'DEFAULT_MIN_BLAST_AREA',
           'min_blast_area', 'image_rbc_px', 'set_scale_settings', 'RbcMeasure',
           'measure_rbc', 'RBC_CONFIDENCE_MIN', 'WorkingScale', 'checked_working_scale']

# A human red blood cell is about 7.5 microns across.
RBC_DIAMETER_UM = 7.5
# A lymphoblast is about twice as wide as a red cell (10-18 um; the
# synthetic smears draw 1.6-2.3 red-cell diameters).
BLAST_RBC_RATIO = 2.0
# The smallest blast counted, as a share of the expected blast area: half a
# blast cut by the image border still counts, a platelet clump or a speck
# of false positive pixels does not.
MIN_BLAST_AREA_FRACTION = 0.2
# Pixels; about a disc of radius 7: the minimum blast area when the red-cell
# size is unknown (smaller specks are debris or noise at any resolution our
# models run at).
DEFAULT_MIN_BLAST_AREA = 150

# The measurement runs on a copy with at most this many pixels (speed),
# unless red cells would then be smaller than _MIN_MEASURED_PX across.
_MEASURE_PIXELS = 1_000_000
_MIN_MEASURED_PX = 16.0
# Fewer cells than this: no reliable median.
_MIN_CELLS = 8
# A cell mask covering more than this share of the image has merged the
# cells into a carpet (a very dense smear, or a threshold too high); its
# distance peaks no longer measure single cells.
_MAX_CELL_SHARE = 0.8
# Candidates whose mode holds at least this share of the best support are
# all plausible; the largest radius of them wins (fragments, rims and
# noise make small modes, never large ones).
_PLAUSIBLE_SUPPORT = 0.6
# Cells measured smaller than this (pixels) are never trusted.
_MIN_SURE_PX = 8.0
# The confidence: the cells counted, as discs of the measured diameter,
# should cover about the cell mask's area. Fragments and pale-centre rims of
# larger cells leave most of the mask unexplained; clumps taken for single
# cells overshoot it. Where cells crowd, overlapping cells share distance
# peaks and fewer are counted, so the coverage is weighted by the glass's
# share of the image, squared. The range below catches the most misread
# real fields while flagging at most 10 % of the well-read ones, and holds
# every well-read synthetic field (docs/real_data.md; refitted for the weighted
# mode, it caught no more). The confidence is 1 at its geometric middle and
# RBC_CONFIDENCE_MIN at its ends; below it a measured size is unsure: not used
# to rescale an image silently.
_COVERAGE_RANGE = (0.125, 0.42)
_TYPICAL_COVERAGE = math.sqrt(_COVERAGE_RANGE[0] * _COVERAGE_RANGE[1])
RBC_CONFIDENCE_MIN = math.sqrt(_COVERAGE_RANGE[0] / _COVERAGE_RANGE[1])


class ScaleUnknownError(ValueError):
    """The red-cell size of an input is unknown and cannot be measured."""


def _otsu_thresholds(gray: np.ndarray) -> tuple[int, int]:
    """Otsu's thresholds t1 < t2 of classes [0, t1), [t1, t2), [t2, 256) (exhaustive)."""
    p = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    p /= p.sum()
    mass = np.concatenate([[0.0], np.cumsum(p)])
    moment = np.concatenate([[0.0], np.cumsum(p * np.arange(256))])

    def spread(a: Any, b: Any) -> np.ndarray:
        w = mass[b] - mass[a]
        s = moment[b] - moment[a]
        return np.where(w > 0, s * s / np.where(w > 0, w, 1.0), -np.inf)

    t1, t2 = np.ogrid[:257, :257]
    score = spread(0, t1) + spread(t1, t2) + spread(t2, 256)
    score = np.where(t2 > t1, score, -np.inf)
    a, b = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(a), int(b)


def _cell_masks(img_bgr: np.ndarray) -> list[np.ndarray]:
    """Candidate masks of the cells against the glass, holes (pale centres) filled.

    Otsu's threshold of the green channel may split pale red cells from
    overlaps and nuclei instead of from the glass; the upper threshold of a
    three-class Otsu (glass | red cells | nuclei) does not. The colour distance
    from the glass works on a tinted background and keeps the pale rims.
    """
    green = img_bgr[..., 1] if img_bgr.ndim == 3 else img_bgr
    green = cv2.GaussianBlur(np.ascontiguousarray(green), (0, 0), 1.0)
    _, two = cv2.threshold(green, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    _, upper = _otsu_thresholds(green)
    masks = [two, (green < upper).astype(np.uint8)]
    if img_bgr.ndim == 3:  # Lab colour away from the glass's (its brightest tenth)
        lab = cv2.GaussianBlur(cv2.cvtColor(np.ascontiguousarray(img_bgr),
                                            cv2.COLOR_BGR2LAB).astype(np.float32), (0, 0), 1.0)
        light = lab[..., 0]
        glass = np.median(lab[light >= np.percentile(light, 90)], axis=0)
        dist = np.linalg.norm(lab - glass, axis=2)
        top = max(1e-6, float(np.percentile(dist, 99.5)))
        dist8 = np.clip(dist * (255.0 / top), 0, 255).astype(np.uint8)
        otsu, _ = cv2.threshold(dist8, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        masks.append((dist8 > otsu).astype(np.uint8))
    return [ndi.binary_fill_holes(m).astype(np.uint8) for m in masks]


def _peak_heights(cells: np.ndarray) -> np.ndarray:
    """Heights of the distance-map peaks of a cell mask: one per cell, its radius.

    Overlaps do not merge cells: the neck between two discs is lower than
    either. Peaks are maxima over a window of about one radius.
    """
    share = float(cells.mean())
    if share < 0.02 or share > _MAX_CELL_SHARE:
        return np.zeros(0)  # blank, or a carpet of merged cells
    dist = cv2.distanceTransform(np.pad(cells, 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    radius_guess = float(np.percentile(dist[dist > 0], 90))
    window = max(3, int(radius_guess) | 1)
    peaks = (dist == ndi.maximum_filter(dist, size=window)) & (dist >= 2.0)
    labels, n = ndi.label(peaks)
    return np.asarray(ndi.maximum(dist, labels, np.arange(1, n + 1)))


def _typical_radius(heights: np.ndarray) -> tuple[float, float]:
    """The mode of the log heights, each weighted by its height, and the share of
    peaks within 15 % of it. A mode: fragments give a low tail that a median would
    follow; weighted: the open rim of one pale-centred cell breaks into several
    low peaks, which then weigh what they measure, not how many they are."""
    logs = np.log(heights)
    grid = np.linspace(logs.min(), logs.max() + 1e-6, 400)
    density = (heights * np.exp(-0.5 * ((grid[:, None] - logs[None]) / 0.08) ** 2)).sum(1)
    mode = float(grid[int(density.argmax())])
    return math.exp(mode), float(np.mean(np.abs(logs - mode) < 0.15))


class RbcMeasure(NamedTuple):
    """A red-cell measurement (:func:`measure_rbc`).

    Attributes:
        diameter: the typical red-cell diameter in pixels, or None when the
            image shows too few separable cells.
        confidence: 0-1; below :data:`RBC_CONFIDENCE_MIN` the diameter is
            not to be trusted.
        n_cells: the cells (distance-map peaks) the diameter came from.
    """

    diameter: Optional[float]
    confidence: float
    n_cells: int

    @property
    def sure(self) -> bool:
        """A diameter the ruler trusts (confidence at the threshold or above)."""
        return self.diameter is not None and self.confidence >= RBC_CONFIDENCE_MIN


class _Candidate(NamedTuple):
    radius: float   # the mode of the peak heights
    support: float  # share of peaks within 15 % of it
    n: int          # peaks
    share: float    # of the image in the cell mask


def _measure(img_bgr: np.ndarray) -> RbcMeasure:
    """Twice the typical inscribed radius of the cells, and its confidence.

    Of the candidate masks with enough support (:data:`_PLAUSIBLE_SUPPORT`),
    the largest radius wins: on real smears the wrong candidates are cell
    fragments, pale-centre rims and stain grain, all smaller than a red cell.
    The confidence says how close the coverage (the mask's area over that of
    its cells as discs, weighted for crowding) is to the typical one; cells
    below :data:`_MIN_SURE_PX` get none (noise, stain grain).
    """
    cands = []
    for cells in _cell_masks(img_bgr):
        h = _peak_heights(cells)
        if h.size >= _MIN_CELLS:
            cands.append(_Candidate(*_typical_radius(h), h.size, float(cells.mean())))
    if not cands:
        return RbcMeasure(None, 0.0, 0)
    top = max(c.support for c in cands)
    best = max((c for c in cands if c.support >= _PLAUSIBLE_SUPPORT * top),
               key=lambda c: c.radius)
    confidence = 0.0
    if 2.0 * best.radius >= _MIN_SURE_PX:
        coverage = best.share * math.prod(img_bgr.shape[:2]) / (best.n * math.pi * best.radius ** 2)
        weighted = coverage * (1.0 - best.share) ** 2
        confidence = float(min(weighted / _TYPICAL_COVERAGE, _TYPICAL_COVERAGE / weighted))
    return RbcMeasure(2.0 * best.radius, confidence, best.n)


def measure_rbc(img_bgr: np.ndarray) -> RbcMeasure:
    """Measure the red cells of a smear image: diameter and confidence.

    Red cells outnumber every other cell of a smear, so the typical cell size
    is theirs; each cell measures twice the radius of its inscribed disc (a
    distance-map peak), which overlaps do not inflate as they do component
    areas. Large images are measured on a copy of about one megapixel (red
    cells never below 16 px). The confidence says whether the cells counted, at
    the size measured, can cover the cell mask; on real smears a third of the fields
    below :data:`RBC_CONFIDENCE_MIN` are off by over 20 %, 3 % above (``docs/real_data.md``).

    Args:
        img_bgr: uint8 (H, W, 3) BGR image (or (H, W) gray).

    Returns:
        The measurement; diameter None (confidence 0) when the image shows
        too few separable cells (blank, out of focus, cells everywhere).

    Raises:
        TypeError: the image is not uint8.
    """
    img = np.asarray(img_bgr)
    if img.ndim not in (2, 3) or min(img.shape[:2]) < 16:
        return RbcMeasure(None, 0.0, 0)
    if img.dtype != np.uint8:
        raise TypeError(f'expected a uint8 image, got {img.dtype}')
    h, w = img.shape[:2]
    shrink = min(1.0, math.sqrt(_MEASURE_PIXELS / (h * w)))
    if shrink < 1.0:
        coarse = _measure(cv2.resize(img, (max(16, round(w * shrink)),
                                           max(16, round(h * shrink))),
                                     interpolation=cv2.INTER_AREA))
        if coarse.diameter is not None and coarse.diameter >= _MIN_MEASURED_PX:
            return coarse._replace(diameter=coarse.diameter / shrink)
    return _measure(img)


def estimate_rbc_diameter(img_bgr: np.ndarray) -> Optional[float]:
    """Red-cell diameter of a smear image, in pixels; None if unclear.

    The diameter of :func:`measure_rbc` (same input), whatever its confidence
    (use :func:`measure_rbc` to know whether to trust it). Accuracy: on synthetic
    fields docs/native_scale.md, on real smears docs/real_data.md.
    """
    return measure_rbc(img_bgr).diameter


def _setting(cfg_or_settings: Mapping[str, Any], key: str) -> Any:
    return getattr(cfg_or_settings, 'get', lambda _: None)(key)


def source_rbc_diameter(cfg_or_settings: Mapping[str, Any] | None = None,
                        img_bgr: Optional[np.ndarray] = None,
                        mpp: Optional[float] = None,
                        source_rbc_px: Optional[float] = None) -> float:
    """Red-cell diameter of an input image, in its own pixels.

    Args:
        cfg_or_settings: a config (or mapping) whose ``source_rbc_px`` is the
            per-dataset override; may be None.
        img_bgr: the image, measured when nothing else says the size.
        mpp: microns per pixel of the input (a slide's or the user's).
        source_rbc_px: an explicit red-cell diameter in input pixels.

    Returns:
        The diameter, from (first given wins) ``source_rbc_px``, ``mpp``,
        the config's ``source_rbc_px``, or :func:`estimate_rbc_diameter`.

    Raises:
        ScaleUnknownError: none given and the image cannot be measured.
    """
    return _source_rbc(cfg_or_settings, img_bgr, mpp, source_rbc_px)[0]


def _source_rbc(cfg_or_settings: Mapping[str, Any] | None,
                img_bgr: Optional[np.ndarray], mpp: Optional[float],
                source_rbc_px: Optional[float]) -> tuple[float, bool]:
    """:func:`source_rbc_diameter`, and whether it is an unsure measurement."""
    if source_rbc_px:
        return _positive(source_rbc_px, 'source_rbc_px'), False
    if mpp:
        return RBC_DIAMETER_UM / _positive(mpp, 'mpp'), False
    configured = _setting(cfg_or_settings or {}, 'source_rbc_px')
    if configured:
        return _positive(configured, 'source_rbc_px'), False
    if img_bgr is None:
        raise ScaleUnknownError(
            'the red-cell size of the input is unknown: give mpp (microns per '
            'pixel), source_rbc_px or an image to measure')
    measured = measure_rbc(img_bgr)
    if measured.diameter is None:
        raise ScaleUnknownError(
            'cannot measure the red-cell size in this image (too few separate '
            'cells); give the microns per pixel (--mpp) or set source_rbc_px in the config')
    return measured.diameter, not measured.sure


def working_scale_factor(cfg_or_settings: Mapping[str, Any],
                         img_bgr: Optional[np.ndarray] = None,
                         mpp: Optional[float] = None,
                         source_rbc_px: Optional[float] = None) -> float:
    """Output pixels per input pixel that bring red cells to the working scale.

    ``working_rbc_px / source_rbc_diameter(...)``, the arguments as for
    :func:`source_rbc_diameter`, the config also holding ``working_rbc_px``.

    Raises:
        KeyError: the config has no ``working_rbc_px`` (not a native-scale
            config).
        ScaleUnknownError: the input's red-cell size is unknown.
    """
    return checked_working_scale(cfg_or_settings, img_bgr, mpp, source_rbc_px).factor


class WorkingScale(NamedTuple):
    """A working scale and whether it rests on an unsure measurement.

    Attributes:
        factor: output pixels per input pixel.
        unsure: the factor rests on a measured red-cell size the ruler does
            not trust (:attr:`RbcMeasure.sure` false; nothing better is
            known): the input is to be flagged, never rescaled silently.
    """

    factor: float
    unsure: bool


def checked_working_scale(cfg_or_settings: Mapping[str, Any],
                          img_bgr: Optional[np.ndarray] = None,
                          mpp: Optional[float] = None,
                          source_rbc_px: Optional[float] = None) -> WorkingScale:
    """:func:`working_scale_factor`, and whether it is unsure.

    An explicit ``source_rbc_px``, ``mpp`` or the config's ``source_rbc_px``
    are never unsure; a measurement below :data:`RBC_CONFIDENCE_MIN` is.
    Raises as :func:`working_scale_factor` does.
    """
    working = _setting(cfg_or_settings, 'working_rbc_px')
    if working is None:
        raise KeyError('working_rbc_px: not a native-scale config')
    rbc, unsure = _source_rbc(cfg_or_settings, img_bgr, mpp, source_rbc_px)
    return WorkingScale(_positive(working, 'working_rbc_px') / rbc, unsure)


def default_min_blast_area(rbc_px: Optional[float],
                           fraction: float = MIN_BLAST_AREA_FRACTION) -> int:
    """The smallest blast counted, in pixels, where red cells are ``rbc_px``
    (None, unknown: :data:`DEFAULT_MIN_BLAST_AREA`).

    A fixed pixel area is right at one resolution only (150 px suits a field
    squeezed to 256 px, not the same field at 2592 px); a share of the
    expected blast area is right at all of them.
    """
    if rbc_px is None:
        return DEFAULT_MIN_BLAST_AREA
    expected_blast_area = math.pi / 4.0 * (BLAST_RBC_RATIO * float(rbc_px)) ** 2
    return max(1, int(round(fraction * expected_blast_area)))


def image_rbc_px(img_bgr: Optional[np.ndarray] = None,
                 source_rbc_px: Optional[float] = None,
                 working_rbc_px: Optional[float] = None,
                 scale: float = 1.0, warn: bool = True,
                 mpp: Optional[float] = None) -> Optional[float]:
    """The red-cell diameter of an image, in its own pixels.

    First known wins: ``working_rbc_px / scale`` (a native-scale model's
    working size, ``scale`` being working pixels per image pixel); the
    image's microns per pixel ``mpp``; ``source_rbc_px``, a dataset's stated
    red-cell diameter; the size measured in ``img_bgr``. When none tells:
    None, and (``warn``) a warning that the minimum blast area falls back to
    :data:`DEFAULT_MIN_BLAST_AREA`.
    """
    if working_rbc_px is not None:
        return float(working_rbc_px) / scale
    try:
        return source_rbc_diameter(dict(source_rbc_px=source_rbc_px), img_bgr, mpp)
    except ValueError as e:  # red cells not measurable
        if warn:
            warnings.warn(f'{e}; minimum blast area {DEFAULT_MIN_BLAST_AREA} px',
                          stacklevel=3)
        return None


def min_blast_area(img_bgr: Optional[np.ndarray] = None,
                   source_rbc_px: Optional[float] = None,
                   working_rbc_px: Optional[float] = None,
                   scale: float = 1.0) -> int:
    """The smallest blast counted in an image, in its own pixels, at the
    red-cell size of :func:`image_rbc_px` (unknown: the fixed default)."""
    return default_min_blast_area(image_rbc_px(img_bgr, source_rbc_px, working_rbc_px, scale))


# Config dicts that take scale settings, by type, and which of them.
_SCALE_USERS = {'RescaleToWorkingScale': ('working_rbc_px', 'source_rbc_px'),
                'BlastDetectionMetric': ('source_rbc_px',)}


def set_scale_settings(cfg: MutableMapping[str, Any], **settings: Any) -> None:
    """Set ``working_rbc_px``/``source_rbc_px`` in a config and where it is used.

    Why: a config's pipelines and evaluators copy the top-level values when
    the file is parsed, so ``--cfg-options working_rbc_px=32`` alone would
    change the top-level key but not the transforms that use it.
    """
    unknown = set(settings) - {'working_rbc_px', 'source_rbc_px'}
    if unknown:
        raise KeyError(f'not a scale setting: {sorted(unknown)}')
    for key, value in settings.items():
        cfg[key] = value
    for node, keys in _scale_users(cfg):
        node.update({k: v for k, v in settings.items() if k in keys})


def _scale_users(node: Any):
    """Every dict inside ``node`` (a mapping, a list, or an mmengine
    ``Config``, which is neither) that takes scale settings, with its keys."""
    if isinstance(node, Mapping) or callable(getattr(node, 'items', None)):
        keys = _SCALE_USERS.get(str(node.get('type', '')).split('.')[-1])
        if keys:
            yield node, keys
        for _, value in node.items():
            yield from _scale_users(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _scale_users(value)


def _positive(value: Any, name: str) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f'{name} must be a positive number, got {value}')
    return value
