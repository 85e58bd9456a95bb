"""Load a trained segmentor and segment one image at its native resolution.

Our models see the whole field resized to the training scale (128 or 256
pixels square), through the config's own ``test_pipeline``. mmseg's
``inference_model`` would then upsample every class's float logits to the
original size in one tensor: for a 20000x20000 scan that is 3.2 GB for two
classes before the argmax, plus copies. Here the low-resolution logits are
upsampled in row bands and reduced at once to the class mask (uint8) and the
blast probability (float16), so memory stays at 3 bytes per pixel. The result
is the same as mmseg's: bilinear resizing is linear, so argmax and softmax of
band-resized logits equal those of whole-image resized logits.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..utils import AllidbError
from .image_io import read_image, to_bgr8

__all__ = ['load_model', 'segment', 'BLAST_CLASS']

BLAST_CLASS = 1
# Upsampled float32 logits held at once: bands are sized to stay under this.
_BAND_BYTES = 64 * 2**20

ImageInput = Union[str, os.PathLike, np.ndarray]


def load_model(config: Any, checkpoint: str | os.PathLike | None = None,
               device: str = 'cpu') -> Any:
    """Build the segmentor of ``config`` and load ``checkpoint`` onto ``device``.

    A checkpoint is a pickle and thus trusted code: load only files you made
    or trust.

    Args:
        config: a config path, or an mmengine ``Config``, with a top-level
            ``test_pipeline`` (every config of this project has one).
        checkpoint: trained weights; None keeps the config's initial ones.
        device: ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.

    Returns:
        The segmentor in eval mode, ready for :func:`segment`.

    Raises:
        AllidbError: the config has no ``test_pipeline``, or the checkpoint
            file does not exist, cannot be read or does not fit the model
            (a missing, unexpected or differently shaped tensor).
    """
    from .. import register_all_modules

    register_all_modules()  # the compat shims first, then our parts
    from mmengine import Config
    from mmseg.apis import init_model

    cfg = Config.fromfile(str(config)) if not isinstance(config, Config) \
        else copy.deepcopy(config)
    if not cfg.get('test_pipeline'):
        raise AllidbError(config, 'the config has no top-level test_pipeline')
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise AllidbError(checkpoint, 'no such checkpoint file')
    model = init_model(cfg, None, device=device)
    if checkpoint is not None:  # strictly: every tensor must fit the model
        from ..engine.checkpoint import load_into_model
        load_into_model(model, str(checkpoint))
    model._allidb_pipeline = _build_pipeline(cfg.test_pipeline)
    return model


def _build_pipeline(test_pipeline: list) -> Any:
    """The config's test pipeline, fed an array instead of a file path.

    Images are always read by :func:`read_image` (which converts 16-bit,
    grayscale and RGBA inputs), so the loading step becomes
    ``LoadImageFromNDArray``; ground-truth loading is dropped.
    """
    from mmengine.dataset import Compose

    steps = []
    for t in copy.deepcopy(list(test_pipeline)):
        kind = t.get('type')
        if kind == 'LoadAnnotations':
            continue
        if kind in ('TestTimeAug',):
            raise ValueError('test-time augmentation pipelines are not '
                             'supported by segment(); use a single-scale '
                             'test_pipeline')
        if kind in ('LoadImageFromFile', 'mmseg.LoadImageFromFile',
                    'LoadImageFromNDArray'):
            t = dict(type='LoadImageFromNDArray')
        steps.append(t)
    if not steps or steps[0].get('type') != 'LoadImageFromNDArray':
        steps.insert(0, dict(type='LoadImageFromNDArray'))
    return Compose(steps)


def _low_res_logits(model: Any, img: np.ndarray) -> np.ndarray:
    """(C, h, w) float32 logits at the model's input scale, padding removed."""
    import torch

    pipeline = getattr(model, '_allidb_pipeline', None)
    if pipeline is None:
        pipeline = model._allidb_pipeline = _build_pipeline(model.cfg.test_pipeline)
    packed = pipeline(dict(img=img))
    data = model.data_preprocessor(
        dict(inputs=[packed['inputs']], data_samples=[packed['data_samples']]),
        False)
    metas = [s.metainfo for s in data['data_samples']]
    with torch.no_grad():
        logits = model.inference(data['inputs'], metas)[0]
    meta = metas[0]
    left, right, top, bottom = meta.get(
        'img_padding_size', meta.get('padding_size', [0, 0, 0, 0]))
    h, w = logits.shape[-2:]
    logits = logits[:, top:h - bottom, left:w - right]
    return logits.float().cpu().numpy()


