"""Export a trained segmentor to ONNX with its sidecar, and check the export.

The graph is mmseg's ``encode_decode``: a normalised batch ``(N, 3, h, w)`` to
logits ``(N, C, h, w)``, with N, h and w dynamic, so one file serves whole
fields and tiles alike; everything around the network is described by the
sidecar (:mod:`.sidecar`) and done by the runtime (:mod:`.runtime`).
MiT attention is exported fused (onnxruntime's ``com.microsoft.MultiHeadAttention``,
or standard MatMul/Softmax with ``portable=True``) and the decode head as
``FusedSegformerHead``, also for mmseg's ``SegformerHead``: same weights and
outputs.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..evaluation.smear_call import find_smear_call
from ..inference.model import load_model
from ..models.fused_head import set_fused_head
from ..models.fused_mit import set_fused_attention
from ..smear.stain import find_stain_reference
from ..utils import AllidbError, atomic_write, map_nested, one_line_errors, refuse_existing
from .sidecar import DeploySpec, file_sha256, sidecar_path, write_sidecar

__all__ = ['spec_from_model', 'check_inputs', 'encode_decode_module',
           'export_onnx', 'DEFAULT_OPSET', 'DEFAULT_TOLERANCE']

DEFAULT_OPSET = 17
DEFAULT_TOLERANCE = 1e-4
# Test-pipeline steps that need nothing at inference: images are read by
# read_image, labels are not used.
_PASSIVE_STEPS = {'LoadImageFromFile', 'LoadImageFromNDArray', 'LoadAnnotations',
                  'PackSegInputs', 'LoadImageFromFileFast'}


def _plain(v: Any) -> Any:
    """Config values as JSON types (tuples to lists, scalars to Python numbers)."""
    return map_nested(v, lambda x: x.item() if hasattr(x, 'item') and callable(x.item) else x)


def _float32_list(t: Any) -> list[float]:
    """A float32 buffer as the shortest decimals that give it back
    (123.675, not 123.67500305...)."""
    return [float(str(np.float32(v))) for v in t.flatten().tolist()]


def _resize_of(test_pipeline: Sequence[dict], where: str,
               working_rbc_px: Optional[float] = None) -> Optional[dict]:
    """The test pipeline's resize as sidecar data; refuse steps the runtime
    cannot reproduce (a rescaling step must follow ``working_rbc_px``)."""
    resize = None
    for step in test_pipeline:
        kind = str(step.get('type', '')).split('.')[-1]
        if kind in _PASSIVE_STEPS:
            continue
        if kind == 'RescaleToWorkingScale':  # the runtime follows working_rbc_px
            if working_rbc_px is None or \
                    float(step.get('working_rbc_px', -1)) != float(working_rbc_px):
                raise AllidbError(where, f'test_pipeline step {kind!r} must '
                                  'use the top-level working_rbc_px')
            continue
        if kind != 'Resize':  # mmcv's, also as mmseg.Resize
            raise AllidbError(where, f'test_pipeline step {kind!r} has no '
                              'equivalent in the onnxruntime backend')
        if step.get('scale_factor') is not None or step.get('scale') is None:
            raise AllidbError(where, 'only Resize with a fixed scale is '
                              'supported in the test_pipeline')
        if step.get('backend', 'cv2') != 'cv2':
            raise AllidbError(where, 'only the cv2 backend of Resize is supported')
        scale = step['scale']
        scale = [scale, scale] if isinstance(scale, int) else list(scale)
        resize = dict(scale=[int(s) for s in scale],
                      keep_ratio=bool(step.get('keep_ratio', False)),
                      interpolation=step.get('interpolation', 'bilinear'))
    return resize


def _dataset_meta(saved: Optional[dict], cfg: Any, num_classes: int) -> dict:
    """Class names and palette: the checkpoint's own (``saved``), else the
    config's test dataset's (never mmseg's guess by class count, which
    names two classes 'background' and 'vessel')."""
    n = max(2, num_classes)
    meta = saved or {}
    if len(meta.get('classes') or ()) == n:
        return meta
    from mmseg.registry import DATASETS

    kind = cfg.get('test_dataloader', {}).get('dataset', {}).get('type')
    cls = DATASETS.get(kind) if kind else None
    meta = dict(getattr(cls, 'METAINFO', {}) or {})
    if len(meta.get('classes') or ()) != n:
        meta = dict(classes=['background', 'lymphoblast'][:n])
    return meta


def spec_from_model(model: Any, where: str = 'config',
                    saved_meta: Optional[dict] = None) -> DeploySpec:
    """The sidecar of a loaded segmentor (``model.cfg`` is its config;
    ``saved_meta``: the ``dataset_meta`` its checkpoint holds, if any)."""
    cfg = model.cfg
    pre = model.data_preprocessor
    if getattr(pre, '_enable_normalize', False):
        mean, std = _float32_list(pre.mean), _float32_list(pre.std)
    else:
        mean, std = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    pad = None
    if getattr(pre, 'test_cfg', None):
        pad = dict(size=_plain(pre.test_cfg.get('size')),
                   size_divisor=pre.test_cfg.get('size_divisor'),
                   pad_val=float(pre.pad_val))
    head = model.decode_head
    num_classes = int(getattr(head, 'out_channels', head.num_classes))
    test_cfg = dict(model.test_cfg or {})
    mode = test_cfg.get('mode', 'whole')
    meta = _dataset_meta(saved_meta, cfg, num_classes)
    palette = meta.get('palette') or [[0, 0, 0], [220, 40, 140]]
    return DeploySpec(
        mean=mean, std=std, rgb=bool(getattr(pre, 'channel_conversion', False)),
        num_classes=num_classes, classes=[str(c) for c in meta['classes']],
        palette=_plain(palette)[:len(meta['classes'])],
        resize=_resize_of(cfg.get('test_pipeline') or [], where,
                          cfg.get('working_rbc_px')),
        pad=pad, mode=mode,
        crop_size=_plain(test_cfg.get('crop_size')) if mode == 'slide' else None,
        stride=_plain(test_cfg.get('stride')) if mode == 'slide' else None,
        working_rbc_px=cfg.get('working_rbc_px'),
        source_rbc_px=cfg.get('source_rbc_px'),
        align_corners=bool(getattr(head, 'align_corners', False)),
        threshold=float(getattr(head, 'threshold', None) or 0.5),
        min_blast_area=cfg.get('min_blast_area'))


def check_inputs(spec: DeploySpec) -> list[tuple[int, int, int]]:
    """(N, h, w) of the self-check: the model's working size with a batch of
    2 (dynamic N), and an odd, non-square size (dynamic h and w)."""
    if spec.mode == 'slide':
        h, w = spec.crop_size
    elif spec.resize and not spec.resize['keep_ratio']:
        w, h = spec.resize['scale']
    else:
        h, w = 256, 256
    return [(2, int(h), int(w)), (1, int(h) + 24, int(w) + 40)]


def encode_decode_module(model: Any) -> Any:
    """``model.encode_decode`` as a traceable ``nn.Module`` in eval mode:
    a normalised batch to logits at the batch's own size."""
    import torch

    class EncodeDecode(torch.nn.Module):
        def __init__(self, seg: Any) -> None:
            super().__init__()
            self.seg = seg

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            hw = x.shape[2:]  # a torch.Size: mmseg resizes the logits to it
            return self.seg.encode_decode(x, [dict(img_shape=hw, pad_shape=hw, ori_shape=hw)])

    return EncodeDecode(model).eval()


