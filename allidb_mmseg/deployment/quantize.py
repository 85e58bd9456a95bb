"""int8 models through ``onnxruntime.quantization``, offered only when accurate enough.

Static quantization (MinMax calibration on real fields, QOperator format) of
the convolutions and of the matrix products with a weight operand; the
attention products stay fp32. That was the fastest variant on a CPU
(docs/deployment.md). An int8 model is kept only when it loses at most
:data:`MAX_MIOU_LOSS` mIoU points against its fp32 model on a labelled split.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..evaluation.counting import DEFAULT_MIN_BLAST_AREA
from ..evaluation.split_scores import score_split
from ..io.image_io import read_image
from ..utils import AllidbError, atomic_write, refuse_existing
from .runtime import OnnxSegmentor
from .sidecar import file_sha256, sidecar_path, write_sidecar

__all__ = ['MAX_MIOU_LOSS', 'METHOD', 'int8_path', 'quantize_int8',
           'quantize_model', 'int8_verdict', 'offer_int8']

MAX_MIOU_LOSS = 0.5  # mIoU points (percent)
METHOD = ('onnxruntime static quantization, QOperator format, Conv and MatMul '
          'with a constant operand, per-tensor, uint8 activations, int8 '
          'weights, MinMax calibration')


def int8_path(onnx_path: str | os.PathLike) -> Path:
    """``model.onnx`` -> ``model.int8.onnx``."""
    p = Path(onnx_path)
    return p.with_name(f'{p.stem}.int8.onnx')


class _Batches:
    """onnxruntime's CalibrationDataReader protocol over preprocessed batches."""

    def __init__(self, name: str, batches: Iterable[np.ndarray]) -> None:
        self._it = iter([{name: b} for b in batches])

    def get_next(self) -> dict | None:
        return next(self._it, None)


def quantize_int8(fp32_path: str | os.PathLike, out_path: str | os.PathLike,
                  batches: Sequence[np.ndarray], input_name: str = 'input') -> None:
    """Write the static int8 version of ``fp32_path`` to ``out_path`` (atomically),
    calibrated on ``batches``, inputs preprocessed as the runtime does."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not len(batches):
        raise AllidbError(fp32_path, 'int8 calibration needs at least one image')
    work = Path(tempfile.mkdtemp(prefix='allidb_int8_'))
    try:
        pre = work / 'pre.onnx'
        quant_pre_process(str(fp32_path), str(pre))

        def write(tmp: Path) -> None:
            quantize_static(str(pre), str(tmp), _Batches(input_name, batches),
                            quant_format=QuantFormat.QOperator,
                            op_types_to_quantize=['Conv', 'MatMul'],
                            per_channel=False, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8,
                            extra_options={'MatMulConstBOnly': True})
        atomic_write(out_path, write)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def quantize_model(fp32: OnnxSegmentor, calibration: Sequence[str],
                   out: str | os.PathLike) -> OnnxSegmentor:
    """The int8 version of ``fp32`` written to ``out`` with its sidecar, loaded;
    calibrated on the images ``calibration``."""
    batches = [fp32.preprocess(read_image(f))[0] for f in calibration]
    quantize_int8(fp32.path, out, batches, fp32.spec.input_name)
    spec = dataclasses.replace(fp32.spec, onnx_sha256=file_sha256(out))
    write_sidecar(sidecar_path(out), spec)
    return OnnxSegmentor(out, device=fp32.device, threads=fp32.threads, spinning=fp32.spinning)


def int8_verdict(fp32: dict, int8: dict) -> tuple[float, bool]:
    """The int8 model's mIoU loss against fp32 (both :func:`score_split`
    results), and whether it is within :data:`MAX_MIOU_LOSS` (offered)."""
    loss = fp32['mIoU'] - int8['mIoU']
    return loss, bool(loss <= MAX_MIOU_LOSS)


def offer_int8(fp32_path: str | os.PathLike, pairs: Sequence[tuple[str, str]],
               calibration: Sequence[str], force: bool = False,
               split: str = '') -> dict[str, Any]:
    """Quantize, score int8 against fp32 on ``pairs``, keep it only if close.

    Args:
        fp32_path: an exported model with its sidecar.
        pairs: (image, label mask) paths to score both models on.
        calibration: image paths to calibrate the activation ranges on.
        force: replace an existing int8 model.
        split: a name for the scored split, recorded in the sidecar.

    Returns:
        ``offered`` (bool), ``path``, ``fp32`` and ``int8`` scores
        (:func:`~allidb_mmseg.evaluation.split_scores.score_split`) and
        ``miou_loss``. When the loss exceeds :data:`MAX_MIOU_LOSS` the int8
        files are removed again.
    """
    out = int8_path(fp32_path)
    for p in (out, sidecar_path(out)):
        refuse_existing(p, force)
    fp32 = OnnxSegmentor(fp32_path)
    offered = False
    try:
        int8 = quantize_model(fp32, calibration, out)
        area = fp32.spec.min_blast_area or DEFAULT_MIN_BLAST_AREA
        scores = {name: score_split(model.segment, pairs, area)
                  for name, model in (('fp32', fp32), ('int8', int8))}
        loss, offered = int8_verdict(scores['fp32'], scores['int8'])
        if offered:
            int8.spec.quantization = dict(
                method=METHOD, calibration_images=len(calibration),
                scored_split=split, scored_images=len(pairs), fp32=scores['fp32'],
                int8=scores['int8'], miou_loss=loss, from_model=Path(fp32_path).name)
            write_sidecar(sidecar_path(out), int8.spec)
    finally:
        if not offered:
            out.unlink(missing_ok=True)
            sidecar_path(out).unlink(missing_ok=True)
    return dict(offered=offered, path=str(out), miou_loss=loss,
                max_miou_loss=MAX_MIOU_LOSS, **scores)
