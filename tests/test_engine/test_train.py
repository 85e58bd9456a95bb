"""Real mmengine Runner training of the four configs on tiny synthetic data."""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from allidb_mmseg.engine import config as engine_config
from allidb_mmseg.engine import runner as engine_runner
from helpers import (CONFIGS, REPO, TINY_MIT, load_tool, small_options,
                     tiny_config_file)

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def read_scalars(work_dir: Path) -> list[dict]:
    """The newest run's vis_data/scalars.json (one JSON object per line)."""
    runs = sorted(p for p in work_dir.iterdir() if p.is_dir()
                  and (p / 'vis_data' / 'scalars.json').exists())
    lines = (runs[-1] / 'vis_data' / 'scalars.json').read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize('name', CONFIGS)
def test_config_trains_with_mmengine_runner(name, jpg_data_root, tmp_path):
    # The real MiT-B0 of each config, 2 iterations on tiny data.
    cfg = engine_config.prepare_train_config(
        str(REPO / 'configs' / f'{name}.py'), cfg_options=small_options(),
        data_root=str(jpg_data_root), work_dir=str(tmp_path / 'work'))
    result = engine_runner.train(cfg)
    assert result['last_iter'] == 2
    work = tmp_path / 'work'
    assert (work / 'iter_2.pth').exists()
    assert result['best_checkpoint'] and Path(result['best_checkpoint']).exists()
    assert 0 <= result['best_mIoU'] <= 100
    scalars = read_scalars(work)
    losses = [s['loss'] for s in scalars if 'loss' in s]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    # A plain view, plus an augmented one for *_aug.
    assert len(cfg.train_dataloader.dataset.datasets) == \
        (2 if name.endswith('_aug') else 1)
    # Our hook drew the curves from the per-iteration losses (the logger
    # shows their running mean).
    curves = json.loads((work / 'training_curves.json').read_text())
    assert [it for it, _ in curves['loss']] == [1, 2]
    raw = [v for _, v in curves['loss']]
    assert raw[0] == pytest.approx(losses[0], abs=1e-3)
    assert sum(raw) / 2 == pytest.approx(losses[1], abs=1e-3)
    assert curves['val_mIoU'][-1][0] == 2
    assert (work / 'training_curves.png').stat().st_size > 1000
    log = next(work.glob('*/*.log')).read_text()
    assert 'No pretrained MiT weights given: training from scratch' in log


def test_aug_view_doubles_the_training_set(jpg_data_root):
    from mmengine.config import Config
    from mmseg.registry import DATASETS
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    sizes = {}
    for name in ('segformer_allidb_128', 'segformer_allidb_128_aug'):
        cfg = Config.fromfile(str(REPO / 'configs' / f'{name}.py'))
        engine_config.set_data_root(cfg, str(jpg_data_root))
        ds = DATASETS.build(cfg.train_dataloader.dataset)
        sizes[name] = len(ds)
        sample = ds[0]
        assert tuple(sample['inputs'].shape) == (3, 128, 128)
        assert set(sample['data_samples'].gt_sem_seg.data.unique().tolist()) \
            <= {0, 1}
    assert sizes['segformer_allidb_128'] == 3
    assert sizes['segformer_allidb_128_aug'] == 6
    # The second half is augmented: flips/rotations/colour change the pixels.
    changed = sum(
        not torch.equal(ds[i]['inputs'], ds[i + 3]['inputs'])
        for i in range(3) for _ in range(2))
    assert changed >= 4


def test_resume_continues_at_the_saved_iteration(jpg_data_root, tmp_path):
    work = tmp_path / 'work'
    config = str(REPO / 'configs' / 'segformer_allidb_128.py')
    first = engine_config.prepare_train_config(
        config, cfg_options=small_options(2, tiny=True),
        data_root=str(jpg_data_root), work_dir=str(work))
    assert engine_runner.train(first)['last_iter'] == 2
    opts = small_options(4, tiny=True)
    opts['default_hooks.checkpoint.interval'] = 2
    train = load_tool('train')
    argv = [config, '--work-dir', str(work), '--data-root', str(jpg_data_root),
            '--resume', '--cfg-options'] + [f'{k}={v}' for k, v in
                                            opts.items()]
    assert train.main([a.replace(' ', '') for a in argv]) == 0
    # The resumed run trained iterations 3 and 4 only.
    steps = [s['step'] for s in read_scalars(work) if 'loss' in s]
    assert steps == [3, 4]
    ckpt = torch.load(work / 'iter_4.pth', weights_only=False)  # our own file
    assert ckpt['meta']['iter'] == 4
    curves = json.loads((work / 'training_curves.json').read_text())
    assert [it for it, _ in curves['loss']] == [1, 2, 3, 4]