def _max_diffs(net: Any, onnx_file: Path, shapes: list[tuple[int, int, int]],
               spec: DeploySpec) -> list[dict]:
    """max |torch - onnxruntime| of the logits on random normalised inputs."""
    import onnxruntime as ort
    import torch

    sess = ort.InferenceSession(str(onnx_file), providers=['CPUExecutionProvider'])
    rng = np.random.default_rng(0)
    out = []
    for n, h, w in shapes:
        x = rng.standard_normal((n, 3, h, w)).astype(np.float32)
        with torch.no_grad():
            ref = net(torch.from_numpy(x)).numpy()
        got = sess.run([spec.output_name], {spec.input_name: x})[0]
        diff = float(np.abs(got - ref).max()) if got.shape == ref.shape else float('inf')
        out.append(dict(input_shape=[n, 3, h, w], max_abs_diff=diff))
    return out


def export_onnx(config: str | os.PathLike, checkpoint: str | os.PathLike,
                out: str | os.PathLike, *, opset: int = DEFAULT_OPSET,
                tolerance: float = DEFAULT_TOLERANCE, force: bool = False,
                portable: bool = False) -> dict:
    """Write ``out`` (ONNX) and its sidecar, after checking them against torch.

    The graph is renamed from its temporary name only when onnxruntime's
    logits agree with torch's within ``tolerance`` (see :func:`check_inputs`).

    Args:
        config: the model's config (with a top-level ``test_pipeline``).
        out: the ``.onnx`` path; the sidecar goes to ``out`` with ``.json``.
        tolerance: the largest max |logit difference| accepted.
        force: replace existing files.
        portable: standard ONNX operators only; else attention is onnxruntime's
            fused ``com.microsoft.MultiHeadAttention`` (docs/performance.md).

    Returns:
        The sidecar's content, as written.

    Raises:
        AllidbError: a bad config/checkpoint, an existing output without
            ``force``, a test pipeline without runtime equivalent, or a
            failed check (then nothing is written).
    """
    import torch
    from mmengine.model import revert_sync_batchnorm

    out = Path(out)
    side = sidecar_path(out)
    if out.suffix.lower() != '.onnx':
        raise AllidbError(out, 'the output needs the .onnx suffix')
    for path in (out, side):
        refuse_existing(path, force)
    with one_line_errors(checkpoint, f'cannot load model with {config}'):
        model = load_model(config, checkpoint, device='cpu')
    model = revert_sync_batchnorm(model).eval()
    set_fused_attention(model, True, contrib_export=not portable)
    set_fused_head(model, True)  # also for a config naming mmseg's SegformerHead
    # load_model gave it the checkpoint's dataset_meta, when it holds one.
    spec = spec_from_model(model, str(config), getattr(model, 'dataset_meta', None))
    net = encode_decode_module(model)
    shapes = check_inputs(spec)
    checks: list[dict] = []

    def write(tmp: Path) -> None:
        n, h, w = shapes[0]
        dyn = {0: 'batch', 2: 'height', 3: 'width'}
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter('ignore')  # tracer and deprecation notes
            torch.onnx.export(
                net, (torch.zeros(n, 3, h, w),), str(tmp), opset_version=opset,
                input_names=[spec.input_name], output_names=[spec.output_name],
                dynamic_axes={spec.input_name: dyn, spec.output_name: dyn},
                do_constant_folding=True, dynamo=False,
                custom_opsets=None if portable else {'com.microsoft': 1})
        checks.extend(_max_diffs(net, tmp, shapes, spec))
        bad = max(checks, key=lambda c: c['max_abs_diff'])
        if not bad['max_abs_diff'] <= tolerance:
            raise AllidbError(out, f'onnxruntime logits differ from torch by '
                              f'{bad["max_abs_diff"]:.2e} > {tolerance:g} at input '
                              f'{bad["input_shape"]}; nothing written')

    atomic_write(out, write)
    import mmseg
    import onnxruntime

    spec.onnx_sha256 = file_sha256(out)
    ref, _ = find_stain_reference(checkpoint)  # beside it, else inside it
    spec.stain_reference = None if ref is None else ref.to_dict()
    call = find_smear_call(checkpoint)
    spec.smear_call = None if call is None else asdict(call)
    spec.export = dict(config=str(config), checkpoint=str(checkpoint),
                       opset=opset, exporter='torch.onnx (TorchScript)',
                       attention='onnx' if portable else 'com.microsoft.MultiHeadAttention',
                       torch=torch.__version__, mmseg=mmseg.__version__,
                       onnxruntime=onnxruntime.__version__,
                       tolerance=tolerance, check=checks)
    write_sidecar(side, spec)
    return spec.to_json()
