"""Load a trained segmentor and segment one image at its native resolution.

Two ways, chosen by the config's ``model.test_cfg.mode``:

* ``'whole'`` (the paper configs): the model sees the whole field resized
  through the config's ``test_pipeline``. Unlike mmseg's ``inference_model``,
  which upsamples every class's float logits at once (3.2 GB for a
  20000x20000 scan), the logits are upsampled in row bands straight to the
  class mask and blast probability; bilinear resizing being linear, the
  result is the same.
* ``'slide'`` (native-scale configs): the image is rescaled to the working
  scale (:func:`working_scale`) and segmented tile by tile by :mod:`.tiling`.

Either way the result comes as row bands (:func:`segment_bands`).
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .. import register_all_modules
from ..io.image_io import read_image, to_bgr8
from ..smear.cell_scale import WorkingScale, checked_working_scale
from ..utils import AllidbError
from .tiling import (BLAST_CLASS, ArraySource, Band, Predict, Preprocessing,
                     RowSource, TileSettings, collect_bands, tiled_bands,
                     upsampled_bands, working_size)

__all__ = ['load_model', 'segment', 'segment_bands', 'working_scale', 'checked_scale',
           'torch_predictor', 'TorchBackend', 'BLAST_CLASS']

# The working scale is measured on at most this central square of an image
# (the same pixels whether it comes as a file or as a slide's level 0).
SCALE_SAMPLE_SIDE = 4096
# Tiles per forward pass. On a CPU a batch is no faster per tile (MiT-B0 at
# 512 px: 0.68 s/tile at batch 1, 0.87 at batch 4) and each tile in it costs
# about 150 MB of activations; a GPU gains from batching.
DEFAULT_TILE_BATCH = {'cpu': 1, 'cuda': 4}


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
    register_all_modules()  # the compat shims first, then our parts
    from mmengine import Config
    from mmseg.apis import init_model

    cfg = copy.deepcopy(config) if isinstance(config, Config) else Config.fromfile(str(config))
    if not cfg.get('test_pipeline'):
        raise AllidbError(config, 'the config has no top-level test_pipeline')
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise AllidbError(checkpoint, 'no such checkpoint file')
    model = init_model(cfg, None, device=device)
    if checkpoint is not None:  # strictly: every tensor must fit the model
        # lazy: mmseg (the models package imports it; this module must not)
        from ..models.checkpoint import load_into_model
        load_into_model(model, str(checkpoint))
    model._allidb_pipeline = _build_pipeline(cfg.test_pipeline)
    return model


def _build_pipeline(test_pipeline: list) -> Any:
    """The config's test pipeline fed an array from :func:`read_image`, without ground truth."""
    from mmengine.dataset import Compose

    steps = []
    for t in copy.deepcopy(list(test_pipeline)):
        kind = t.get('type')
        if kind == 'LoadAnnotations':
            continue
        if kind == 'TestTimeAug':
            raise ValueError('test-time augmentation pipelines are not supported by '
                             'segment(); use a single-scale test_pipeline')
        if kind in ('LoadImageFromFile', 'mmseg.LoadImageFromFile',
                    'LoadImageFromNDArray'):
            t = dict(type='LoadImageFromNDArray')
        steps.append(t)
    if not steps or steps[0].get('type') != 'LoadImageFromNDArray':
        steps.insert(0, dict(type='LoadImageFromNDArray'))
    return Compose(steps)


def torch_predictor(model: Any) -> Predict:
    """The torch backend of :func:`.tiling.tiled_bands`: normalised tiles
    ``(N, 3, h, w)`` float32 to logits ``(N, C, h, w)``, as mmseg's
    ``slide_inference`` gets them from ``encode_decode``."""
    import torch

    device = next(model.parameters()).device

    def encode(batch: np.ndarray) -> np.ndarray:
        shape = tuple(batch.shape[2:])
        metas = [dict(img_shape=shape, ori_shape=shape, pad_shape=shape)
                 for _ in range(len(batch))]
        with torch.no_grad():  # with apis.tta.enable_tta: averaged views
            out = model.encode_decode(torch.from_numpy(batch).to(device), metas)
        return out.float().cpu().numpy()

    return encode


def scale_settings(model: Any) -> Any:
    """The mapping that holds ``working_rbc_px``/``source_rbc_px``: the
    config of a torch model, the ``scale_settings`` of a runtime backend."""
    settings = getattr(model, 'scale_settings', None)
    return settings if settings is not None else model.cfg


def working_scale(model: Any, img: np.ndarray | None = None,
                  mpp: float | None = None) -> float:
    """Working pixels per source pixel for ``img`` (or a source of ``mpp``
    microns per pixel); 1.0 for configs without ``working_rbc_px``.

    Without ``mpp``, the red cells of the central
    :data:`SCALE_SAMPLE_SIDE`-pixel square of ``img`` are measured.
    """
    return checked_scale(model, img, mpp).factor


def checked_scale(model: Any, img: np.ndarray | None = None,
                  mpp: float | None = None) -> WorkingScale:
    """:func:`working_scale`, and whether it rests on a red-cell measurement
    the ruler does not trust (``unsure``: the config's ``source_rbc_px`` and
    ``mpp`` never are; see
    :func:`~allidb_mmseg.smear.cell_scale.checked_working_scale`)."""
    cfg = scale_settings(model)
    if cfg.get('working_rbc_px') is None:
        return WorkingScale(1.0, False)
    factor, unsure = checked_working_scale(cfg, img_bgr=scale_sample(img), mpp=mpp)
    return WorkingScale(float(factor), unsure)  # a measured size may be a numpy float


