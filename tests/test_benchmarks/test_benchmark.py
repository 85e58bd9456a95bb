"""tools/analysis_tools/benchmark.py and its library: ratios from one run, JSON, never NaN."""
from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from benchmarks.speed import inference as bm_inference
from benchmarks.speed import pipeline as bm_pipeline
from benchmarks.speed import timing as bm_timing
from helpers import TINY_MIT, load_tool, run_tool

TINY_CONFIG = '''
default_scope = 'mmseg'
custom_imports = dict(imports=['allidb_mmseg.datasets', 'allidb_mmseg.models'],
                      allow_failed_imports=False)
crop_size = (64, 64)
data_root = 'no/such/dir'
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                           seg_pad_val=255, size_divisor=32),
    backbone=dict({backbone!r}, type='FusedMixVisionTransformer'),
    decode_head=dict(type='SegformerHead', in_channels=[8, 8, 8, 8],
                     in_index=[0, 1, 2, 3], channels=8, num_classes=2,
                     norm_cfg=dict(type='SyncBN', requires_grad=True),
                     loss_decode=dict(type='CrossEntropyLoss')),
    train_cfg=dict(), test_cfg=dict(mode='whole'))
load = dict(type='CachedCompose', transforms=[
    dict(type='LoadImageFromFileFast', target_scale=crop_size),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='Resize', scale=crop_size, keep_ratio=False)])
view = dict(type='ALLIDBDataset', data_root=data_root,
            data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'))
flip = dict(type='Albu', keymap={{'img': 'image', 'gt_seg_map': 'mask'}},
            transforms=[dict(type='VerticalFlip', p=0.5)])
train_dataloader = dict(batch_size=2, num_workers=0, dataset=dict(
    type='ConcatDataset', datasets=[
        dict(view, pipeline=[load, dict(type='PackSegInputs')]),
        dict(view, pipeline=[load, flip, dict(type='PackSegInputs')])]))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=6e-5))
'''


