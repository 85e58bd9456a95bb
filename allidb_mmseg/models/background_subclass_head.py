"""A SegFormer head that learns classes of background apart and predicts them as one.

Trained with ``num_classes`` classes (say 0 background, 1 blast, 2 other white
cell), it predicts ``predict_classes``: the channels from ``predict_classes``
up are merged into channel 0 by ``logsumexp``, so the softmax of the merged
logits gives the background the sum of the merged classes' probabilities and
leaves the others unchanged. Everything that reads the model's output
(mmseg's whole and slide inference, the val metric, export, the runtime) sees
``predict_classes`` channels; only the loss sees the rest.
"""
from __future__ import annotations

import torch

from mmseg.registry import MODELS

from .fused_head import FusedSegformerHead

__all__ = ['BackgroundSubclassHead', 'merge_into_background']


def merge_into_background(logits: torch.Tensor, keep: int) -> torch.Tensor:
    """``(N, C, H, W)`` logits to ``(N, keep, H, W)``: channels ``keep..C-1``
    joined to channel 0 (their probabilities summed under a softmax)."""
    background = torch.logsumexp(torch.cat([logits[:, :1], logits[:, keep:]], 1),
                                 dim=1, keepdim=True)
    return torch.cat([background, logits[:, 1:keep]], 1)


@MODELS.register_module()
class BackgroundSubclassHead(FusedSegformerHead):
    """:class:`FusedSegformerHead` whose classes from ``predict_classes`` up are
    background subclasses: learnt in training, predicted as background.

    Args:
        predict_classes: the classes predicted (2: background and blast); the
            head's ``out_channels``. ``num_classes`` (more) are trained.
        **kwargs: ``SegformerHead``'s.
    """

    def __init__(self, predict_classes: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 2 <= predict_classes < self.num_classes:
            raise ValueError(f'BackgroundSubclassHead: predict_classes {predict_classes} must be '
                             f'at least 2 and below num_classes {self.num_classes}')
        self.out_channels = predict_classes

    def predict(self, inputs, batch_img_metas: list[dict], test_cfg) -> torch.Tensor:
        logits = merge_into_background(self.forward(inputs), self.out_channels)
        return self.predict_by_feat(logits, batch_img_metas)
