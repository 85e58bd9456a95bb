"""models/background_subclass_head.py: three classes learnt, two predicted."""
from __future__ import annotations

import pytest
import torch

from allidb_mmseg.engine.config import load_config
from allidb_mmseg.models import BackgroundSubclassHead, merge_into_background
from helpers import REPO
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

HEAD = dict(in_channels=[32, 64, 160, 256], in_index=[0, 1, 2, 3], channels=32,
            dropout_ratio=0.0, num_classes=3, norm_cfg=dict(type='BN', requires_grad=True),
            align_corners=False)
SIZES = [(16, 16), (8, 8), (4, 4), (2, 2)]


def _inputs() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(2, c, *s, generator=g) for c, s in zip(HEAD['in_channels'], SIZES)]


def test_merged_probabilities_are_the_sums_of_the_classes():
    logits = torch.randn(2, 4, 5, 6) * 3
    p = logits.softmax(1)
    merged = merge_into_background(logits, keep=2).softmax(1)
    assert merged.shape == (2, 2, 5, 6)
    assert torch.allclose(merged[:, 0], p[:, 0] + p[:, 2] + p[:, 3], atol=1e-6)
    assert torch.allclose(merged[:, 1], p[:, 1], atol=1e-6)


def test_the_loss_sees_three_classes_and_prediction_two():
    head = MODELS.build(dict(HEAD, type='BackgroundSubclassHead', predict_classes=2))
    assert head.num_classes == 3 and head.out_channels == 2
    x = _inputs()
    assert head(x).shape[1] == 3
    head.eval()
    meta = [dict(img_shape=(64, 64), pad_shape=(64, 64))] * 2
    with torch.no_grad():
        out = head.predict(x, meta, {})
        assert out.shape == (2, 2, 64, 64)
        full = head(x)
    expect = merge_into_background(full, 2)
    assert torch.allclose(head.predict_by_feat(expect, meta), out)
    # Training against labels 0, 1 and 2.
    head.train()
    samples = []
    for k in range(2):
        s = SegDataSample(metainfo=meta[k])
        s.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 64, 64)))
        samples.append(s)
    losses = head.loss(x, samples, {})
    assert torch.isfinite(losses['loss_ce']) and losses['loss_ce'] > 0


def test_a_segmentor_with_it_predicts_two_classes():
    cfg = load_config(str(REPO / 'configs' / 'segformer_allidb_native_wbc.py'))
    cfg.model.decode_head.norm_cfg = dict(type='BN', requires_grad=True)
    model = MODELS.build(cfg.model).eval()
    assert model.out_channels == 2 and model.decode_head.num_classes == 3
    with torch.no_grad():
        logits = model.encode_decode(torch.randn(1, 3, 64, 64),
                                     [dict(img_shape=(64, 64), pad_shape=(64, 64))])
    assert logits.shape == (1, 2, 64, 64)


@pytest.mark.parametrize('predict', [1, 3])
def test_predicting_as_many_classes_as_trained_or_one_is_an_error(predict):
    with pytest.raises(ValueError, match='predict_classes'):
        BackgroundSubclassHead(predict_classes=predict, **HEAD)