def _resize_rows(src: np.ndarray, out_w: int, out_h: int, y0: int, y1: int,
                 align_corners: bool) -> np.ndarray:
    """Rows y0:y1 of the bilinear resize of ``src`` (h, w) to (out_h, out_w).

    Same sampling grid as ``torch.nn.functional.interpolate(mode='bilinear')``
    (half-pixel centres, edge clamping; or corner alignment), computed with an
    affine warp so that only the band is materialised.
    """
    import cv2

    h, w = src.shape
    if align_corners:
        sx = (w - 1) / (out_w - 1) if out_w > 1 else 0.0
        sy = (h - 1) / (out_h - 1) if out_h > 1 else 0.0
        m = np.array([[sx, 0, 0], [0, sy, sy * y0]], np.float64)
    else:
        sx, sy = w / out_w, h / out_h
        m = np.array([[sx, 0, 0.5 * sx - 0.5],
                      [0, sy, sy * y0 + 0.5 * sy - 0.5]], np.float64)
    return cv2.warpAffine(src, m, (out_w, y1 - y0),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def _upsample(logits: np.ndarray, out_h: int, out_w: int, align_corners: bool,
              threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Native-size class mask (uint8) and blast probability (float16)."""
    c = logits.shape[0]
    mask = np.empty((out_h, out_w), np.uint8)
    prob = np.empty((out_h, out_w), np.float16)
    # Two classes: argmax and softmax depend only on the logit difference,
    # so one channel is resized instead of two.
    if c == 2:
        planes = [np.ascontiguousarray(logits[1] - logits[0])]
    else:
        planes = [np.ascontiguousarray(p) for p in logits]
    rows = max(1, _BAND_BYTES // (4 * out_w * (len(planes) + 1)))
    for y0 in range(0, out_h, rows):
        y1 = min(out_h, y0 + rows)
        band = [_resize_rows(p, out_w, out_h, y0, y1, align_corners) for p in planes]
        if c == 1:  # sigmoid head (out_channels=1)
            p1 = 1.0 / (1.0 + np.exp(-band[0]))
            mask[y0:y1] = p1 > threshold
        elif c == 2:
            p1 = 1.0 / (1.0 + np.exp(-band[0]))
            mask[y0:y1] = band[0] > 0
        else:
            stack = np.stack(band)
            mask[y0:y1] = stack.argmax(0)
            stack -= stack.max(0, keepdims=True)
            np.exp(stack, out=stack)
            p1 = stack[BLAST_CLASS] / stack.sum(0)
        prob[y0:y1] = p1
    return mask, prob


def segment(model: Any, image: ImageInput, return_prob: bool = False
            ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Segment one image; the mask is always at the image's native size.

    Args:
        model: from :func:`load_model` (or mmseg's ``init_model`` with a
            config that has a top-level ``test_pipeline``), or an exported
            model from :func:`allidb_mmseg.deployment.load_onnx_model`.
        image: a file path, or an array as ``cv2.imread`` gives it (BGR;
            gray, BGRA and 16-bit arrays are converted like files are).
        return_prob: also return the blast probability map.

    Returns:
        ``mask`` (H, W) uint8 class indices (1 = lymphoblast), and with
        ``return_prob`` also ``prob`` (H, W) float16, the softmax
        probability of the blast class.
    """
    if getattr(type(model), 'segment', None) is not None:
        # a runtime backend, e.g. deployment.OnnxSegmentor
        return model.segment(image, return_prob)
    img = read_image(image) if isinstance(image, (str, os.PathLike)) \
        else to_bgr8(np.asarray(image))
    logits = _low_res_logits(model, img)
    head = getattr(model, 'decode_head', None)
    align = bool(getattr(head, 'align_corners', False))
    threshold = float(getattr(head, 'threshold', None) or 0.5)
    mask, prob = _upsample(logits, img.shape[0], img.shape[1], align, threshold)
    return (mask, prob) if return_prob else mask
