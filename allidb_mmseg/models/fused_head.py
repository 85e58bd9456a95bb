"""SegFormer's all-MLP head with the fusing 1x1 conv moved before the upsampling.

mmseg's ``SegformerHead`` upsamples each stage's ``channels`` maps to 1/4 of
the input, concatenates them and fuses them with one 1x1 conv
(``4 * channels`` -> ``channels``), then BN and ReLU. Bilinear upsampling and
a 1x1 channel mix without bias commute (both are linear, and bilinear weights
act on each channel alone), so each stage's share of the fusing conv runs at
that stage's own resolution and the results are summed at 1/4 resolution: the
same function, up to float rounding, without the ``4 * channels``
concatenation. Parameters and their names are ``SegformerHead``'s, so its
checkpoints load unchanged.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mmseg.models.decode_heads import SegformerHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS

__all__ = ['FusedSegformerHead', 'set_fused_head']


@MODELS.register_module()
class FusedSegformerHead(SegformerHead):
    """``SegformerHead`` that fuses the stages before upsampling them (same weights)."""

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        if self.fusion_conv.order != ('conv', 'norm', 'act'):
            return super().forward(inputs)  # the rewrite assumes conv first
        inputs = self._transform_inputs(inputs)
        size = inputs[0].shape[2:]
        fusion = self.fusion_conv
        # (channels, channels * stages, 1, 1): one block of input channels per stage.
        shares = fusion.conv.weight.split(self.channels, dim=1)
        out = None
        for x, conv, share in zip(inputs, self.convs, shares):
            y = F.conv2d(conv(x), share)
            if y.shape[2:] != size:
                y = resize(y, size=size, mode=self.interpolate_mode,
                           align_corners=self.align_corners)
            out = y if out is None else out + y
        if fusion.with_bias:
            out = out + fusion.conv.bias.view(1, -1, 1, 1)
        if fusion.with_norm:
            out = fusion.norm(out)
        if fusion.with_activation:
            out = fusion.activate(out)
        return self.cls_seg(out)


def set_fused_head(model: torch.nn.Module, enabled: bool = True) -> int:
    """Switch every SegFormer head in ``model`` (a head or a whole segmentor) to
    :class:`FusedSegformerHead` (``enabled``) or mmseg's ``SegformerHead``; return
    how many it set (0: the model has none).

    Like :func:`~allidb_mmseg.models.fused_mit.set_fused_attention`: in place,
    keeping parameters and state-dict keys, so a model built with
    ``type='SegformerHead'`` (an older config or checkpoint) runs the fused
    head, and the benchmark's stock twin runs mmseg's.
    """
    heads = [m for m in model.modules() if type(m) in (SegformerHead, FusedSegformerHead)]
    for head in heads:
        head.__class__ = FusedSegformerHead if enabled else SegformerHead
    return len(heads)
