"""A config made ready for a command line: data root, weights, resume, checks.

The configs themselves hold everything essential (they run from mmseg's own
tools too); this module adds what a command line needs: clear errors for bad
paths, ``--data-root``/``--pretrained``/``--resume``/``--amp``, and a
schedule that follows an overridden ``max_iters``.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Any, Iterator, Optional

from mmengine.config import Config

from ..utils import AllidbError, first_line, is_image_file
from .hooks import pretrained_checkpoint

__all__ = ['LOADERS', 'walk_dataset_cfg', 'iter_dataset_cfgs', 'load_config',
           'prepare_train_config', 'set_data_root', 'set_pretrained',
           'check_pretrained', 'fit_schedule_to_max_iters', 'check_split_dirs',
           'check_checkpoint', 'require_file']

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def require_file(path: str, what: str) -> None:
    """Raise an :class:`AllidbError` naming ``path`` unless it is a file."""
    if not osp.isfile(path):
        raise AllidbError(path, f'{what} not found')


def walk_dataset_cfg(ds: Any) -> Iterator[dict]:
    """A dataset dict and every dataset inside it (Concat, Repeat wrappers)."""
    if not isinstance(ds, dict):
        return
    yield ds
    for inner in ds.get('datasets', []) or []:
        yield from walk_dataset_cfg(inner)
    yield from walk_dataset_cfg(ds.get('dataset'))


def iter_dataset_cfgs(cfg: Config, loaders: tuple[str, ...] = LOADERS
                      ) -> Iterator[dict]:
    """Every dataset dict of the named dataloaders, wrappers included."""
    for key in loaders:
        loader = cfg.get(key)
        if isinstance(loader, dict):
            yield from walk_dataset_cfg(loader.get('dataset'))


def set_data_root(cfg: Config, data_root: str) -> None:
    """Point every dataset of the config at ``data_root``."""
    if not osp.isdir(data_root):
        raise AllidbError(data_root, 'data root is not a directory')
    cfg.data_root = data_root
    for ds in iter_dataset_cfgs(cfg):
        if 'data_root' in ds:
            ds['data_root'] = data_root


def set_pretrained(cfg: Config, path: str) -> None:
    """Initialise the backbone from MiT weights: a local file (mmseg key
    layout), mmseg's URL or a short name such as ``mit_b0`` (downloaded once
    into torch hub's cache; :mod:`allidb_mmseg.models.pretrained`)."""
    from ..models.pretrained import resolve_pretrained

    cfg.model.backbone.init_cfg = dict(type='Pretrained',
                                       checkpoint=resolve_pretrained(path))


def check_pretrained(cfg: Config) -> None:
    """Fail early, with the file name, when the configured weights are
    missing; a URL or short name (ALLIDB_PRETRAINED) becomes a local file."""
    ckpt = pretrained_checkpoint(cfg.model.get('backbone', {}).get('init_cfg'))
    if ckpt:
        set_pretrained(cfg, ckpt)


def fit_schedule_to_max_iters(cfg: Config, old_max_iters: int) -> None:
    """Rescale iteration-based schedulers when ``max_iters`` was overridden.

    Why: the warm-up and poly decay are written for the default max_iters;
    after ``--cfg-options train_cfg.max_iters=N`` the learning rate would not
    decay to its end. Every begin/end is scaled by N / old, so the warm-up
    keeps its share of training.
    """
    new = cfg.train_cfg.get('max_iters')
    scheds = cfg.get('param_scheduler')
    if not new or not old_max_iters or new == old_max_iters or not scheds:
        return
    if isinstance(scheds, dict):
        scheds = [scheds]
    kept = []
    for sched in scheds:
        if not sched.get('by_epoch', True):
            for key in ('begin', 'end'):
                if isinstance(sched.get(key), int):
                    sched[key] = round(sched[key] * new / old_max_iters)
            if sched.get('end', new) <= sched.get('begin', 0):
                continue  # a warm-up shrunk to nothing is dropped
        kept.append(sched)
    cfg.param_scheduler = kept


def _apply_scale_options(cfg: Config, cfg_options: dict) -> None:
    """Carry ``--cfg-options working_rbc_px=/source_rbc_px=`` into the
    pipelines and evaluators that use them (native-scale configs)."""
    from ..datasets.transforms.cell_scale import set_scale_settings

    scale = {k: cfg_options[k] for k in ('working_rbc_px', 'source_rbc_px')
             if k in cfg_options}
    if scale:
        set_scale_settings(cfg, **scale)


