"""The four configs: one base, differing only in crop size and pipelines."""
from __future__ import annotations

import copy
import textwrap
import warnings
from pathlib import Path

import pytest
from mmengine.config import Config

import allidb_mmseg
import allidb_mmseg.compat  # noqa: F401  (mmseg imports below need the shims)
from helpers import CONFIGS, REPO, jpg_seg_root, run_py, tiny_config_file
# Top-level keys that depend on the crop size or are pipelines.
CROP_OR_PIPELINE_KEYS = {'crop_size', 'resize', 'train_load', 'train_pipeline',
                         'aug_pipeline', 'test_pipeline'}


def load(name: str) -> Config:
    return Config.fromfile(str(REPO / 'configs' / f'{name}.py'),
                           import_custom_modules=False)


def without_crop_and_pipelines(cfg: Config) -> dict:
    d = copy.deepcopy(cfg.to_dict())
    for key in CROP_OR_PIPELINE_KEYS:
        d.pop(key, None)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = d[loader]['dataset']
        views = ds.get('datasets', [ds])
        for view in views:
            view.pop('pipeline', None)
        if 'datasets' in ds:
            # Views of the training set are the same dataset apart from the
            # pipeline: keep one of them.
            assert all(v == views[0] for v in views)
            ds['datasets'] = views[:1]
    return d


@pytest.fixture(autouse=True)
def no_env_overrides(monkeypatch):
    monkeypatch.delenv('ALLIDB_DATA_ROOT', raising=False)
    monkeypatch.delenv('ALLIDB_PRETRAINED', raising=False)


def test_configs_are_equal_apart_from_crop_size_and_pipelines():
    cfgs = {name: load(name) for name in CONFIGS}
    stripped = {n: without_crop_and_pipelines(c) for n, c in cfgs.items()}
    reference = stripped[CONFIGS[0]]
    for name in CONFIGS[1:]:
        assert stripped[name] == reference, name
    # ...and they do differ where they should.
    assert cfgs['segformer_allidb_128'].crop_size == (128, 128)
    assert cfgs['segformer_allidb_256_aug'].crop_size == (256, 256)
    for name, cfg in cfgs.items():
        size = int(name.split('_')[2])
        resize = cfg.test_dataloader.dataset.pipeline[1]
        assert resize == dict(type='Resize', scale=(size, size),
                              keep_ratio=False)
        views = cfg.train_dataloader.dataset.datasets
        assert len(views) == (2 if name.endswith('_aug') else 1)
        assert not any(t['type'] == 'SeededAlbu' for t in views[0].pipeline)
        if name.endswith('_aug'):
            assert [t['type'] for t in views[1].pipeline].count('SeededAlbu') == 1


def test_each_config_states_only_its_difference():
    """aug = plain + one view; 256 = 128 at another crop size; the model base
    is mmseg's own SegFormer base with only our differences."""
    def bases(name: str) -> list:
        return Config._get_base_files(str(REPO / 'configs' / f'{name}.py'))

    assert bases('segformer_allidb_128_aug') == ['./segformer_allidb_128.py']
    assert bases('segformer_allidb_256_aug') == ['./segformer_allidb_256.py']
    assert bases('segformer_allidb_256') == ['./segformer_allidb_128.py']
    assert bases('_base_/models/segformer_mit') == [
        'mmseg::_base_/models/segformer_mit-b0.py']
    ours = load('segformer_allidb_128').model.to_dict()
    import mmseg
    mmseg_base = Config.fromfile(
        Path(mmseg.__file__).parent / '.mim' / 'configs' / '_base_' / 'models'
        / 'segformer_mit-b0.py').model.to_dict()

    def leaves(d: dict, prefix: str = '') -> dict:
        out = {}
        for k, v in d.items():
            out.update(leaves(v, f'{prefix}{k}.') if isinstance(v, dict)
                       else {prefix + k: v})
        return out

    ours, theirs = leaves(ours), leaves(mmseg_base)
    ours.pop('_scope_')  # where the inherited part was read from
    changed = {k for k in ours.keys() | theirs.keys()
               if ours.get(k) != theirs.get(k)}
    # B0 without pretrained weights: everything else is mmseg's.
    assert changed == {'backbone.type', 'backbone.fused_attention', 'decode_head.type',
                       'data_preprocessor.size_divisor',
                       'decode_head.num_classes'}


