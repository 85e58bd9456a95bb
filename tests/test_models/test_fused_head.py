"""The fused SegFormer head: mmseg's head's weights, its outputs and gradients."""
from __future__ import annotations

import pytest
import torch

from allidb_mmseg.models import FusedSegformerHead
from mmseg.models.decode_heads import SegformerHead
from mmseg.registry import MODELS

TOL = 1e-5
# MiT-B0's stage widths, a small head; odd sizes make the upsampling uneven.
HEAD = dict(in_channels=[32, 64, 160, 256], in_index=[0, 1, 2, 3], channels=64,
            dropout_ratio=0.0, num_classes=2, norm_cfg=dict(type='BN', requires_grad=True),
            align_corners=False)
SIZES = [(17, 23), (9, 12), (5, 6), (3, 3)]


def _pair(seed: int = 0, **over) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(seed)
    stock = SegformerHead(**dict(HEAD, **over))
    with torch.no_grad():
        for p in stock.parameters():
            p.normal_(0, 0.2)
        for m in stock.modules():  # running statistics away from 0/1
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    fused = FusedSegformerHead(**dict(HEAD, **over))
    fused.load_state_dict(stock.state_dict(), strict=True)
    return stock, fused


def _inputs(seed: int = 1, batch: int = 2) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, *s, generator=g)
            for c, s in zip(HEAD['in_channels'], SIZES)]


@pytest.mark.parametrize('align_corners', [False, True])
def test_equal_to_mmseg_head_in_eval(align_corners: bool) -> None:
    stock, fused = _pair(align_corners=align_corners)
    stock.eval(), fused.eval()
    x = _inputs()
    with torch.no_grad():
        a, b = stock(x), fused(x)
    assert a.shape == b.shape == (2, 2, *SIZES[0])
    assert (a - b).abs().max().item() < TOL


def test_equal_gradients_in_training() -> None:
    stock, fused = _pair(seed=3)
    x = _inputs(seed=4)
    a, b = stock(x), fused(x)
    assert (a - b).abs().max().item() < TOL
    a.square().sum().backward()
    b.square().sum().backward()
    grads = dict(fused.named_parameters())
    for name, p in stock.named_parameters():
        assert torch.allclose(p.grad, grads[name].grad, atol=1e-4, rtol=1e-4), name


def test_registered_and_loads_mmseg_head_checkpoints() -> None:
    stock, _ = _pair()
    built = MODELS.build(dict(HEAD, type='FusedSegformerHead'))
    assert isinstance(built, FusedSegformerHead)
    missing = built.load_state_dict(stock.state_dict(), strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys


def test_set_fused_head_switches_both_ways_and_keeps_weights() -> None:
    from allidb_mmseg.models import set_fused_head

    stock, fused = _pair(seed=5)
    stock.eval(), fused.eval()
    x = _inputs(seed=6)
    with torch.no_grad():
        ref = stock(x)
    keys = list(stock.state_dict())
    wrapper = torch.nn.Sequential(stock)  # found inside a larger model too
    assert set_fused_head(wrapper, True) == 1
    assert type(stock) is FusedSegformerHead and list(stock.state_dict()) == keys
    with torch.no_grad():
        assert (stock(x) - ref).abs().max().item() < TOL
    assert set_fused_head(fused, False) == 1 and type(fused) is SegformerHead
    assert set_fused_head(torch.nn.Linear(2, 2), True) == 0