def scale_sample(img: np.ndarray | None) -> np.ndarray | None:
    """The central :data:`SCALE_SAMPLE_SIDE`-pixel square of ``img``, if any."""
    if img is None:
        return None
    h, w = img.shape[:2]
    y, x = max(0, (h - SCALE_SAMPLE_SIDE) // 2), max(0, (w - SCALE_SAMPLE_SIDE) // 2)
    return img[y:y + SCALE_SAMPLE_SIDE, x:x + SCALE_SAMPLE_SIDE]


class TorchBackend:
    """A torch segmentor seen as :func:`segment_bands` sees any backend
    (:class:`~allidb_mmseg.deployment.OnnxSegmentor` is the other one)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        head = getattr(model, 'decode_head', None)
        self.align_corners = bool(getattr(head, 'align_corners', False))
        self.threshold = float(getattr(head, 'threshold', None) or 0.5)
        self.where = getattr(model.cfg, 'filename', None) or 'config'

    def tile_settings(self, batch_size: int | None = None) -> TileSettings | None:
        """The model's tiling (None for whole-image configs); the batch size
        defaults to :data:`DEFAULT_TILE_BATCH` of the model's device."""
        if batch_size is None:
            device = next(self.model.parameters()).device.type
            batch_size = DEFAULT_TILE_BATCH.get(device, DEFAULT_TILE_BATCH['cuda'])
        return TileSettings.from_config(self.model.cfg, batch_size=batch_size)

    def low_res_logits(self, img: np.ndarray) -> np.ndarray:
        """(C, h, w) float32 logits at the model's input scale, padding removed."""
        import torch

        model = self.model
        pipeline = getattr(model, '_allidb_pipeline', None)
        if pipeline is None:
            pipeline = model._allidb_pipeline = _build_pipeline(model.cfg.test_pipeline)
        packed = pipeline(dict(img=img))
        data = model.data_preprocessor(dict(inputs=[packed['inputs']],
                                            data_samples=[packed['data_samples']]), False)
        metas = [s.metainfo for s in data['data_samples']]
        with torch.no_grad():
            logits = model.inference(data['inputs'], metas)[0]
        meta = metas[0]
        left, right, top, bottom = meta.get(
            'img_padding_size', meta.get('padding_size', [0, 0, 0, 0]))
        h, w = logits.shape[-2:]
        return logits[:, top:h - bottom, left:w - right].float().cpu().numpy()

    @property
    def predict(self) -> Predict:
        return torch_predictor(self.model)

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing.from_config(self.model.cfg.model.data_preprocessor)


def segment_bands(model: Any, source: RowSource, scale: float = 1.0,
                  progress: bool = False, batch_size: int | None = None,
                  desc: str = 'tiles') -> Iterator[Band]:
    """Segment ``source`` and yield the result in row bands (source size).

    Args:
        model: from :func:`load_model`, or a runtime backend
            (:class:`~allidb_mmseg.deployment.OnnxSegmentor`, which has
            :class:`TorchBackend`'s members).
        source: the pixels; whole-image configs need an :class:`ArraySource`
            (they resize the whole image at once).
        scale: working pixels per source pixel (tiled configs only; see
            :func:`working_scale`).
        progress, desc: a progress bar over the tiles, and its label.
        batch_size: tiles per forward pass (default: 1 on CPU, 4 on GPU).
    """
    backend = model if hasattr(model, 'low_res_logits') else TorchBackend(model)
    settings = backend.tile_settings(batch_size)
    if settings is None:
        if not isinstance(source, ArraySource):
            raise AllidbError(backend.where, "whole-image inference (test_cfg "
                              "mode 'whole') cannot read an image region by "
                              "region; use a config with test_cfg mode 'slide'")
        yield from upsampled_bands(backend.low_res_logits(source.img),
                                   source.height, source.width,
                                   backend.align_corners, backend.threshold)
        return
    yield from tiled_bands(source, backend.predict, backend.preprocessing,
                           settings, working_size(source.height, source.width, scale),
                           progress=progress, desc=desc)


def segment(model: Any, image: str | os.PathLike | np.ndarray,
            return_prob: bool = False, mpp: float | None = None,
            progress: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Segment one image; the mask is always at the image's native size.

    Args:
        model: from :func:`load_model` (or mmseg's ``init_model`` with a
            config that has a top-level ``test_pipeline``), or an exported
            model from :func:`allidb_mmseg.deployment.load_onnx_model`.
        image: a file path, or an array as ``cv2.imread`` gives it (BGR;
            gray, BGRA and 16-bit arrays are converted like files are).
        return_prob: also return the blast probability map.
        mpp: microns per pixel of the image, for native-scale configs
            (default: the red-cell size measured in the image).
        progress: a progress bar over the tiles (tiled configs).

    Returns:
        ``mask`` (H, W) uint8 class indices (1 = lymphoblast), and with
        ``return_prob`` also ``prob`` (H, W) float16, the softmax
        probability of the blast class.
    """
    img = read_image(image) if isinstance(image, (str, os.PathLike)) \
        else to_bgr8(np.asarray(image))
    scale = working_scale(model, img, mpp)
    mask, prob = collect_bands(segment_bands(model, ArraySource(img), scale,
                                             progress), *img.shape[:2])
    return (mask, prob) if return_prob else mask