def test_model_schedule_and_data_as_the_issue_specifies():
    cfg = load('segformer_allidb_128_aug')
    assert cfg.model.backbone.type == 'FusedMixVisionTransformer'
    assert cfg.model.backbone.fused_attention is True
    assert cfg.model.backbone.embed_dims == 32  # MiT-B0
    assert cfg.model.backbone.init_cfg is None
    assert cfg.model.decode_head.type == 'FusedSegformerHead'
    assert cfg.model.decode_head.num_classes == 2
    assert cfg.model.decode_head.in_channels == [32, 64, 160, 256]
    opt = cfg.optim_wrapper
    assert opt.optimizer.type == 'AdamW' and opt.optimizer.lr == 6e-5
    keys = opt.paramwise_cfg.custom_keys
    assert keys['head'] == dict(lr_mult=10.0)
    assert keys['norm'] == dict(decay_mult=0.0)
    assert keys['pos_block'] == dict(decay_mult=0.0)
    assert [s.type for s in cfg.param_scheduler] == ['LinearLR', 'PolyLR']
    assert cfg.param_scheduler[1].end == cfg.train_cfg.max_iters
    assert cfg.default_hooks.checkpoint.save_best == 'mIoU'
    assert cfg.custom_imports == dict(
        imports=list(allidb_mmseg.REGISTERING_MODULES),
        allow_failed_imports=False)
    for ds in [cfg.val_dataloader.dataset, cfg.test_dataloader.dataset,
               *cfg.train_dataloader.dataset.datasets]:
        assert ds.data_root == 'data/allidb'
    assert cfg.test_dataloader.dataset.data_prefix.img_path == 'img_dir/test'
    assert cfg.val_dataloader.dataset.data_prefix.img_path == 'img_dir/val'
    # A top-level test_pipeline, as mmseg's init_model/inference_model need.
    assert cfg.test_pipeline[0]['type'] == 'LoadImageFromFile'


def test_table1_augmentation_uses_albumentations_2_arguments():
    import numpy as np
    from mmseg.registry import TRANSFORMS
    from mmseg.utils import register_all_modules

    register_all_modules()
    allidb_mmseg.register_all_modules()
    albu = load('segformer_allidb_256_aug').table1_augmentation
    names = [t['type'] for t in albu.transforms]
    assert names == ['VerticalFlip', 'RandomRotate90', 'OneOf', 'CLAHE',
                     'RandomBrightnessContrast', 'RandomGamma']
    assert [t['type'] for t in albu.transforms[2]['transforms']] == \
        ['ElasticTransform', 'GridDistortion', 'OpticalDistortion']
    assert all('p' in t for t in albu.transforms)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        transform = TRANSFORMS.build(albu)
        rng = np.random.default_rng(0)
        for _ in range(10):
            out = transform(dict(
                img=rng.integers(0, 255, (64, 64, 3), dtype=np.uint8),
                gt_seg_map=(rng.random((64, 64)) > 0.5).astype(np.uint8),
                seg_fields=['gt_seg_map'], img_shape=(64, 64)))
            assert out['img'].shape == (64, 64, 3)
            assert set(np.unique(out['gt_seg_map'])) <= {0, 1}
    albu_warnings = [str(w.message) for w in caught
                     if 'albumentations' in w.filename
                     or 'argument' in str(w.message).lower()]
    assert albu_warnings == []


def test_environment_overrides_data_root_and_pretrained(monkeypatch,
                                                        tmp_path):
    monkeypatch.setenv('ALLIDB_DATA_ROOT', str(tmp_path / 'root'))
    monkeypatch.setenv('ALLIDB_PRETRAINED', str(tmp_path / 'mit_b0.pth'))
    cfg = load('segformer_allidb_128')
    for ds in [cfg.val_dataloader.dataset, cfg.test_dataloader.dataset,
               *cfg.train_dataloader.dataset.datasets]:
        assert ds.data_root == str(tmp_path / 'root')
    assert cfg.model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint=str(tmp_path / 'mit_b0.pth'))


def test_mit_variant_is_one_line(tmp_path):
    # Copy the configs, change only the mit_variant line, build the model.
    import shutil

    import torch
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    register_all_modules()
    allidb_mmseg.register_all_modules()
    shutil.copytree(REPO / 'configs', tmp_path / 'configs')
    model_cfg = tmp_path / 'configs' / '_base_' / 'models' / 'segformer_mit.py'
    text = model_cfg.read_text()
    assert text.count("mit_variant = 'b0'") == 1
    model_cfg.write_text(text.replace("mit_variant = 'b0'",
                                      "mit_variant = 'b2'"))
    cfg = Config.fromfile(str(tmp_path / 'configs' / 'segformer_allidb_128.py'))
    assert cfg.model.backbone.num_layers == [3, 4, 6, 3]
    model = MODELS.build(cfg.model)
    with torch.no_grad():
        out = model.eval()(torch.zeros(1, 3, 64, 64), mode='tensor')
    assert out.shape == (1, 2, 16, 16)


