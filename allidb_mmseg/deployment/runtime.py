"""Segment smears with an exported model and onnxruntime: no torch, no mmseg.

:class:`OnnxSegmentor` reads ``model.onnx`` and its sidecar and reproduces the
torch path of :func:`allidb_mmseg.apis.segment` step by step: the test
pipeline's resize (OpenCV, as mmcv does it), the preprocessor's channel swap,
normalisation and padding, the network, and the same banded upsampling.
Needs numpy, OpenCV and onnxruntime (``pip install allidb_mmseg[runtime]``).
"""
from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Optional, Union

import cv2
import numpy as np

from ..inference.model import DEFAULT_TILE_BATCH, segment
from ..inference.tiling import Preprocessing, TileSettings, as_pair
from ..inference.tta import tta_logits, tta_transforms
from ..utils import AllidbError, one_line_errors
from .sidecar import DeploySpec, file_sha256, read_sidecar, sidecar_path

__all__ = ['OnnxSegmentor', 'load_onnx_model', 'resize_like_mmcv', 'INTERPOLATION']

# mmcv's names for cv2's interpolation codes (mmcv.image.geometric).
INTERPOLATION = {'nearest': cv2.INTER_NEAREST, 'bilinear': cv2.INTER_LINEAR,
                 'bicubic': cv2.INTER_CUBIC, 'area': cv2.INTER_AREA,
                 'lanczos': cv2.INTER_LANCZOS4}


def resize_like_mmcv(img: np.ndarray, resize: dict) -> np.ndarray:
    """mmcv's ``Resize`` (cv2 backend) of a test pipeline, on an HWC image.

    ``resize['scale']`` is ``[w, h]`` as in mmcv. With ``keep_ratio`` the
    image is rescaled to fit the long and short edges of ``scale``
    (``mmcv.imrescale``), otherwise resized to exactly ``scale``.
    """
    h, w = img.shape[:2]
    sw, sh = (int(v) for v in resize['scale'])
    if resize.get('keep_ratio'):
        factor = min(max(sw, sh) / max(h, w), min(sw, sh) / min(h, w))
        sw, sh = int(w * factor + 0.5), int(h * factor + 0.5)
    interp = INTERPOLATION[resize.get('interpolation', 'bilinear')]
    return cv2.resize(img, (sw, sh), interpolation=interp)


def _providers(device: str) -> tuple[list, list]:
    import onnxruntime as ort

    if device == 'cpu':
        return ['CPUExecutionProvider'], [{}]
    if not device.startswith('cuda'):
        raise AllidbError('--device', f'unknown device {device!r} (cpu, cuda, cuda:N)')
    if 'CUDAExecutionProvider' not in ort.get_available_providers():
        raise AllidbError(f'--device {device}', 'this onnxruntime has no CUDA '
                          'provider (pip install onnxruntime-gpu)')
    index = int(device.split(':')[1]) if ':' in device else 0
    return (['CUDAExecutionProvider', 'CPUExecutionProvider'], [{'device_id': index}, {}])


