"""The stain configs train; StainReferenceHook saves the reference beside and inside checkpoints."""
from __future__ import annotations

import json

import pytest
import torch

from allidb_mmseg.smear.stain import CHECKPOINT_KEY, REFERENCE_FILENAME, StainReference
from allidb_mmseg.engine import config as engine_config
from allidb_mmseg.engine import runner as engine_runner
from allidb_mmseg.engine.stain_reference_hook import train_normalization
from helpers import REPO, small_options

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def test_stain_aug_config_trains_and_saves_its_reference(jpg_data_root, tmp_path):
    cfg = engine_config.prepare_train_config(
        str(REPO / 'configs' / 'segformer_allidb_256_stain_aug.py'),
        cfg_options=small_options(tiny=True), data_root=str(jpg_data_root),
        work_dir=str(tmp_path / 'work'))
    # One plain and one stain-augmented view of the training split.
    views = cfg.train_dataloader.dataset.datasets
    assert [t['type'] for t in views[1].pipeline][1] == 'MGGStainJitter'
    assert train_normalization(cfg) is None
    engine_runner.train(cfg)
    saved = json.loads((tmp_path / 'work' / REFERENCE_FILENAME).read_text())
    ref = StainReference.from_dict(saved)
    n_train = len(list((jpg_data_root / 'img_dir' / 'train').iterdir()))
    assert ref.num_images == n_train and ref.trained_on is None
    ckpt = torch.load(str(tmp_path / 'work' / 'iter_2.pth'), map_location='cpu',
                      weights_only=False)
    assert ckpt['meta'][CHECKPOINT_KEY] == saved


def test_a_normalizing_pipeline_becomes_the_models_reference(tmp_path):
    from mmengine.config import Config

    cfg = Config(dict(train_dataloader=dict(dataset=dict(type='ConcatDataset', datasets=[
        dict(pipeline=[dict(type='LoadImageFromFile')]),
        dict(pipeline=[dict(type='CachedCompose', transforms=[
            dict(type='StainNormalize', reference='ref.json', method='macenko')])]),
    ]))))
    assert train_normalization(cfg) == dict(type='StainNormalize', reference='ref.json',
                                            method='macenko')
