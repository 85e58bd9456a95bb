"""Each workaround in allidb_mmseg.compat, and a test that fails without it."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

from allidb_mmseg import compat  # applies the workarounds
from helpers import TINY_MIT, run_py


def test_mmseg_models_import_on_mmcv_lite():
    r = run_py('import allidb_mmseg.compat, mmseg.models; '
               'from allidb_mmseg import compat; print(compat.ext_stub_installed())')
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == 'True'


def test_mmseg_models_import_fails_without_stub():
    """Shows the stub is needed at all: bare mmseg import breaks on mmcv-lite."""
    r = run_py('import mmseg.models')
    assert r.returncode != 0
    assert "No module named 'mmcv._ext'" in r.stderr


def test_stub_keeps_mmcv_full_available_false():
    from mmengine.utils.dl_utils import mmcv_full_available
    assert compat.ext_stub_installed()
    assert mmcv_full_available() is False


def test_stub_op_error_names_op_and_fix():
    import mmcv.ops  # noqa: F401  (must import through the stub)
    from mmcv.utils import ext_loader
    ext = ext_loader.load_ext('_ext', ['nms'])
    with pytest.raises(NotImplementedError, match=r"'nms'.*full mmcv"):
        ext.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)


def test_stub_not_installed_when_real_ext_importable(tmp_path: Path):
    """Simulate full mmcv: a real importable mmcv._ext module on mmcv's path."""
    fake = tmp_path / 'fakeext'
    fake.mkdir()
    (fake / '_ext.py').write_text(
        'REAL = True\n'
        'def __getattr__(name):\n'
        '    if name.startswith("__"):\n'
        '        raise AttributeError(name)\n'
        '    return lambda *args, **kwargs: None\n')
    code = textwrap.dedent(f"""
        import mmcv
        mmcv.__path__.append({str(fake)!r})
        from allidb_mmseg import compat
        import mmcv._ext
        print(compat.ext_stub_installed(), getattr(mmcv._ext, 'REAL', False))
    """)
    r = run_py(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ['False', 'True']


def _tiny_runner_cfg(data_root: Path, work_dir: Path, max_iters: int) -> dict:
    from mmengine.config import ConfigDict
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                dict(type='PackSegInputs')]
    dataset = dict(type='BaseSegDataset', data_root=str(data_root),
                   metainfo=dict(classes=('background', 'lymphoblast'),
                                 palette=[[0, 0, 0], [255, 0, 0]]),
                   img_suffix='.png', seg_map_suffix='.png',
                   reduce_zero_label=False, pipeline=pipeline)
    loader = lambda split, shuffle: dict(  # noqa: E731
        batch_size=2, num_workers=0,
        sampler=dict(type='InfiniteSampler' if shuffle else 'DefaultSampler',
                     shuffle=shuffle),
        dataset=dict(dataset, data_prefix=dict(img_path=f'img_dir/{split}',
                                               seg_map_path=f'ann_dir/{split}')))
    return ConfigDict(
        default_scope='mmseg', work_dir=str(work_dir),
        model=dict(
            type='EncoderDecoder',
            data_preprocessor=dict(type='SegDataPreProcessor', size=(32, 32),
                                   mean=[123.675, 116.28, 103.53],
                                   std=[58.395, 57.12, 57.375], bgr_to_rgb=True,
                                   pad_val=0, seg_pad_val=255),
            backbone=TINY_MIT,
            decode_head=dict(type='SegformerHead', in_channels=[8, 8, 8, 8],
                             in_index=[0, 1, 2, 3], channels=8, num_classes=2,
                             dropout_ratio=0.0, norm_cfg=dict(type='BN'),
                             align_corners=False,
                             loss_decode=dict(type='CrossEntropyLoss',
                                              loss_weight=1.0)),
            test_cfg=dict(mode='whole')),
        train_dataloader=loader('train', True),
        val_dataloader=loader('val', False), test_dataloader=loader('val', False),
        val_evaluator=dict(type='IoUMetric', iou_metrics=['mIoU']),
        test_evaluator=dict(type='IoUMetric', iou_metrics=['mIoU']),
        optim_wrapper=dict(type='OptimWrapper',
                           optimizer=dict(type='AdamW', lr=1e-3)),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters,
                       val_interval=1000),
        val_cfg=dict(type='ValLoop'), test_cfg=dict(type='TestLoop'),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2),
            logger=dict(type='LoggerHook', interval=1, log_metric_by_epoch=False)),
        log_level='WARNING', env_cfg=dict(dist_cfg=dict(backend='gloo')),
        randomness=dict(seed=0))


def test_runner_checkpoint_resume_and_test_load(tiny_seg_root: Path, tmp_path: Path):
    """A checkpoint written by mmengine's Runner resumes and loads for testing."""
    from mmengine.runner import Runner
    work = tmp_path / 'work'
    Runner.from_cfg(_tiny_runner_cfg(tiny_seg_root, work, 2)).train()
    ckpt = work / 'iter_2.pth'
    assert ckpt.is_file()

    cfg = _tiny_runner_cfg(tiny_seg_root, work, 4)
    cfg.resume, cfg.load_from = True, str(ckpt)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 4          # resumed at 2, not restarted at 0
    assert (work / 'iter_4.pth').is_file()

    cfg = _tiny_runner_cfg(tiny_seg_root, tmp_path / 'test', 4)
    cfg.load_from = str(work / 'iter_4.pth')
    metrics = Runner.from_cfg(cfg).test()
    assert 'mIoU' in metrics

    # Without the allowlist torch's default refuses mmengine's own checkpoint:
    # the workaround above is what made resume and test work.
    r = run_py(f'import torch; torch.load({str(ckpt)!r}, map_location="cpu")')
    assert r.returncode != 0 and 'Weights only load failed' in r.stderr
    # A fresh process (no HistoryBuffer built yet, as in inference) loads it.
    r = run_py(f'import allidb_mmseg.compat, torch; '
               f'torch.load({str(ckpt)!r}, map_location="cpu")')
    assert r.returncode == 0, r.stderr
    # ...while anything outside the allowlist is still refused with it,
    # including a getattr that reaches past HistoryBuffer's statistics.
    r = run_py(textwrap.dedent(f"""
        import allidb_mmseg.compat, os, torch
        from mmengine.logging import HistoryBuffer
        class Sneaky:
            def __reduce__(self):
                return getattr, (HistoryBuffer, '__init__')
        for i, obj in enumerate([os.getcwd, Sneaky()]):
            path = {str(tmp_path)!r} + f'/evil{{i}}.pth'
            torch.save({{'x': obj}}, path)
            try:
                torch.load(path)
                print('loaded')
            except Exception as e:
                print('refused')
    """))
    assert r.stdout.split() == ['refused', 'refused'], r.stderr
