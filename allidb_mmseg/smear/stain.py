"""A model's stain reference: its training smears' colour, for normalization and an OOD score.

One :class:`StainReference` is fitted on the training images and saved with the model
(``stain_reference.json`` in the work dir, and inside every checkpoint). It holds the
training fields' white point (the lamp colour), the Macenko stain matrix and Reinhard LAB
statistics of their pooled, white-balanced pixels (``torchstain``'s numpy normalizers), and
the mean and shrunk inverse covariance of per-image colour statistics
(:func:`colour_features`) with the distance beyond which an image looks unlike them.
Nothing here needs torch.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import cv2
import numpy as np

from ..utils import AllidbError, atomic_write_json, fit_within, onnx_sidecar_entry

__all__ = ['REFERENCE_FILENAME', 'CHECKPOINT_KEY', 'NORMALIZE_METHODS', 'FEATURE_NAMES',
           'StainReference', 'white_point', 'white_balance', 'colour_features',
           'fit_reference_from_files', 'find_stain_reference']

REFERENCE_FILENAME = 'stain_reference.json'
CHECKPOINT_KEY = 'allidb_stain_reference'
NORMALIZE_METHODS = ('macenko', 'reinhard')
FEATURE_NAMES = ('white_r', 'white_b', 'stain_od_r', 'stain_od_b', 'dark_od_r',
                 'dark_od_b', 'log_stain_od', 'log_dark_od')
# The transmitted light of a white-balanced field (torchstain's Io).
IO = 240.0
# Statistics are computed on images shrunk to at most this many pixels per side.
_STATS_SIDE = 512
# Per-feature floor of the standard deviation: chromaticities, then log ODs.
_STD_FLOOR = np.array([0.002] * 6 + [0.02] * 2)
_SHRINK = 0.2          # covariance shrinkage towards its diagonal
_THRESHOLD_MARGIN = 1.1
_MIN_THRESHOLD = 3.5   # a Mahalanobis distance of 3.5 is unusual for any training set
_PIXELS_PER_IMAGE = 20000


def white_point(img_bgr: np.ndarray) -> np.ndarray:
    """The lamp colour (RGB, 0-255): median of the brightest quarter of the pixels.

    A smear field is mostly empty plasma, so its brightest quarter is the light
    that passed no cell.
    """
    flat = fit_within(img_bgr, _STATS_SIDE).reshape(-1, 3).astype(np.float32)
    total = flat.sum(1)
    bright = flat[total >= np.percentile(total, 75)]
    return np.median(bright, 0)[::-1].astype(np.float64)


def white_balance(img_bgr: np.ndarray, white_rgb: np.ndarray,
                  target_rgb: np.ndarray | float = IO) -> np.ndarray:
    """Scale each channel so that the lamp colour ``white_rgb`` becomes ``target_rgb``."""
    gain = np.broadcast_to(np.asarray(target_rgb, np.float64), (3,)) / np.maximum(
        np.asarray(white_rgb, np.float64), 1.0)
    out = img_bgr.astype(np.float32) * gain[::-1].astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def colour_features(img_bgr: np.ndarray) -> np.ndarray:
    """Eight colour statistics of a smear (:data:`FEATURE_NAMES`).

    The lamp's chromaticity (its brightness varies with the exposure, so it is left
    out); the chromaticity of the optical density of the stained pixels (mostly red
    cells) and of the darkest 0.3% (nuclei), after white balance; the log of their
    median and mean OD (stain strength). Sizes and numbers of cells do not enter,
    so a field full of blasts does not look "unusual".
    """
    img = fit_within(img_bgr, _STATS_SIDE)
    white = white_point(img)
    rgb = white_balance(img, white)[..., ::-1].reshape(-1, 3)
    od = -np.log((rgb.astype(np.float32) + 1.0) / IO)
    total = od.sum(1)
    stained = od[total > 0.1]
    if len(stained) < 10:
        stained = od[np.argsort(total)[-10:]]
    dark = od[total >= np.percentile(total, 99.7)]
    s, d = stained.mean(0), dark.mean(0)
    eps = 1e-6
    return np.array([*white[[0, 2]] / white.sum(), *s[[0, 2]] / (s.sum() + eps),
                     *d[[0, 2]] / (d.sum() + eps), np.log(np.median(stained.sum(1)) + eps),
                     np.log(dark.sum(1).mean() + eps)])


def _normalizer(method: str) -> Any:
    """A new torchstain numpy normalizer: ``'macenko'`` or ``'reinhard'``."""
    from torchstain.numpy import normalizers
    return getattr(normalizers, f'Numpy{method.capitalize()}Normalizer')()


def _mahalanobis(x: np.ndarray, mean: np.ndarray, inv_cov: np.ndarray) -> float:
    d = np.asarray(x, np.float64) - mean
    return float(np.sqrt(max(d @ inv_cov @ d, 0.0)))


def _inverse_covariance(feats: np.ndarray) -> np.ndarray:
    """Inverse of the covariance (of two or more rows) shrunk towards its diagonal,
    with a std floor."""
    cov = np.cov(feats.T)
    cov = (1 - _SHRINK) * cov + _SHRINK * np.diag(np.diag(cov))
    cov += np.diag(_STD_FLOOR ** 2)
    return np.linalg.inv(cov)


@dataclass
class StainReference:
    """The training set's colour (see the module docstring); build it with :meth:`fit`."""

    white_rgb: list[float]
    macenko_stains: list[list[float]]   # 3 x 2: the two stains' OD vectors (columns)
    macenko_max_conc: list[float]       # 99th percentile concentration of each stain
    lab_mean: list[float]               # torchstain's LAB (OpenCV scaling)
    lab_std: list[float]
    feature_mean: list[float]
    feature_inv_cov: list[list[float]]
    ood_threshold: float
    num_images: int
    trained_on: Optional[str] = None    # a method if the model saw normalized images
    feature_names: list[str] = field(default_factory=lambda: list(FEATURE_NAMES))

    @classmethod
    def fit(cls, images: Iterable[np.ndarray], trained_on: str | None = None,
            seed: int = 0) -> 'StainReference':
        """Fit on BGR uint8 images (the training split; at least two).

        Args:
            images: the training images, as ``cv2.imread`` gives them.
            trained_on: the normalization the model is trained with, if any.
            seed: picks the pixels pooled for Macenko and Reinhard.
        """
        if trained_on is not None and trained_on not in NORMALIZE_METHODS:
            raise ValueError(f'unknown normalization {trained_on!r}')
        rng = np.random.default_rng(seed)
        feats, whites, pools = [], [], []
        for img in images:
            img = fit_within(img, _STATS_SIDE)
            white = white_point(img)
            whites.append(white)
            feats.append(colour_features(img))
            flat = white_balance(img, white)[..., ::-1].reshape(-1, 3)
            take = min(len(flat), _PIXELS_PER_IMAGE)
            pools.append(flat[rng.choice(len(flat), take, replace=False)])
        if len(feats) < 2:
            raise ValueError('a stain reference needs at least two training images')
        pooled = np.concatenate(pools)[:, None, :]
        mac = _normalizer('macenko')
        mac.fit(pooled, Io=IO)
        rein = _normalizer('reinhard')
        rein.fit(pooled)
        feats_a = np.stack(feats)
        # Leave-one-out distances: how far a training image lies from the others.
        loo = [_mahalanobis(feats_a[i], np.delete(feats_a, i, 0).mean(0),
                            _inverse_covariance(np.delete(feats_a, i, 0)))
               for i in range(len(feats_a))] if len(feats_a) > 2 else [0.0]
        threshold = max(_MIN_THRESHOLD,
                        _THRESHOLD_MARGIN * float(np.percentile(loo, 95)))
        return cls(white_rgb=np.median(whites, 0).tolist(),
                   macenko_stains=np.asarray(mac.HERef).tolist(),
                   macenko_max_conc=np.asarray(mac.maxCRef).tolist(),
                   lab_mean=np.asarray(rein.target_means).tolist(),
                   lab_std=np.asarray(rein.target_stds).tolist(),
                   feature_mean=feats_a.mean(0).tolist(),
                   feature_inv_cov=_inverse_covariance(feats_a).tolist(),
                   ood_threshold=threshold, num_images=len(feats_a),
                   trained_on=trained_on)

    def normalize(self, img_bgr: np.ndarray, method: str | None = None) -> np.ndarray:
        """``img_bgr`` (uint8) with the training set's white point and stain.

        Args:
            img_bgr: the smear, BGR uint8.
            method: ``'macenko'`` or ``'reinhard'``; None: the method the model was
                trained with, else Reinhard.

        Returns:
            A BGR uint8 image of the same size. A field with too little stain for
            Macenko (nearly empty) is only white-balanced.
        """
        method = method or self.trained_on or 'reinhard'
        if method not in NORMALIZE_METHODS:
            raise ValueError(f'unknown normalization {method!r}; choose one of '
                             f'{", ".join(NORMALIZE_METHODS)}')
        rgb = np.ascontiguousarray(white_balance(img_bgr, white_point(img_bgr))[..., ::-1])
        norm = _normalizer(method)
        if method == 'reinhard':
            norm.target_means = np.asarray(self.lab_mean, np.float32)
            norm.target_stds = np.asarray(self.lab_std, np.float32)
            out = norm.normalize(rgb)
        else:
            norm.HERef = np.asarray(self.macenko_stains)
            norm.maxCRef = np.asarray(self.macenko_max_conc)
            try:
                out, _, _ = norm.normalize(rgb, Io=IO, stains=False)
            except (np.linalg.LinAlgError, ValueError, IndexError):
                out = rgb
        # Both methods work on fields balanced to a grey lamp (as fitted); the
        # training lamp colour is put back at the end.
        return white_balance(np.ascontiguousarray(out[..., ::-1]), IO,
                             np.asarray(self.white_rgb))

    def ood_score(self, img_bgr: np.ndarray) -> float:
        """Distance of the image's colour statistics from the training set's, in
        units of the threshold: above 1 means unlike the training data."""
        d = _mahalanobis(colour_features(img_bgr), np.asarray(self.feature_mean),
                         np.asarray(self.feature_inv_cov))
        return d / self.ood_threshold

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> 'StainReference':
        return cls(**d)

    def save(self, path: str | os.PathLike) -> None:
        """Write as JSON (to a temporary name, then renamed)."""
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> 'StainReference':
        """Read a saved reference; :class:`AllidbError` names a bad file."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError) as e:
            raise AllidbError(path, f'not a stain reference: {e}') from None


def fit_reference_from_files(paths: Iterable[str | os.PathLike],
                             trained_on: str | None = None,
                             progress: bool = False) -> StainReference:
    """:meth:`StainReference.fit` on image files (each read once, shrunk).

    Raises:
        AllidbError: a file cannot be read as an image, or fewer than two are given.
    """
    paths = [str(p) for p in paths]
    if len(paths) < 2:
        raise AllidbError(paths[0] if paths else '(no images)',
                          'a stain reference needs at least two training images')
    from tqdm import tqdm

    def images():
        for p in tqdm(paths, desc='stain reference', unit='img', disable=not progress):
            img = cv2.imread(p, cv2.IMREAD_COLOR)
            if img is None:
                raise AllidbError(p, 'cannot read this image')
            yield fit_within(img, _STATS_SIDE)

    return StainReference.fit(images(), trained_on=trained_on)


def find_stain_reference(checkpoint: str | os.PathLike
                         ) -> tuple[StainReference | None, str]:
    """The reference saved with a model, and where it was found.

    Looks for ``stain_reference.json`` beside the checkpoint first, then inside
    the checkpoint (``meta['allidb_stain_reference']``, written by
    :class:`~allidb_mmseg.engine.StainReferenceHook`); for an exported
    ``.onnx`` model, in its sidecar (``stain_reference``, copied there by the
    export). Returns ``(None, '')`` when there is none.
    """
    beside = Path(checkpoint).parent / REFERENCE_FILENAME
    if beside.is_file():
        return StainReference.load(beside), str(beside)
    if Path(checkpoint).suffix == '.onnx':  # the torch-free runtime: the sidecar
        saved = onnx_sidecar_entry(checkpoint, 'stain_reference')
        where = f"{Path(checkpoint).with_suffix('.json')} (stain_reference)"
        return (StainReference.from_dict(saved), where) if saved else (None, '')
    try:
        import torch
        ckpt = torch.load(str(checkpoint), map_location='cpu', weights_only=True)
    except Exception:  # an unloadable checkpoint is reported by the model loader
        return None, ''
    saved = (ckpt.get('meta') or {}).get(CHECKPOINT_KEY) if isinstance(ckpt, dict) else None
    return (StainReference.from_dict(saved), f'{checkpoint} (meta)') if saved else (None, '')
