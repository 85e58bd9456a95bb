"""Hugging Face ``nvidia/mit-b*`` (SegFormer encoder) weights -> mmseg MiT keys.

Why: mmseg's own MiT weights are a download from openmmlab.com; many users
already have (or can only reach) the Hugging Face checkpoints. The two
implementations hold the same tensors under different names, and mmseg fuses
query/key/value into one ``nn.MultiheadAttention`` projection and writes the
MLP's linear layers as 1x1 convolutions. ``transformers`` is not needed.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
import re
from typing import Mapping

import torch

from ..utils import AllidbError, atomic_write, first_line, refuse_existing

__all__ = ['WeightsError', 'hf_to_mmseg_mit', 'load_hf_state_dict',
           'load_safetensors', 'check_complete_mit', 'convert_file']


class WeightsError(AllidbError):
    """A weights file that cannot be read or converted.

    Raised with the problem alone where the file is not known yet;
    :func:`convert_file` then names it.
    """

    def __init__(self, problem: str, path: str | None = None) -> None:
        super().__init__(problem)
        self.path = path


_BLOCK = re.compile(r'^encoder\.block\.(\d+)\.(\d+)\.(.+)$')
_PATCH = re.compile(r'^encoder\.patch_embeddings\.(\d+)\.(proj|layer_norm)'
                    r'\.(weight|bias)$')
_NORM = re.compile(r'^encoder\.layer_norm\.(\d+)\.(weight|bias)$')
# Parts of one transformer block: HF suffix -> (mmseg suffix, is_linear_as_conv)
_BLOCK_PARTS = {
    'layer_norm_1': ('norm1', False),
    'attention.self.sr': ('attn.sr', False),
    'attention.self.layer_norm': ('attn.norm', False),
    'attention.output.dense': ('attn.attn.out_proj', False),
    'layer_norm_2': ('norm2', False),
    'mlp.dense1': ('ffn.layers.0', True),
    'mlp.dwconv.dwconv': ('ffn.layers.1', False),
    'mlp.dense2': ('ffn.layers.4', True),
}
_QKV = ('query', 'key', 'value')
# An encoder key (group 1: relative to the encoder's parent).
_ENCODER_KEY = re.compile(r'^(?:(?:model\.)?segformer\.)?(encoder\..*)$', re.S)


def hf_to_mmseg_mit(state_dict: Mapping[str, torch.Tensor]
                    ) -> dict[str, torch.Tensor]:
    """Convert a SegformerModel / SegformerFor* state dict to mmseg MiT keys.

    Keys outside the encoder (classifier, decode_head) are dropped. Raises
    WeightsError on an encoder key it does not know, or on missing q/k/v.
    """
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for full_key, value in state_dict.items():
        if not (m := _ENCODER_KEY.match(full_key)):
            continue
        key = m.group(1)
        if m := _PATCH.match(key):
            stage, part, kind = m.groups()
            name = 'projection' if part == 'proj' else 'norm'
            out[f'layers.{stage}.0.{name}.{kind}'] = value
        elif m := _NORM.match(key):
            stage, kind = m.groups()
            out[f'layers.{stage}.2.{kind}'] = value
        elif m := _BLOCK.match(key):
            stage, block, rest = m.groups()
            prefix = f'layers.{stage}.1.{block}'
            part, _, kind = rest.rpartition('.')
            proj = part.rsplit('.', 1)[-1]
            if part.startswith('attention.self.') and proj in _QKV:
                qkv.setdefault((prefix, kind), {})[proj] = value
            elif part in _BLOCK_PARTS:
                name, linear_as_conv = _BLOCK_PARTS[part]
                if linear_as_conv and kind == 'weight' and value.dim() == 2:
                    value = value[:, :, None, None]
                out[f'{prefix}.{name}.{kind}'] = value
            else:
                raise WeightsError(f'unknown encoder key {full_key!r}')
        else:
            raise WeightsError(f'unknown encoder key {full_key!r}')
    for (prefix, kind), parts in qkv.items():
        missing = [p for p in _QKV if p not in parts]
        if missing:
            raise WeightsError(f'{prefix}: attention {kind} lacks {missing}')
        # nn.MultiheadAttention stacks [q; k; v] in in_proj_weight/bias.
        out[f'{prefix}.attn.attn.in_proj_{kind}'] = torch.cat([parts[p] for p in _QKV], dim=0)
    if not out:
        raise WeightsError('no SegFormer encoder keys '
                           '(expected segformer.encoder.* or encoder.*)')
    return out


# safetensors dtype name -> torch dtype (all stored little-endian).
_ST_DTYPES = {
    'F64': torch.float64, 'F32': torch.float32, 'F16': torch.float16,
    'BF16': torch.bfloat16, 'I64': torch.int64, 'I32': torch.int32,
    'I16': torch.int16, 'I8': torch.int8, 'U8': torch.uint8,
    'BOOL': torch.bool,
}
# The reference implementation refuses headers above 100 MB; so do we, so a
# garbage length does not make us read a whole file as JSON.
_ST_MAX_HEADER = 100_000_000


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def load_safetensors(path: str) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` file into CPU tensors, without the package.

    Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
    (``name -> {dtype, shape, data_offsets: [begin, end]}``, plus an optional
    ``__metadata__``), then the data buffer, offsets relative to its start.
    Every tensor is validated before any data is read; a malformed file
    raises WeightsError with a one-line reason (``path`` set to the file).
    """
    def bad(problem: str) -> WeightsError:
        return WeightsError(f'not a valid safetensors file: {problem}', path=path)

    try:
        size = os.path.getsize(path)
        with open(path, 'rb') as f:
            if size < 8:
                raise bad(f'{size} bytes, too short for the 8-byte header length')
            n = int.from_bytes(f.read(8), 'little')
            if n > size - 8:
                raise bad(f'header length {n} runs past the end of the file ({size} bytes)')
            if n > _ST_MAX_HEADER:
                raise bad(f'header length {n} is over {_ST_MAX_HEADER} bytes')
            try:
                header = json.loads(f.read(n).decode('utf-8'))
            except (UnicodeDecodeError, ValueError) as e:
                raise bad(f'header is not UTF-8 JSON ({first_line(e)})') from None
            if not isinstance(header, dict):
                raise bad('header is not a JSON object')
            header.pop('__metadata__', None)
            data_start = 8 + n
            buffer_len = size - data_start
            specs = []
            for name, info in header.items():
                if not isinstance(info, dict):
                    raise bad(f'{name!r}: entry is not a JSON object')
                dtype_name = info.get('dtype')
                if dtype_name not in _ST_DTYPES:
                    raise bad(f'{name!r}: unsupported dtype {dtype_name!r}')
                dtype = _ST_DTYPES[dtype_name]
                shape = info.get('shape')
                if not isinstance(shape, list) or not all(_is_int(d) for d in shape):
                    raise bad(f'{name!r}: bad shape {shape!r}')
                offsets = info.get('data_offsets')
                if not (isinstance(offsets, list) and len(offsets) == 2
                        and all(_is_int(o) for o in offsets)):
                    raise bad(f'{name!r}: bad data_offsets {offsets!r}')
                begin, end = offsets
                if not begin <= end <= buffer_len:
                    raise bad(f'{name!r}: data_offsets {offsets} outside the '
                              f'{buffer_len}-byte data buffer')
                expected = math.prod(shape) * dtype.itemsize
                if end - begin != expected:
                    raise bad(f'{name!r}: {end - begin} data bytes, but '
                              f'{dtype_name} {shape} needs {expected}')
                specs.append((name, dtype, shape, begin, end))
            out: dict[str, torch.Tensor] = {}
            for name, dtype, shape, begin, end in sorted(specs, key=lambda s: s[3]):
                # One aligned allocation per tensor, filled straight from the
                # file: no second copy of the checkpoint, no unaligned views.
                raw = torch.empty(end - begin, dtype=torch.uint8)
                f.seek(data_start + begin)
                if f.readinto(raw.numpy()) != end - begin:  # file shrank meanwhile
                    raise bad(f'{name!r}: data ends early')
                out[name] = raw.view(dtype).reshape(shape)
    except OSError as e:
        raise WeightsError(f'cannot read file: {e.strerror or e}', path=path) from None
    return out