def _fix_worker_flags(cfg: Config) -> None:
    # torch refuses persistent_workers=True with num_workers=0.
    for key in LOADERS:
        loader = cfg.get(key)
        if isinstance(loader, dict) and loader.get('num_workers', 1) == 0:
            loader['persistent_workers'] = False


def check_split_dirs(cfg: Config, loaders: tuple[str, ...]) -> None:
    """Fail early, naming the folder, when a split the run needs is missing.

    Why: mmengine would otherwise raise deep inside dataset building (a
    FileNotFoundError traceback, or numpy's "need at least one array to
    concatenate" for an empty split).
    """
    for ds in iter_dataset_cfgs(cfg, loaders):
        img_path = (ds.get('data_prefix') or {}).get('img_path')
        if img_path is None:
            continue
        folder = osp.join(ds.get('data_root') or '', img_path)
        if not osp.isdir(folder):
            raise AllidbError(folder, 'no such split folder (convert your '
                              'data with tools/dataset_converters/'
                              'coco_to_masks.py, or give --data-root)')
        if not any(is_image_file(f)
                   for _, _, files in os.walk(folder) for f in files):
            raise AllidbError(folder, 'split folder holds no images')


def check_checkpoint(path: str) -> None:
    """Fail with one line when ``path`` is not a loadable checkpoint."""
    import torch

    require_file(path, 'checkpoint')
    try:
        torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # pickle, zip and allowlist errors alike
        raise AllidbError(path, f'cannot load checkpoint: {first_line(e)}') from e


def load_config(config: str, *, cfg_options: Optional[dict] = None,
                data_root: Optional[str] = None,
                work_dir: Optional[str] = None,
                launcher: str = 'none') -> Config:
    """Load a config and apply the options common to training and testing."""
    require_file(config, 'config file')
    if data_root is not None and not osp.isdir(data_root):
        raise AllidbError(data_root, 'data root is not a directory')
    try:
        cfg = Config.fromfile(config)
    except Exception as e:  # syntax errors, missing bases, bad imports
        raise AllidbError(config, f'cannot load config: {e}') from e
    old_max_iters = (cfg.get('train_cfg') or {}).get('max_iters')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
        _apply_scale_options(cfg, cfg_options)
    if old_max_iters:
        fit_schedule_to_max_iters(cfg, old_max_iters)
    if data_root is not None:
        set_data_root(cfg, data_root)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join(
            'work_dirs', osp.splitext(osp.basename(config))[0])
    _fix_worker_flags(cfg)
    return cfg


def prepare_train_config(config: str, *, cfg_options: Optional[dict] = None,
                         data_root: Optional[str] = None,
                         work_dir: Optional[str] = None,
                         pretrained: Optional[str] = None,
                         resume: Optional[str] = None, amp: bool = False,
                         launcher: str = 'none',
                         force: bool = False) -> Config:
    """The training config: :func:`load_config` plus weights, resume and AMP.

    Args:
        config: the config file.
        cfg_options: ``--cfg-options`` overrides.
        data_root: replaces every dataset's data root.
        work_dir: logs and checkpoints (default ``work_dirs/<config>``).
        pretrained: a local MiT checkpoint for the backbone.
        resume: None (no resume), ``'auto'`` (the latest checkpoint in the
            work dir) or a checkpoint path.
        amp: mixed precision (CUDA only).
        launcher: mmengine's launcher name.
        force: train into a work dir that holds checkpoints of an earlier
            run; without it (and without ``resume``) such a dir is refused.

    Returns:
        The config, ready for :func:`allidb_mmseg.engine.runner.train`.
    """
    cfg = load_config(config, cfg_options=cfg_options, data_root=data_root,
                      work_dir=work_dir, launcher=launcher)
    if pretrained:
        set_pretrained(cfg, pretrained)
    check_pretrained(cfg)
    loaders = ('train_dataloader',) + (
        ('val_dataloader',) if cfg.get('val_cfg') else ())
    check_split_dirs(cfg, loaders)
    if not resume and not force and osp.isdir(cfg.work_dir) and any(
            f.endswith('.pth') for f in os.listdir(cfg.work_dir)):
        raise AllidbError(cfg.work_dir, 'holds checkpoints of an earlier run; '
                          'use --resume to continue it, --force to overwrite, '
                          'or another --work-dir')
    if resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif resume:
        check_checkpoint(resume)
        cfg.resume, cfg.load_from = True, resume
    if amp:
        import torch
        if not torch.cuda.is_available():
            raise AllidbError('--amp', 'mixed precision needs a CUDA GPU')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    return cfg