class OnnxSegmentor:
    """An exported segmentor served by onnxruntime.

    Args:
        onnx_path: ``model.onnx``; its sidecar ``model.json`` lies beside it.
        device: ``'cpu'``, ``'cuda'`` or ``'cuda:N'`` (onnxruntime-gpu).
        threads: onnxruntime intra-op threads (default: its own choice, the
            physical cores).
        tta: test-time augmentation mode (``'d4'``, ``'flips'``; None: off).
        spinning: let idle onnxruntime threads spin (its default; faster
            alone, but it takes the cores from other processes: off for
            several processes per machine and for interleaved timing).

    Raises:
        AllidbError: onnxruntime is missing, the sidecar is missing, bad or
            made for another file, or the ONNX file cannot be loaded.
    """

    def __init__(self, onnx_path: str | os.PathLike, device: str = 'cpu',
                 threads: Optional[int] = None, tta: str | bool | None = None,
                 spinning: bool = True) -> None:
        self.path = Path(onnx_path)
        if not self.path.is_file():
            raise AllidbError(self.path, 'no such model file')
        side = sidecar_path(self.path)
        self.spec: DeploySpec = read_sidecar(side)
        if self.spec.onnx_sha256 and self.spec.onnx_sha256 != file_sha256(self.path):
            raise AllidbError(side, f'describes another model than {self.path.name} '
                              '(SHA-256 differs); export the model again')
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise AllidbError('onnxruntime', 'not installed; pip install '
                              '"allidb_mmseg[runtime]" (or onnxruntime)') from e
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = int(threads)
        if not spinning:
            options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        providers, provider_options = _providers(device)
        with one_line_errors(self.path, 'cannot load the ONNX model'):
            self.session = ort.InferenceSession(str(self.path), options, providers=providers,
                                                provider_options=provider_options)
        self.device, self.threads, self.spinning = device, threads, spinning
        self.tta = tta_transforms(tta)

    @cached_property
    def preprocessing(self) -> Preprocessing:
        """The preprocessor's channel swap and normalisation."""
        return Preprocessing(tuple(self.spec.mean), tuple(self.spec.std), self.spec.rgb)

    @property
    def align_corners(self) -> bool:
        return self.spec.align_corners

    @property
    def threshold(self) -> float:
        return self.spec.threshold

    @property
    def where(self) -> str:
        return str(self.path)

    @property
    def dataset_meta(self) -> dict:
        """Class names and palette, as mmseg models carry them."""
        return dict(classes=list(self.spec.classes),
                    palette=[list(c) for c in self.spec.palette])

    def _run(self, batch: np.ndarray) -> np.ndarray:
        feed = {self.spec.input_name: np.ascontiguousarray(batch, np.float32)}
        return self.session.run([self.spec.output_name], feed)[0]

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Logits ``(N, C, h, w)`` of a normalised batch ``(N, 3, h, w)``,
        averaged over the TTA views when TTA is on. This is the callback a
        tiling engine drives."""
        return tta_logits(self._run, batch, self.tta) if self.tta else self._run(batch)

    def preprocess(self, img: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """A BGR uint8 image as the network's batch of one, and the
        (h, w) of the unpadded part."""
        spec = self.spec
        if spec.resize:
            img = resize_like_mmcv(img, spec.resize)
        x = self.preprocessing(img[None])
        h, w = x.shape[2:]
        pad = spec.pad or {}
        ph, pw = h, w
        if pad.get('size'):  # mmseg's stack_batch: a size, else a divisor
            ph, pw = max(h, int(pad['size'][0])), max(w, int(pad['size'][1]))
        elif pad.get('size_divisor'):
            d = int(pad['size_divisor'])
            ph, pw = -(-ph // d) * d, -(-pw // d) * d
        if (ph, pw) != (h, w):
            x = np.pad(x, ((0, 0), (0, 0), (0, ph - h), (0, pw - w)),
                       constant_values=float(pad.get('pad_val', 0)))
        return np.ascontiguousarray(x), (h, w)

    def low_res_logits(self, img: np.ndarray) -> np.ndarray:
        """(C, h, w) float32 logits at the network's input scale, padding
        removed (whole-image models)."""
        batch, (h, w) = self.preprocess(img)
        return self.predict(batch)[0, :, :h, :w].astype(np.float32, copy=False)

    @property
    def scale_settings(self) -> dict:
        """``working_rbc_px``/``source_rbc_px``, as a config holds them
        (:func:`allidb_mmseg.inference.model.working_scale` reads them)."""
        return dict(working_rbc_px=self.spec.working_rbc_px,
                    source_rbc_px=self.spec.source_rbc_px)

    def tile_settings(self, batch_size: Optional[int] = None) -> Optional[TileSettings]:
        """The exported ``test_cfg`` tiling; None for whole-image models."""
        spec = self.spec  # read_sidecar checked that 'slide' has both sizes
        if spec.mode != 'slide':
            return None
        return TileSettings(crop=as_pair(spec.crop_size), stride=as_pair(spec.stride),
                            batch_size=batch_size or DEFAULT_TILE_BATCH.get(
                                str(self.device).split(':')[0], DEFAULT_TILE_BATCH['cuda']),
                            align_corners=spec.align_corners,
                            threshold=spec.threshold)

    def segment(self, image: Union[str, os.PathLike, np.ndarray],
                return_prob: bool = False, mpp: Optional[float] = None,
                progress: bool = False
                ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Segment one image at its native size: :func:`apis.segment` with
        this backend (the same arguments and results)."""
        return segment(self, image, return_prob, mpp=mpp, progress=progress)


def load_onnx_model(onnx_path: str | os.PathLike, device: str = 'cpu',
                    threads: Optional[int] = None, tta: Any = None,
                    spinning: bool = True) -> OnnxSegmentor:
    """:class:`OnnxSegmentor` for ``onnx_path``; the counterpart of
    :func:`allidb_mmseg.apis.load_model` for exported models."""
    return OnnxSegmentor(onnx_path, device=device, threads=threads, tta=tta, spinning=spinning)
