"""MiT with fused (flash / memory-efficient) attention, same weights as mmseg's.

Why: mmseg 1.2.2's ``EfficientMultiheadAttention.forward`` calls
``nn.MultiheadAttention`` with the default ``need_weights=True``, so PyTorch
materialises the full ``queries x keys`` attention matrix (6 GB for one
2592x1944 field in MiT-B0's first stage) only for mmseg to throw it away, and
the fused SDPA kernels are ruled out. Here the same computation runs through
``F.scaled_dot_product_attention`` with the module's own ``in_proj``/``out_proj``
parameters, so the state-dict keys and the outputs stay those of stock MiT.

The swap is a class change of each attention instance
(:func:`set_fused_attention`), not a fork of the backbone; the registered
``FusedMixVisionTransformer`` applies it at construction. With
``contrib_export=True`` an ONNX export writes each attention as onnxruntime's
fused ``com.microsoft`` ``MultiHeadAttention`` operator (docs/performance.md).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmseg.models.backbones.mit import EfficientMultiheadAttention, MixVisionTransformer
from mmseg.models.utils import nchw_to_nlc, nlc_to_nchw
from mmseg.registry import MODELS


class FusedEfficientMultiheadAttention(EfficientMultiheadAttention):
    """``EfficientMultiheadAttention`` whose forward never builds attention weights.

    Instances are never constructed directly: ``set_fused_attention`` switches
    the class of existing modules, so no parameter is created or renamed.
    """

    def forward(self, x: torch.Tensor, hw_shape: tuple[int, int],
                identity: torch.Tensor | None = None) -> torch.Tensor:
        x_kv = x
        if self.sr_ratio > 1:
            x_kv = self.norm(nchw_to_nlc(self.sr(nlc_to_nchw(x, hw_shape))))
        attn = self.attn
        # SDPA is written for the plain packed-projection variant mmseg builds.
        fused = (attn._qkv_same_embed_dim and attn.in_proj_weight is not None
                 and attn.bias_k is None and attn.bias_v is None and not attn.add_zero_attn)
        # x is batch-first iff self.batch_first (mmseg always uses True); SDPA needs
        # batch-first, the fallback nn.MultiheadAttention its own layout.
        swap = self.batch_first != (fused or attn.batch_first)
        q, kv = (x.transpose(0, 1), x_kv.transpose(0, 1)) if swap else (x, x_kv)
        if fused:
            out = _packed_sdpa(attn, q, kv)
        else:  # exotic variants: still skip the weights, same maths
            out = attn(query=q, key=kv, value=kv, need_weights=False)[0]
        if swap:
            out = out.transpose(0, 1)
        return (x if identity is None else identity) + self.dropout_layer(self.proj_drop(out))


class _ContribAttention(torch.autograd.Function):
    """SDPA on (B, N, C) tensors; exported as onnxruntime's ``MultiHeadAttention``."""

    @staticmethod
    def forward(ctx, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                heads: int) -> torch.Tensor:
        return _sdpa(q, k, v, heads)

    @staticmethod
    def symbolic(g, q, k, v, heads: int):
        return g.op('com.microsoft::MultiHeadAttention', q, k, v, num_heads_i=heads)


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int,
          dropout: float = 0.0) -> torch.Tensor:
    """Multi-head SDPA of batch-first (B, N, C) tensors, heads split from C."""
    b, n_q, c = q.shape

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(b, t.shape[1], heads, c // heads).transpose(1, 2)

    out = F.scaled_dot_product_attention(split(q), split(k), split(v), dropout_p=dropout)
    return out.transpose(1, 2).reshape(b, n_q, c)


def _packed_sdpa(attn: nn.MultiheadAttention, x_q: torch.Tensor,
                 x_kv: torch.Tensor) -> torch.Tensor:
    """``nn.MultiheadAttention`` maths on batch-first tensors via fused SDPA."""
    c = x_q.shape[2]
    w, bias = attn.in_proj_weight, attn.in_proj_bias
    b_q, b_kv = (None, None) if bias is None else (bias[:c], bias[c:])
    q = F.linear(x_q, w[:c], b_q)
    k, v = F.linear(x_kv, w[c:], b_kv).chunk(2, dim=-1)
    if getattr(attn, 'contrib_export', False) and torch.onnx.is_in_onnx_export():
        out = _ContribAttention.apply(q, k, v, attn.num_heads)
    else:
        out = _sdpa(q, k, v, attn.num_heads, attn.dropout if attn.training else 0.0)
    return attn.out_proj(out)


def set_fused_attention(model: nn.Module, enabled: bool = True,
                        contrib_export: bool = False) -> int:
    """Switch every MiT attention in ``model`` (a backbone or a whole segmentor)
    to the fused (``enabled``) or mmseg's stock forward, in place, keeping
    parameters and state-dict keys.

    Args:
        contrib_export: with ``enabled``, an ONNX export writes the attention as
            onnxruntime's ``com.microsoft.MultiHeadAttention`` (the model then
            needs onnxruntime); eager outputs do not change.

    Returns:
        How many modules it set, so callers can tell a model without MiT
        attention from a no-op.
    """
    target = FusedEfficientMultiheadAttention if enabled else EfficientMultiheadAttention
    # mmseg's legacy-mmcv path binds forward per instance; keep it.
    modules = [m for m in model.modules()
               if isinstance(m, EfficientMultiheadAttention) and 'forward' not in vars(m)]
    for module in modules:
        module.__class__ = target
        module.attn.contrib_export = enabled and contrib_export
    return len(modules)


@MODELS.register_module()
class FusedMixVisionTransformer(MixVisionTransformer):
    """mmseg's MixVisionTransformer with fused attention on by default.

    Args:
        fused_attention: use ``F.scaled_dot_product_attention`` (default) or,
            when False, mmseg's stock attention. Weights load either way.
    """

    def __init__(self, *args, fused_attention: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fused_attention = fused_attention
        set_fused_attention(self, fused_attention)
