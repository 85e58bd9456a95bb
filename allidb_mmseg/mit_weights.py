"""Hugging Face ``nvidia/mit-b*`` (SegFormer encoder) weights -> mmseg MiT keys.

Why: mmseg's own MiT weights are a download from openmmlab.com; many users
already have (or can only reach) the Hugging Face checkpoints. The two
implementations hold the same tensors under different names, and mmseg fuses
query/key/value into one ``nn.MultiheadAttention`` projection and writes the
MLP's linear layers as 1x1 convolutions. ``transformers`` is not needed.
"""
from __future__ import annotations

import os
import os.path as osp
import re
from typing import Mapping

import torch

__all__ = ['WeightsError', 'hf_to_mmseg_mit', 'load_hf_state_dict',
           'convert_file']


class WeightsError(Exception):
    """A weights file that cannot be read or converted.

    ``path`` names the file at fault when the caller cannot know it.
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


def _strip_prefix(key: str) -> str | None:
    """The key relative to the encoder's parent, or None if not an encoder key."""
    for prefix in ('segformer.', 'model.segformer.', ''):
        if key.startswith(prefix + 'encoder.'):
            return key[len(prefix):]
    return None


def hf_to_mmseg_mit(state_dict: Mapping[str, torch.Tensor]
                    ) -> dict[str, torch.Tensor]:
    """Convert a SegformerModel / SegformerFor* state dict to mmseg MiT keys.

    Keys outside the encoder (classifier, decode_head) are dropped. Raises
    WeightsError on an encoder key it does not know, or on missing q/k/v.
    """
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for full_key, value in state_dict.items():
        key = _strip_prefix(full_key)
        if key is None:
            continue
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
            if part.startswith('attention.self.') and \
                    part.rsplit('.', 1)[1] in _QKV:
                qkv.setdefault((prefix, kind), {})[part.rsplit('.', 1)[1]] = \
                    value
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
        out[f'{prefix}.attn.attn.in_proj_{kind}'] = torch.cat(
            [parts[p] for p in _QKV], dim=0)
    if not out:
        raise WeightsError('no SegFormer encoder keys '
                           '(expected segformer.encoder.* or encoder.*)')
    return out


def load_hf_state_dict(path: str) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` or a torch ``.bin``/``.pt``/``.pth`` state dict.

    torch files load with ``weights_only=True``: a state dict needs no
    pickled code. safetensors is optional; without it such a file raises a
    WeightsError that says what to install.
    """
    if not osp.isfile(path):
        raise WeightsError('file not found')
    if path.endswith('.safetensors'):
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise WeightsError(
                'reading .safetensors needs the safetensors package '
                '(pip install safetensors), or use the .bin checkpoint')
        try:
            return dict(load_file(path, device='cpu'))
        except Exception as e:
            raise WeightsError(f'cannot read safetensors file: {e}') from e
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


def convert_file(src: str, dst: str, force: bool = False) -> dict:
    """Convert ``src`` (HF) into ``dst`` (mmseg, ``{'state_dict': ...}``).

    Refuses an existing ``dst`` unless ``force``; writes to a temporary file
    first. Returns a summary: tensor count, parameter count, stage widths and
    depths (which say the MiT variant).
    """
    if osp.exists(dst) and not force:
        raise WeightsError('exists (use --force to overwrite)', path=dst)
    try:
        converted = hf_to_mmseg_mit(load_hf_state_dict(src))
    except WeightsError as e:
        e.path = e.path or src
        raise
    widths = [int(converted[f'layers.{i}.0.projection.weight'].shape[0])
              for i in range(4) if f'layers.{i}.0.projection.weight'
              in converted]
    depths = [len({k.split('.')[3] for k in converted
                   if k.startswith(f'layers.{i}.1.')}) for i in range(4)]
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    tmp = dst + '.tmp'
    torch.save({'state_dict': converted}, tmp)
    os.replace(tmp, dst)
    return dict(tensors=len(converted),
                parameters=sum(v.numel() for v in converted.values()),
                embed_dims=widths, num_layers=depths)