def test_runs_from_mmengine_runner_via_custom_imports_only(tmp_path):
    # What MMSegmentation's own tools/train.py does: Config.fromfile +
    # Runner.from_cfg, in a fresh process that imports nothing of ours.
    root = jpg_seg_root(tmp_path / 'data', {'train': 2, 'val': 1})
    config = tiny_config_file(tmp_path / 'tiny.py', max_iters=1)
    code = textwrap.dedent(f'''
        import os, sys
        os.environ['ALLIDB_DATA_ROOT'] = {str(root)!r}
        import torch
        torch.set_num_threads(1)
        from mmengine.config import Config
        from mmengine.runner import Runner
        assert 'allidb_mmseg' not in sys.modules
        cfg = Config.fromfile({str(config)!r})
        cfg.work_dir = {str(tmp_path / 'work')!r}
        Runner.from_cfg(cfg).train()
        print('DONE', sys.modules['allidb_mmseg'].__file__)
    ''')
    proc = run_py(code, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'DONE' in proc.stdout
    assert (tmp_path / 'work' / 'iter_1.pth').exists()
    assert (tmp_path / 'work' / 'training_curves.png').exists()


def test_native_config_states_only_its_difference_from_the_paper_configs():
    native, paper = load('segformer_allidb_native_aug'), load('segformer_allidb_128')
    assert Config._get_base_files(
        str(REPO / 'configs' / 'segformer_allidb_native_aug.py')) == \
        Config._get_base_files(str(REPO / 'configs' / 'segformer_allidb_128.py'))
    extra = {'working_rbc_px', 'source_rbc_px', 'rescale', 'random_crop',
             'custom_hooks'}
    a, b = without_crop_and_pipelines(native), without_crop_and_pipelines(paper)
    for d in (a, b):
        for key in extra | {'val_evaluator', 'test_evaluator'}:
            d.pop(key, None)
        d['model'].pop('test_cfg')
    assert a == b  # the loss too: cross-entropy, chosen by measurement
    # What it states: the working scale, crops, sliding windows.
    assert native.working_rbc_px > 0 and native.source_rbc_px is None
    steps = [native.test_pipeline[1],
             native.train_dataloader.dataset.datasets[0].pipeline[0].transforms[2]]
    for step in steps:
        assert step == dict(type='RescaleToWorkingScale',
                            working_rbc_px=native.working_rbc_px, source_rbc_px=None)
    crop = native.train_dataloader.dataset.datasets[1].pipeline[1]
    assert crop['type'] == 'RandomCrop' and crop['cat_max_ratio'] < 1
    test_cfg = native.model.test_cfg
    assert test_cfg.mode == 'slide' and tuple(test_cfg.crop_size) == native.crop_size
    assert all(s < c for s, c in zip(test_cfg.stride, test_cfg.crop_size))
    assert [m['type'] for m in native.test_evaluator] == \
        ['PerClassIoUMetric', 'BlastDetectionMetric']
    # The stain reference (OOD flag, --stain-normalize) is saved with it.
    assert native.custom_hooks == [*paper.custom_hooks,
                                   dict(type='StainReferenceHook')]


def test_the_other_white_cells_config_states_only_its_difference_from_native_aug():
    wbc, native = load('segformer_allidb_native_wbc'), load('segformer_allidb_native_aug')
    a, b = wbc.to_dict(), native.to_dict()
    head = a['model'].pop('decode_head')
    assert head.pop('type') == 'BackgroundSubclassHead' and head.pop('predict_classes') == 2
    assert head.pop('num_classes') == 3
    assert {k: v for k, v in b['model'].pop('decode_head').items()
            if k not in ('type', 'num_classes')} == head
    assert a == b  # nothing else: same data, crops, schedule and evaluation


def test_the_image_labelled_ablation_adds_only_the_label_step():
    auto = Config.fromfile(str(REPO / 'benchmarks' / 'configs' / 'native_wbc_auto.py'),
                           import_custom_modules=False).to_dict()
    wbc = load('segformer_allidb_native_wbc').to_dict()
    label = auto.pop('label_others')
    assert label == dict(type='LabelOtherWhiteCells', label=2)
    loads = [auto['train_load'], auto['train_pipeline'][0], auto['aug_pipeline'][0]] + [
        view['pipeline'][0] for view in auto['train_dataloader']['dataset']['datasets']]
    for load_step in loads:  # at the working scale, in the cached load
        assert load_step['transforms'].pop() == label
    assert auto == wbc


def test_scale_options_reach_every_step_that_uses_them():
    from allidb_mmseg.engine.config import load_config

    cfg = load_config(str(REPO / 'configs' / 'segformer_allidb_native_aug.py'),
                      cfg_options={'working_rbc_px': 40, 'source_rbc_px': 104})
    assert cfg.test_pipeline[1]['working_rbc_px'] == 40
    assert cfg.test_dataloader.dataset.pipeline[1]['source_rbc_px'] == 104
    for view in cfg.train_dataloader.dataset.datasets:
        assert view.pipeline[0].transforms[2]['working_rbc_px'] == 40
    assert cfg.val_evaluator[1]['source_rbc_px'] == 104
