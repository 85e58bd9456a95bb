"""Hugging Face ``nvidia/mit-b*`` (SegFormer encoder) weights -> mmseg MiT keys.

Why: mmseg's own MiT weights are a download from openmmlab.com; many users
already have (or can only reach) the Hugging Face checkpoints. The two
implementations hold the same tensors under different names, and mmseg fuses
query/key/value into one ``nn.MultiheadAttention`` projection and writes the
MLP's linear layers as 1x1 convolutions. ``transformers`` is not needed.
"""
from __future__ import annotations

import os.path as osp
import re
from typing import Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

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


def hf_to_mmseg_mit(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
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


def load_safetensors(path: str) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` file into CPU tensors (the ``safetensors`` package).

    A malformed or unreadable file raises WeightsError with a one-line reason
    (``path`` set to the file).
    """
    try:
        return load_file(path)
    except SafetensorError as e:
        raise WeightsError(f'not a valid safetensors file: {first_line(e)}', path=path) from None
    except OSError as e:
        raise WeightsError(f'cannot read file: {e.strerror or e}', path=path) from None


def load_hf_state_dict(path: str) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` or a torch ``.bin``/``.pt``/``.pth`` state dict.

    torch files load with ``weights_only=True``: a state dict needs no
    pickled code. ``.safetensors`` files are read by :func:`load_safetensors`.
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
