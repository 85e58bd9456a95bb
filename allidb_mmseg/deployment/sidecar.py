"""The JSON sidecar of an exported model: everything inference needs but the network.

``model.onnx`` maps a normalised batch ``(N, 3, h, w)`` float32 to logits
``(N, C, h, w)``; ``model.json`` beside it (:class:`DeploySpec`) says how an
image becomes that batch and the logits a mask and a count, records the
export, and the ONNX file's SHA-256, so a sidecar is never used with another
model. Reading it needs only the standard library.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from ..utils import AllidbError, atomic_write_json

__all__ = ['DeploySpec', 'FORMAT', 'VERSION', 'sidecar_path', 'file_sha256',
           'read_sidecar', 'write_sidecar']

FORMAT = 'allidb_mmseg.onnx-sidecar'
VERSION = 1
MODES = ('whole', 'slide')


@dataclass
class DeploySpec:
    """What turns an image into the network's input and its output into a mask.

    Attributes:
        mean: per-channel mean, in the network's channel order (0-255 scale).
        std: per-channel standard deviation, same order.
        rgb: the network expects RGB; images are read as BGR and swapped.
        num_classes: output channels (1 for a sigmoid head).
        classes: class names, background first.
        palette: one RGB colour per class.
        resize: mmcv's ``Resize`` of the test pipeline, ``{'scale': [w, h],
            'keep_ratio': bool, 'interpolation': 'bilinear'}``, or None.
        pad: ``{'size': [h, w] | None, 'size_divisor': int | None,
            'pad_val': float}`` when the preprocessor pads test inputs.
        mode: ``'whole'`` (the resized field in one pass) or ``'slide'``.
        crop_size, stride: tile size and step ``[h, w]`` for ``'slide'``.
        working_rbc_px: red-cell diameter the model works at, or None.
        source_rbc_px: red-cell diameter in the source images, or None.
        align_corners: the decode head's ``align_corners``.
        threshold: probability threshold of a sigmoid head.
        min_blast_area: smallest counted blast, pixels of the original image;
            None: per image, from its red-cell size.
        blast_class: index of the lymphoblast class.
        input_name, output_name: the graph's input and output.
        onnx_sha256: SHA-256 of the ONNX file this sidecar describes.
        export: provenance: config, checkpoint, opset, versions, the check.
        quantization: for an int8 model, its method and measured accuracy.
        stain_reference: the model's stain reference, copied from the
            checkpoint; or None.
        smear_call: the model's fitted smear call, copied at export; or None.
    """

    mean: list[float]
    std: list[float]
    rgb: bool
    num_classes: int
    classes: list[str]
    palette: list[list[int]]
    resize: Optional[dict] = None
    pad: Optional[dict] = None
    mode: str = 'whole'
    crop_size: Optional[list[int]] = None
    stride: Optional[list[int]] = None
    working_rbc_px: Optional[float] = None
    source_rbc_px: Optional[float] = None
    align_corners: bool = False
    threshold: float = 0.5
    min_blast_area: Optional[int] = None
    blast_class: int = 1
    input_name: str = 'input'
    output_name: str = 'logits'
    onnx_sha256: str = ''
    export: dict = field(default_factory=dict)
    quantization: Optional[dict] = None
    stain_reference: Optional[dict] = None
    smear_call: Optional[dict] = None

    def problems(self) -> list[str]:
        """What makes this spec unusable (empty when it is fine)."""
        out = []
        if len(self.mean) != 3 or len(self.std) != 3:
            out.append('mean and std need 3 values each')
        if any(float(s) == 0 for s in self.std):
            out.append('std has a zero')
        if self.num_classes < 1 or len(self.classes) != max(2, self.num_classes):
            out.append(f'{len(self.classes)} class names for '
                       f'{self.num_classes} output channels')
        if self.mode not in MODES:
            out.append(f'mode {self.mode!r} is not one of {MODES}')
        if self.mode == 'slide' and not (self.crop_size and self.stride):
            out.append('slide mode needs crop_size and stride')
        if self.resize is not None and len(self.resize.get('scale') or []) != 2:
            out.append('resize needs a scale [w, h]')
        return out

    def to_json(self) -> dict:
        return dict(format=FORMAT, version=VERSION, **asdict(self))


def sidecar_path(onnx_path: str | os.PathLike) -> Path:
    """``model.onnx`` -> ``model.json`` (the sidecar lives beside the model)."""
    return Path(onnx_path).with_suffix('.json')


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def write_sidecar(path: str | os.PathLike, spec: DeploySpec) -> None:
    """Write ``spec`` as JSON, atomically."""
    atomic_write_json(path, spec.to_json())


def read_sidecar(path: str | os.PathLike) -> DeploySpec:
    """Read and check a sidecar; every problem is an AllidbError naming it."""
    path = Path(path)
    if not path.is_file():
        raise AllidbError(path, 'no sidecar beside the model (export it with '
                          'tools/deployment/export_onnx.py)')
    try:
        doc: Any = json.loads(path.read_text(encoding='utf-8'))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AllidbError(path, f'not a JSON sidecar ({e})') from e
    if not isinstance(doc, dict) or doc.get('format') != FORMAT:
        raise AllidbError(path, f'not an allidb_mmseg sidecar (no "format": "{FORMAT}")')
    if not isinstance(doc.get('version'), int) or doc['version'] > VERSION:
        raise AllidbError(path, f'sidecar version {doc.get("version")!r} is '
                          f'newer than this allidb_mmseg reads ({VERSION})')
    known = {f.name for f in fields(DeploySpec)}
    try:
        spec = DeploySpec(**{k: v for k, v in doc.items() if k in known})
    except TypeError as e:
        raise AllidbError(path, f'incomplete sidecar ({e})') from e
    if problems := spec.problems():
        raise AllidbError(path, '; '.join(problems))
    return spec