def test_pretrained_weights_are_loaded_into_the_backbone(jpg_data_root, tmp_path):
    from mmengine.runner import Runner
    from mmseg.models.backbones import MixVisionTransformer

    ref = MixVisionTransformer(**{k: v for k, v in TINY_MIT.items()
                                  if k != 'type'})
    with torch.no_grad():
        for p in ref.parameters():
            p.fill_(0.125)
    weights = tmp_path / 'mit_tiny.pth'
    torch.save({'state_dict': ref.state_dict()}, weights)
    cfg = engine_config.prepare_train_config(
        str(REPO / 'configs' / 'segformer_allidb_128.py'),
        cfg_options=small_options(tiny=True), data_root=str(jpg_data_root),
        work_dir=str(tmp_path / 'work'), pretrained=str(weights))
    runner = Runner.from_cfg(cfg)
    runner.model.init_weights()
    got = runner.model.backbone.state_dict()
    assert all(torch.equal(got[k], v) for k, v in ref.state_dict().items())


def test_train_tool_reports_bad_paths_in_one_line(tmp_path, capsys):
    train = load_tool('train')
    missing = tmp_path / 'nope.py'
    assert train.main([str(missing)]) == 2
    assert capsys.readouterr().err.strip() == \
        f'error: {missing}: config file not found'
    cfg = str(REPO / 'configs' / 'segformer_allidb_128.py')
    assert train.main([cfg, '--data-root', str(missing)]) == 2
    assert capsys.readouterr().err.strip() == \
        f'error: {missing}: data root is not a directory'
    assert train.main([cfg, '--pretrained', str(missing), '--data-root',
                       str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f'error: {missing}: pretrained weights file not found (give a local '
        'file, an http(s) URL, or a short name: mit_b0, mit_b1, mit_b2, '
        'mit_b3, mit_b4, mit_b5)')
    # A data root without the converted splits, and one with an empty split.
    assert train.main([cfg, '--data-root', str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'error: {tmp_path}/img_dir/train: no such split folder')
    assert '\n' not in err
    for split in ('train', 'val'):
        (tmp_path / 'img_dir' / split).mkdir(parents=True)
    assert train.main([cfg, '--data-root', str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == \
        f'error: {tmp_path}/img_dir/train: split folder holds no images'


def test_train_refuses_a_work_dir_with_checkpoints(jpg_data_root, tmp_path, capsys):
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'iter_10.pth').write_bytes(b'an earlier run')
    cfg = str(REPO / 'configs' / 'segformer_allidb_128.py')
    argv = [cfg, '--data-root', str(jpg_data_root), '--work-dir', str(work)]
    assert load_tool('train').main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'error: {work}: holds checkpoints of an earlier run')
    assert (work / 'iter_10.pth').read_bytes() == b'an earlier run'
    cfg_obj = engine_config.prepare_train_config(
        cfg, data_root=str(jpg_data_root), work_dir=str(work), force=True)
    assert cfg_obj.work_dir == str(work)


def test_test_tool_reports_a_bad_checkpoint_in_one_line(jpg_data_root, tmp_path,
                                                        capsys):
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(b'\x80\x02not a checkpoint')
    cfg = str(REPO / 'configs' / 'segformer_allidb_128.py')
    assert load_tool('test').main(
        [cfg, str(junk), '--data-root', str(jpg_data_root),
         '--work-dir', str(tmp_path / 'w')]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'error: {junk}: cannot load checkpoint: ')
    assert '\n' not in err


def test_max_iters_override_rescales_the_schedule():
    cfg = engine_config.load_config(
        str(REPO / 'configs' / 'segformer_allidb_256.py'),
        cfg_options={'train_cfg.max_iters': 344})
    warmup, poly = cfg.param_scheduler
    assert (warmup.begin, warmup.end) == (0, 20)
    assert (poly.begin, poly.end) == (20, 344)


def test_test_tool_prints_and_saves_metrics(jpg_data_root, tmp_path, capsys):
    config = str(tiny_config_file(tmp_path / 'tiny.py'))
    work = tmp_path / 'work'
    assert load_tool('train').main(
        [config, '--data-root', str(jpg_data_root), '--work-dir', str(work)]) == 0
    capsys.readouterr()
    test = load_tool('test')
    show = tmp_path / 'show'
    argv = [config, str(work / 'iter_2.pth'), '--data-root', str(jpg_data_root),
            '--work-dir', str(work), '--show-dir', str(show)]
    assert test.main(argv) == 0
    out = capsys.readouterr().out
    for key in ('aAcc', 'mIoU', 'mAcc', 'mDice', 'lymphoblast'):
        assert key in out
    report = json.loads((work / 'test_metrics.json').read_text())
    assert set(report['metrics']) == {'aAcc', 'mIoU', 'mAcc', 'mDice'}
    assert report['num_images'] == 2
    per_class = report['per_class']
    assert set(per_class) == {'background', 'lymphoblast'}
    for values in per_class.values():
        assert {'IoU', 'Acc', 'Dice'} <= set(values)
    # The summary is the class mean of the per-class values.
    ious = [v['IoU'] for v in per_class.values()]
    assert report['metrics']['mIoU'] == pytest.approx(sum(ious) / 2, abs=0.02)
    overlays = list(show.rglob('*.png'))
    assert len(overlays) == 2
    # --show-dir is a review page: prediction against label, IoU per image.
    assert f'review page: {show / "index.html"}' in out
    page = json.loads((show / 'report.json').read_text())
    assert len(page['images']) == page['summary']['images'] == 2
    for row in page['images']:
        assert row['status'] == 'ok' and (show / row['overlay']).is_file()
        union = row['tp'] + row['fp'] + row['fn']
        assert row['iou'] == (row['tp'] / union if union else None)
        label = cv2.imread(row['file'].replace('img_dir', 'ann_dir')
                           .replace('.jpg', '.png'), cv2.IMREAD_UNCHANGED)
        assert row['tp'] + row['fn'] == (label == 1).sum()
    assert page['settings']['metrics']['mIoU'] == report['metrics']['mIoU']
    # The page counts blasts by the metric's per-image minimum area.
    assert page['summary']['true_blasts'] == report['detection']['true_blasts']
    assert page['summary']['blasts'] == report['detection']['predicted_blasts']
    assert 'id="report-data"' in (show / 'index.html').read_text()
    # A second run must not overwrite the JSON silently.
    assert test.main(argv) == 2
    assert 'exists (use --force to overwrite)' in capsys.readouterr().err


def test_the_other_white_cells_config_trains_three_classes_and_predicts_two(tmp_path):
    """segformer_allidb_native_wbc: class 2 (a hand-labelled look-alike) in the
    masks and the loss, two classes out of the model and its export."""
    from allidb_mmseg.deployment import export_onnx
    from helpers import white_cell_field
    from mmengine.registry import DefaultScope
    from mmseg.registry import DATASETS

    img, centres = white_cell_field()
    for split in ('train', 'val'):
        for d in ('img_dir', 'ann_dir'):
            (tmp_path / 'data' / d / split).mkdir(parents=True)
        mask = np.zeros(img.shape[:2], np.uint8)
        cv2.circle(mask, centres[1], 40, 2, -1)  # another white cell
        cv2.circle(mask, centres[0], 40, 1, -1)  # a blast
        for name in ('f', 'g'):  # two: the stain reference needs them
            cv2.imwrite(str(tmp_path / 'data' / 'img_dir' / split / f'{name}.jpg'), img)
            cv2.imwrite(str(tmp_path / 'data' / 'ann_dir' / split / f'{name}.png'), mask)
    config = tiny_config_file(tmp_path / 'wbc.py', base='segformer_allidb_native_wbc')
    cfg = engine_config.prepare_train_config(
        str(config), cfg_options=dict(small_options(), source_rbc_px=40, working_rbc_px=16),
        data_root=str(tmp_path / 'data'), work_dir=str(tmp_path / 'work'))
    view = cfg.train_dataloader.dataset.datasets[0]
    with DefaultScope.overwrite_default_scope('mmseg'):
        whole = DATASETS.build(dict(view, pipeline=view.pipeline[:1]))[0]
    assert set(np.unique(whole['gt_seg_map'])) == {0, 1, 2}  # the label the loss sees
    result = engine_runner.train(cfg)
    assert result['last_iter'] == 2 and 0 <= result['best_mIoU'] <= 100
    doc = export_onnx(config, result['best_checkpoint'], tmp_path / 'm.onnx')
    assert doc['num_classes'] == 2 and len(doc['classes']) == 2
