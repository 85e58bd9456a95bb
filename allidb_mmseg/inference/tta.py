"""Test-time augmentation over the symmetries of a smear: flips and 90-degree turns.

A blood smear has no up, down, left or right, so the eight transforms of the
square (the dihedral group D4) give eight equally valid views of a field.
:func:`tta_logits` averages a predictor's class probabilities over the views,
turned back, and returns their log, so callers keep treating it as logits.
Backend-agnostic (numpy arrays or torch tensors); imports no torch. Turned
views of a non-square batch swap h and w, which a fully convolutional
network accepts.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

__all__ = ['Transform', 'DIHEDRAL', 'FLIPS', 'TTA_MODES', 'tta_transforms',
           'apply_transform', 'invert_transform', 'tta_logits', 'enable_tta',
           'disable_tta']

# (quarter turns counter-clockwise, then mirror left-right)
Transform = tuple[int, bool]
DIHEDRAL: tuple[Transform, ...] = tuple((k, m) for m in (False, True) for k in range(4))
FLIPS: tuple[Transform, ...] = ((0, False), (0, True), (2, True), (2, False))
TTA_MODES = {'d4': DIHEDRAL, 'flips': FLIPS}

Array = Any  # numpy.ndarray or torch.Tensor


def tta_transforms(mode: str | bool | None) -> tuple[Transform, ...]:
    """The transforms of a TTA mode: ``'d4'`` (all 8, the default when
    ``mode`` is True) or ``'flips'`` (identity, both mirrors, both: 4); None
    or False gives none."""
    if not mode:
        return ()
    mode = 'd4' if mode is True else mode
    if mode not in TTA_MODES:
        raise ValueError(f'unknown TTA mode {mode!r}; use one of {list(TTA_MODES)}')
    return TTA_MODES[mode]


def _rot90(x: Array, k: int) -> Array:
    if k % 4 == 0:
        return x
    return np.rot90(x, k, axes=(-2, -1)) if isinstance(x, np.ndarray) else x.rot90(k, (-2, -1))


def _mirror(x: Array) -> Array:
    return x[..., ::-1] if isinstance(x, np.ndarray) else x.flip(-1)


def apply_transform(x: Array, t: Transform) -> Array:
    """``x`` (..., h, w) turned ``t[0]`` quarter turns, then mirrored if ``t[1]``."""
    k, mirror = t
    x = _rot90(x, k)
    return _mirror(x) if mirror else x


def invert_transform(y: Array, t: Transform) -> Array:
    """Undo :func:`apply_transform` on a prediction ``y`` (..., h, w)."""
    k, mirror = t
    return _rot90(_mirror(y) if mirror else y, -k)


def _probabilities(logits: Array) -> Array:
    """Softmax over the class axis (1), or the sigmoid of a one-channel head."""
    if isinstance(logits, np.ndarray):
        logits = logits.astype(np.float32, copy=False)
        if logits.shape[1] == 1:
            return 1.0 / (1.0 + np.exp(-logits))
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    logits = logits.float()
    return logits.sigmoid() if logits.shape[1] == 1 else logits.softmax(1)


def _to_logits(p: Array) -> Array:
    """Logits whose softmax (or sigmoid) is ``p``."""
    eps = 1e-7
    if isinstance(p, np.ndarray):
        p = np.clip(p, eps, 1 - eps)
        return np.log(p / (1 - p)) if p.shape[1] == 1 else np.log(p)
    p = p.clamp(eps, 1 - eps)
    return (p / (1 - p)).log() if p.shape[1] == 1 else p.log()


def tta_logits(predict: Callable[[Array], Array], batch: Array,
               transforms: Sequence[Transform] = DIHEDRAL) -> Array:
    """Average ``predict`` over ``transforms`` of ``batch``.

    Args:
        predict: maps a batch ``(N, 3, h, w)`` to logits ``(N, C, h, w)``.
        batch: the normalised input, numpy array or torch tensor.
        transforms: from :data:`DIHEDRAL`, :data:`FLIPS` or
            :func:`tta_transforms`.

    Returns:
        Logits ``(N, C, h, w)`` (log of the mean probabilities), float32,
        the same kind of array as ``batch``.
    """
    if not transforms:
        return predict(batch)
    total = 0
    for t in transforms:
        view = apply_transform(batch, t)
        if isinstance(view, np.ndarray):
            view = np.ascontiguousarray(view)
        total = total + _probabilities(invert_transform(predict(view), t))
    return _to_logits(total / len(transforms))


def enable_tta(model: Any, mode: str | bool = 'd4') -> Any:
    """Make an mmseg segmentor average its predictions over ``mode``'s views.

    The instance's ``encode_decode``, through which every path reaches the
    network (mmseg's whole and slide inference, :func:`~allidb_mmseg.apis.segment`
    and its tiles), is replaced by one that runs the original on each turned
    view. The weights and the class are untouched; :func:`disable_tta`
    restores it.

    Returns:
        ``model``, for chaining.
    """
    transforms = tta_transforms(mode)
    disable_tta(model)
    if not transforms:
        return model
    plain = model.encode_decode

    def encode_decode(inputs: Array, batch_img_metas: list) -> Array:
        def predict(x: Array) -> Array:
            hw = tuple(x.shape[-2:])
            metas = [dict(m, img_shape=hw, pad_shape=hw) for m in batch_img_metas]
            return plain(x, metas)
        return tta_logits(predict, inputs, transforms)

    model.encode_decode = encode_decode
    model._allidb_tta = transforms
    return model


def disable_tta(model: Any) -> Any:
    """Undo :func:`enable_tta` (a no-op on a model without TTA)."""
    if '_allidb_tta' in vars(model):
        del model.encode_decode
        del model._allidb_tta
    return model