@pytest.fixture(scope='module')
def tiny_setup(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny config and a 3-image *test* split of 320x240 JPEG fields."""
    d = tmp_path_factory.mktemp('bench')
    cfg = d / 'tiny_cfg.py'
    cfg.write_text(TINY_CONFIG.format(backbone=TINY_MIT))
    rng = np.random.default_rng(0)
    for sub in ('img_dir/test', 'ann_dir/test'):
        (d / 'data' / sub).mkdir(parents=True)
    for i in range(3):
        img = np.full((240, 320, 3), 205, np.uint8)
        mask = np.zeros((240, 320), np.uint8)
        c = (int(rng.integers(60, 260)), int(rng.integers(60, 180)))
        cv2.circle(img, c, 30, (140, 50, 100), -1)
        cv2.circle(mask, c, 30, 1, -1)
        cv2.imwrite(str(d / 'data/img_dir/test' / f'im{i}.jpg'), img)
        cv2.imwrite(str(d / 'data/ann_dir/test' / f'im{i}.png'), mask)
    return cfg, d / 'data'


def _run(*args: str) -> subprocess.CompletedProcess:
    return run_tool('analysis_tools/benchmark', *args)


def _main(capsys, *args: str) -> tuple[int, str]:
    """The CLI in this process (fast), for the error paths: (exit code, stderr)."""
    code = load_tool('analysis_tools/benchmark').main(list(args))
    return code, capsys.readouterr().err


def test_ratio_and_json_guards():
    assert bm_timing.ratio(6.0, 3.0) == 2.0
    for num, den in ((1.0, 0.0), (1.0, None), (None, 1.0), (float('nan'), 1.0),
                     (1.0, float('inf')), (1.0, -2.0)):
        assert bm_timing.ratio(num, den) is None
    clean = bm_timing.finite_or_none({'a': [1.0, float('nan')], 'b': {'c': float('inf')}})
    assert clean == {'a': [1.0, None], 'b': {'c': None}}


def test_time_calls_interleaves_and_never_returns_empty():
    order: list[str] = []
    times, outs = bm_timing.time_calls({'a': lambda: order.append('a') or 1,
                                 'b': lambda: order.append('b') or 2},
                                iters=0, warmup=0)
    assert len(times['a']) == len(times['b']) == 1 and outs == {'a': 1, 'b': 2}
    order.clear()
    bm_timing.time_calls({'a': lambda: order.append('a'), 'b': lambda: order.append('b')},
                  iters=3, warmup=1)
    assert order == ['a', 'b', 'a', 'b', 'b', 'a', 'a', 'b']


def test_naive_pipeline_undoes_shortcuts():
    fast = [dict(type='CachedCompose', transforms=[
        dict(type='LoadImageFromFileFast', target_scale=(128, 128)),
        dict(type='LoadAnnotations')]), dict(type='PackSegInputs')]
    assert bm_pipeline.naive_pipeline(fast) == [dict(type='LoadImageFromFile'),
                                       dict(type='LoadAnnotations'),
                                       dict(type='PackSegInputs')]


def test_stock_attention_memory_estimate_matches_real_weights():
    """The OOM guard's estimate equals the attention weights stock MiT builds."""
    from mmseg.models.backbones.mit import MixVisionTransformer
    kw = {k: v for k, v in TINY_MIT.items() if k != 'type'}
    model = MixVisionTransformer(**dict(kw, num_heads=[1, 2, 1, 2])).eval()
    seen = []
    hooks = [m.attn.register_forward_hook(
        lambda mod, inp, out: seen.append(2 * mod.num_heads * out[1].numel() * 4))
        for m in model.modules() if hasattr(m, 'sr_ratio')]
    with torch.no_grad():
        model(torch.zeros(1, 3, 70, 90))
    for h in hooks:
        h.remove()
    assert len(seen) == 4
    assert bm_inference.stock_attention_bytes(model, (70, 90), torch.float32) == max(seen)
    # MiT-B0 on a full 2592x1944 field: the number the CLI warns about
    b0 = MixVisionTransformer(embed_dims=32, num_heads=[1, 2, 5, 8],
                              num_layers=[1, 1, 1, 1])
    assert bm_inference.stock_attention_bytes(b0, (1944, 2592), torch.float32) == \
        2 * 648 * 486 * 81 * 60 * 4


def test_cli_quick_writes_json_and_table(tiny_setup, tmp_path):
    cfg, data = tiny_setup
    out = tmp_path / 'bench.json'
    r = _run(str(cfg), '--data-root', str(data), '--quick', '--threads', '1',
             '--out', str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'nan' not in r.stdout.lower()
    res = json.loads(out.read_text())
    inf, tr, pl = res['inference'], res['training'], res['pipeline']
    assert res['attention_modules'] == 4
    assert inf['input_hw'] == [32, 32]  # 0.1 of 240x320, clamped to >= 32
    assert inf['fp32']['max_abs_diff'] <= 1e-5
    assert len(inf['fp32']['stock_times_ms']) == res['iters'] >= 1
    # 3 images x 2 views, cycled: cold pass = one epoch, warm repeats it
    assert pl['split'] == 'test' and pl['dataset_len'] == 6
    for value in (inf['fp32']['speedup'], tr['fp32']['speedup'],
                  tr['fp32']['fused_img_per_s'], pl['speedup_warm'],
                  pl['speedup_cold'], pl['naive']['samples_per_s']):
        assert value is not None and math.isfinite(value) and value > 0
    assert '| data pipeline, later epochs' in r.stdout
    assert r.stdout.startswith('| measurement |')


def test_cli_bad_input_is_one_line_error(tiny_setup, tmp_path, capsys):
    cfg, data = tiny_setup
    out = tmp_path / 'x.json'
    cases = [
        ((str(tmp_path / 'missing.py'), '--out', str(out)),
         f'error: {tmp_path / "missing.py"}: config file not found'),
        ((str(cfg), '--out', str(out)),  # the config's own data root is absent
         'error: no/such/dir: data root is not a directory'),
        ((str(cfg), '--data-root', str(tmp_path), '--out', str(out)),
         f'error: {tmp_path}: no image/mask pairs'),
        ((str(cfg), str(tmp_path / 'no.pth'), '--data-root', str(data)),
         f'error: {tmp_path / "no.pth"}: checkpoint not found'),
    ]
    for args, start in cases:
        code, err = _main(capsys, *args)
        assert code == 2 and err.startswith(start) and err.count('\n') == 1, err
    # an existing output is never overwritten silently
    out.write_text('{}')
    code, err = _main(capsys, str(cfg), '--data-root', str(data), '--out', str(out))
    assert code == 2 and err == f'error: {out}: exists (use --force to overwrite)\n'
    assert out.read_text() == '{}'


def _tiny_cfg_and_pair(cfg_path: Path):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import allidb_mmseg.models  # noqa: F401  (registers the fused modules)
    init_default_scope('mmseg')
    cfg = Config.fromfile(str(cfg_path))
    stock, fused, _ = bm_inference.build_model_pair(cfg, None, torch.device('cpu'))
    return cfg, stock, fused


def test_model_pair_is_mmseg_stock_against_ours(tiny_setup):
    from allidb_mmseg.models import FusedSegformerHead
    from allidb_mmseg.models.fused_mit import FusedEfficientMultiheadAttention
    from mmseg.models.backbones.mit import EfficientMultiheadAttention
    from mmseg.models.decode_heads import SegformerHead

    _, stock, fused = _tiny_cfg_and_pair(tiny_setup[0])  # the config names SegformerHead
    assert type(stock.decode_head) is SegformerHead
    assert type(fused.decode_head) is FusedSegformerHead
    kinds = {type(m) for m in stock.modules() if isinstance(m, EfficientMultiheadAttention)}
    assert kinds == {EfficientMultiheadAttention}
    kinds = {type(m) for m in fused.modules() if isinstance(m, EfficientMultiheadAttention)}
    assert kinds == {FusedEfficientMultiheadAttention}
    a, b = stock.state_dict(), fused.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_training_options_keep_the_first_step(tiny_setup):
    from benchmarks.speed import training as bm_training

    cfg, _, fused = _tiny_cfg_and_pair(tiny_setup[0])
    n = torch.get_num_threads()
    res = bm_training.bench_training_options(cfg, fused, 2, 1, 1,
                                             ['channels_last', 'one_thread'])
    assert torch.get_num_threads() == n  # restored after every step
    for name in ('channels_last', 'one_thread'):
        e = res[name]
        assert e['ratio'] is not None and math.isfinite(e['ratio']) and e['ratio'] > 0
        assert e['first_loss_diff'] is not None and e['first_loss_diff'] < 1e-5, name
    with pytest.raises(ValueError, match='unknown training option'):
        bm_training.bench_training_options(cfg, fused, 2, 1, 1, ['fast'])


def test_loader_workers_times_each_count(tiny_setup):
    from benchmarks.speed import training as bm_training

    cfg_path, data = tiny_setup
    cfg, _, fused = _tiny_cfg_and_pair(cfg_path)
    ds = bm_pipeline.train_dataset_cfg(cfg, str(data), 'test')
    res = bm_training.bench_loader_workers(cfg, fused, ds, [0, 1], batch=2, steps=1,
                                           warm_steps=1, rounds=1)
    assert res['configured_workers'] == 0 and res['dataset_len'] == 6
    assert set(res['workers']) == {'0', '1'}
    assert res['ratio_vs_configured']['0'] == 1.0
    r1 = res['ratio_vs_configured']['1']
    assert r1 is not None and math.isfinite(r1) and r1 > 0
    assert all(len(e['block_img_per_s']) == 1 for e in res['workers'].values())


def test_cli_unknown_training_option_is_one_line_error(tiny_setup, tmp_path, capsys):
    cfg, data = tiny_setup
    code, err = _main(capsys, str(cfg), '--data-root', str(data), '--train-options',
                      'channels_last,turbo', '--out', str(tmp_path / 'o.json'))
    assert code == 2 and err == ('error: --train-options: unknown turbo (choose from '
                                 'channels_last, one_thread, bf16, compile)\n'), err
