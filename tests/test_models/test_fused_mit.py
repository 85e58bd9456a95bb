"""Fused MiT attention: same weights, same outputs as mmseg's stock module."""
from __future__ import annotations

import copy

import pytest
import torch

from allidb_mmseg.models import (FusedEfficientMultiheadAttention,
                                 FusedMixVisionTransformer, set_fused_attention)
from helpers import TINY_MIT
from mmseg.models.backbones.mit import (EfficientMultiheadAttention,
                                        MixVisionTransformer)
from mmseg.registry import MODELS

# Several heads per stage and every sr_ratio (8, 4, 2, 1): exercises the head
# split and both key/value paths; odd input sizes exercise the padding.
MULTIHEAD = dict(TINY_MIT, embed_dims=8, num_heads=[1, 2, 2, 4])
TOL = 1e-5


def _pair(cfg: dict, seed: int = 0) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(seed)
    kwargs = {k: v for k, v in cfg.items() if k != 'type'}
    stock = MixVisionTransformer(**kwargs)
    with torch.no_grad():  # random biases too: mmseg initialises them to 0
        for p in stock.parameters():
            p.normal_(0, 0.2)
    fused = FusedMixVisionTransformer(**kwargs)
    fused.load_state_dict(stock.state_dict(), strict=True)
    return stock, fused


def _max_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.shape == y.shape
    return max(float((x - y).detach().abs().max()) for x, y in zip(a, b))


@pytest.mark.parametrize('cfg', [TINY_MIT, MULTIHEAD], ids=['1head', 'multihead'])
def test_same_outputs_eval(cfg):
    stock, fused = _pair(cfg)
    x = torch.randn(2, 3, 75, 99)
    with torch.no_grad():
        diff = _max_diff(stock.eval()(x), fused.eval()(x))
    assert diff <= TOL


def test_same_outputs_and_grads_train_mode():
    """Dropout 0: training-mode forward and backward agree too."""
    stock, fused = _pair(MULTIHEAD)
    x = torch.randn(2, 3, 64, 72)
    outs = []
    for m in (stock.train(), fused.train()):
        m.zero_grad()
        y = m(x)
        sum((t * t).mean() for t in y).backward()
        outs.append((y, {n: p.grad.clone() for n, p in m.named_parameters()}))
    assert _max_diff(outs[0][0], outs[1][0]) <= TOL
    g0, g1 = outs[0][1], outs[1][1]
    assert g0.keys() == g1.keys()
    assert max(float((g0[k] - g1[k]).abs().max()) for k in g0) <= 1e-4


def test_fused_path_skips_need_weights_attention(monkeypatch):
    """The fused forward never calls nn.MultiheadAttention (which builds weights)."""
    _, fused = _pair(MULTIHEAD)

    def forbidden(*args, **kwargs):
        raise AssertionError('nn.MultiheadAttention.forward was called')

    monkeypatch.setattr(torch.nn.MultiheadAttention, 'forward', forbidden)
    with torch.no_grad():
        fused.eval()(torch.randn(1, 3, 64, 64))
    stock = MixVisionTransformer(**{k: v for k, v in MULTIHEAD.items() if k != 'type'})
    with pytest.raises(AssertionError, match='was called'):
        stock.eval()(torch.randn(1, 3, 64, 64))


def test_state_dict_keys_identical_and_config_switch():
    stock, fused = _pair(TINY_MIT)
    assert list(stock.state_dict()) == list(fused.state_dict())
    built = MODELS.build(dict(TINY_MIT, type='FusedMixVisionTransformer'))
    off = MODELS.build(dict(TINY_MIT, type='FusedMixVisionTransformer',
                            fused_attention=False))
    kinds_on = {type(m) for m in built.modules()
                if isinstance(m, EfficientMultiheadAttention)}
    kinds_off = {type(m) for m in off.modules()
                 if isinstance(m, EfficientMultiheadAttention)}
    assert kinds_on == {FusedEfficientMultiheadAttention}
    assert kinds_off == {EfficientMultiheadAttention}
    # a stock checkpoint loads strictly into both
    off.load_state_dict(stock.state_dict(), strict=True)
    built.load_state_dict(stock.state_dict(), strict=True)


def test_set_fused_attention_toggles_any_model():
    stock, _ = _pair(MULTIHEAD)
    model = copy.deepcopy(stock)
    assert set_fused_attention(model, True) == 4  # one attention per stage
    x = torch.randn(1, 3, 48, 80)
    with torch.no_grad():
        assert _max_diff(stock.eval()(x), model.eval()(x)) <= TOL
    assert set_fused_attention(model, False) == 4
    assert all(type(m) is EfficientMultiheadAttention for m in model.modules()
               if isinstance(m, EfficientMultiheadAttention))
    assert set_fused_attention(torch.nn.Linear(2, 2), True) == 0


def test_fallback_for_other_attention_variants_is_exact():
    """Variants SDPA is not written for (here add_zero_attn) go through
    nn.MultiheadAttention with need_weights=False: still the same outputs."""
    stock, fused = _pair(MULTIHEAD)
    for model in (stock, fused):
        for m in model.modules():
            if isinstance(m, torch.nn.MultiheadAttention):
                m.add_zero_attn = True
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert _max_diff(stock.eval()(x), fused.eval()(x)) <= TOL


def test_attention_dropout_is_applied_in_training_only():
    cfg = dict(MULTIHEAD, attn_drop_rate=0.5)
    stock, fused = _pair(cfg)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        fused.train()
        a, b = fused(x)[0], fused(x)[0]
        assert not torch.allclose(a, b)  # dropout draws differ
        assert _max_diff(stock.eval()(x), fused.eval()(x)) <= TOL


def test_bf16_autocast_runs_and_stays_close():
    """The GPU path (autocast bfloat16) is the same code; check it on CPU."""
    stock, fused = _pair(MULTIHEAD)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = stock.eval()(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            low = fused.eval()(x)
    assert all(t.dtype == torch.bfloat16 for t in low)
    assert all(torch.isfinite(t).all() for t in low)
    scale = max(float(t.abs().max()) for t in ref)
    assert _max_diff(ref, [t.float() for t in low]) <= 0.1 * scale