def load_hf_state_dict(path: str) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` or a torch ``.bin``/``.pt``/``.pth`` state dict.

    torch files load with ``weights_only=True``: a state dict needs no
    pickled code. ``.safetensors`` files are read by :func:`load_safetensors`
    (no extra package needed).
    """
    if not osp.isfile(path):
        raise WeightsError('file not found')
    if path.endswith('.safetensors'):
        return load_safetensors(path)
    try:
        data = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:
        raise WeightsError(f'cannot read torch file: {e}'.splitlines()[0])
    for key in ('state_dict', 'model'):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict):
        raise WeightsError('does not hold a state dict')
    return data


MIT_STAGES = 4


def check_complete_mit(converted: Mapping[str, torch.Tensor]) -> None:
    """Raise unless every MiT stage has its patch embedding, a first block
    and its final norm (a few stray encoder keys would otherwise make a
    "0.00 M parameter" file that trains from scratch unnoticed)."""
    need = [key for i in range(MIT_STAGES)
            for key in (f'layers.{i}.0.projection.weight', f'layers.{i}.0.norm.weight',
                        f'layers.{i}.1.0.attn.attn.in_proj_weight', f'layers.{i}.2.weight')]
    missing = [k for k in need if k not in converted]
    if missing:
        raise WeightsError(
            f'not a complete MiT encoder: {len(missing)} of its {len(need)} '
            f'essential tensors are missing (e.g. {missing[0]}); only '
            f'{len(converted)} encoder tensors were found')


def convert_file(src: str, dst: str, force: bool = False) -> dict:
    """Convert ``src`` (HF) into ``dst`` (mmseg, ``{'state_dict': ...}``).

    Refuses an existing ``dst`` unless ``force``, and an input that is not a
    complete MiT encoder (:func:`check_complete_mit`); writes to a temporary
    file first. Returns a summary: tensor count, parameter count, stage widths and
    depths (which say the MiT variant).
    """
    refuse_existing(dst, force)
    try:
        converted = hf_to_mmseg_mit(load_hf_state_dict(src))
        check_complete_mit(converted)
    except WeightsError as e:
        e.path = e.path or src
        raise
    # check_complete_mit found every stage's patch embedding.
    widths = [int(converted[f'layers.{i}.0.projection.weight'].shape[0])
              for i in range(MIT_STAGES)]
    depths = [len({k.split('.')[3] for k in converted
                   if k.startswith(f'layers.{i}.1.')}) for i in range(MIT_STAGES)]
    atomic_write(dst, lambda tmp: torch.save({'state_dict': converted}, tmp))
    return dict(tensors=len(converted),
                parameters=sum(v.numel() for v in converted.values()),
                embed_dims=widths, num_layers=depths)
