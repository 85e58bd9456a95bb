"""A config made ready for a command line: data root, weights, resume, checks.

The configs hold everything essential (they run from mmseg's own tools too);
this adds one-line errors for bad input and a schedule that follows an
overridden ``max_iters``.
"""
from __future__ import annotations

import numbers
import os
import os.path as osp
from typing import Any, Iterator, Optional

from mmengine.config import Config

from ..datasets.validate import validate_split
from ..models.checkpoint import (check_pretrained_backbone, check_resumable,
                                 find_resumable, model_of_config, saved_checkpoints)
from ..models.pretrained import resolve_pretrained
from ..smear.cell_scale import set_scale_settings
from ..utils import AllidbError, check_writable_dir, is_image_file
from .hooks import pretrained_checkpoint

__all__ = ['LOADERS', 'walk_dataset_cfg', 'iter_dataset_cfgs', 'load_config',
           'prepare_train_config', 'set_data_root', 'set_pretrained',
           'check_pretrained', 'fit_schedule_to_max_iters', 'check_split_dirs',
           'check_data', 'check_cfg_options', 'resolve_resume']

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# A LinearLR warm-up shorter than this never ramps: mmengine's LinearLR
# reaches its end factor at its last iteration, and with one iteration that
# is its first, so the learning rate would stay at start_factor for good.
MIN_WARMUP_ITERS = 2
# --cfg-options values that must be whole numbers, with their minimum.
_WHOLE_NUMBER_OPTIONS = {
    'train_cfg.max_iters': 1, 'train_cfg.max_epochs': 1,
    'train_cfg.val_interval': 1, 'train_cfg.val_begin': 0,
    'default_hooks.logger.interval': 1,
    'default_hooks.checkpoint.max_keep_ckpts': -1,
    'randomness.seed': 0,
    **{f'{loader}.batch_size': 1 for loader in LOADERS},
    **{f'{loader}.num_workers': 0 for loader in LOADERS},
}
# -1 is mmengine's "never" for a checkpoint interval.
_INTERVAL_OPTIONS = ('default_hooks.checkpoint.interval',)
_POSITIVE_NUMBER_OPTIONS = ('optim_wrapper.optimizer.lr',)


def walk_dataset_cfg(ds: Any) -> Iterator[dict]:
    """A dataset dict and every dataset inside it (Concat, Repeat wrappers)."""
    if not isinstance(ds, dict):
        return
    yield ds
    for inner in ds.get('datasets', []) or []:
        yield from walk_dataset_cfg(inner)
    yield from walk_dataset_cfg(ds.get('dataset'))


def iter_dataset_cfgs(cfg: Config, loaders: tuple[str, ...] = LOADERS) -> Iterator[dict]:
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
    """Initialise the backbone from MiT weights: a local file, mmseg's URL or
    a short name such as ``mit_b0`` (:mod:`allidb_mmseg.models.pretrained`)."""
    ckpt = resolve_pretrained(path)  # an existing file, else it raised
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=ckpt)


def check_pretrained(cfg: Config) -> None:
    """Fail early, in one line, when the configured backbone weights are
    missing or do not fill the backbone (wrong layout, another variant).

    A URL or short name (``ALLIDB_PRETRAINED``) becomes a local file first.
    A full segmentor checkpoint is accepted: its ``backbone.*`` tensors are
    used (the init_cfg gets ``prefix='backbone.'``).
    """
    ckpt = pretrained_checkpoint(cfg.model.get('backbone', {}).get('init_cfg'))
    if not ckpt:
        return
    set_pretrained(cfg, ckpt)
    ckpt = cfg.model.backbone.init_cfg['checkpoint']
    match = check_pretrained_backbone(model_of_config(cfg).backbone, ckpt)
    if match.prefix:
        cfg.model.backbone.init_cfg['prefix'] = match.prefix


def check_cfg_options(cfg_options: Optional[dict]) -> None:
    """One-line errors for ``--cfg-options`` values a run cannot use.

    mmengine takes ``train_cfg.max_iters=abc`` as the string ``'abc'``
    (a traceback later) and ``=-5`` as a run of no iterations that exits 0.
    """
    for key, value in (cfg_options or {}).items():
        number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        whole = number and isinstance(value, numbers.Integral)
        low = _WHOLE_NUMBER_OPTIONS.get(key)
        if low is not None and not (whole and value >= low):
            rule = f'must be a whole number >= {low}'
        elif key in _INTERVAL_OPTIONS and not (whole and (value >= 1 or value == -1)):
            rule = 'must be a whole number >= 1 (or -1: never)'
        elif key in _POSITIVE_NUMBER_OPTIONS and not (number and 0 < value < float('inf')):
            rule = 'must be a number > 0'
        else:
            continue
        raise AllidbError(f'--cfg-options {key}={value!r}', rule)


def fit_schedule_to_max_iters(cfg: Config, old_max_iters: int) -> None:
    """Rescale iteration-based schedulers when ``max_iters`` was overridden.

    Why: the warm-up and poly decay are written for the default max_iters;
    after ``--cfg-options train_cfg.max_iters=N`` the learning rate would not
    decay to its end. Every begin/end is scaled by N / old, so the warm-up
    keeps its share of training, but at least :data:`MIN_WARMUP_ITERS`; a
    one-iteration run gets none and runs at the configured lr.
    """
    new = cfg.train_cfg.get('max_iters')
    scheds = cfg.get('param_scheduler')
    if not new or not old_max_iters or new == old_max_iters or not scheds:
        return
    if isinstance(scheds, dict):
        scheds = [scheds]
    for sched in scheds:
        if not sched.get('by_epoch', True):
            for key in ('begin', 'end'):
                if isinstance(sched.get(key), int):
                    sched[key] = round(sched[key] * new / old_max_iters)
    for warm in scheds:
        if warm.get('type') != 'LinearLR' or warm.get('by_epoch', True):
            continue
        begin, end = warm.get('begin', 0), warm.get('end', new)
        length = 0 if new - begin < MIN_WARMUP_ITERS else max(end - begin, MIN_WARMUP_ITERS)
        new_end = min(begin + length, new)
        if new_end != end:  # what followed the warm-up now starts where it ends
            warm['end'] = new_end
            for other in scheds:
                if other is not warm and other.get('begin') == end:
                    other['begin'] = new_end
    cfg.param_scheduler = [
        s for s in scheds
        if s.get('by_epoch', True) or s.get('end', new) > s.get('begin', 0)]


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
        if not any(is_image_file(f) for _, _, files in os.walk(folder) for f in files):
            raise AllidbError(folder, 'split folder holds no images')


def check_data(cfg: Config, loaders: tuple[str, ...], validate: bool = True) -> None:
    """Check the splits a run needs before the Runner starts.

    :func:`check_split_dirs` always; with ``validate`` also every image/mask
    pair (:func:`allidb_mmseg.datasets.validate.validate_split`).
    """
    check_split_dirs(cfg, loaders)
    if not validate:
        return
    seen = set()
    num_classes = max(2, int(cfg.get('model', {}).get('decode_head', {}).get('num_classes', 2)))
    for ds in iter_dataset_cfgs(cfg, loaders):
        prefix = ds.get('data_prefix') or {}
        if prefix.get('img_path') is None or prefix.get('seg_map_path') is None:
            continue
        root = ds.get('data_root') or ''
        folders = (osp.join(root, prefix['img_path']), osp.join(root, prefix['seg_map_path']))
        if folders not in seen:
            seen.add(folders)
            validate_split(*folders, seg_suffix=ds.get('seg_map_suffix', '.png'),
                           num_classes=num_classes)


def resolve_resume(work_dir: str, resume: str) -> str:
    """The checkpoint ``--resume`` continues: ``resume`` itself, or for
    ``'auto'`` the newest complete one in ``work_dir``.

    Raises:
        AllidbError: nothing to resume, or a checkpoint with no training
            state (weights only).
    """
    if resume == 'auto':
        found = find_resumable(work_dir)
        if found is None:
            raise AllidbError(work_dir, 'no checkpoint to resume here (train '
                              'without --resume to start a new run, or give '
                              '--resume CHECKPOINT)')
        return found  # find_resumable checked it
    check_resumable(resume)
    return resume


def load_config(config: str, *, cfg_options: Optional[dict] = None,
                data_root: Optional[str] = None,
                work_dir: Optional[str] = None,
                launcher: str = 'none') -> Config:
    """Load a config and apply the options common to training and testing."""
    if not osp.isfile(config):
        raise AllidbError(config, 'config file not found')
    if data_root is not None and not osp.isdir(data_root):
        raise AllidbError(data_root, 'data root is not a directory')
    check_cfg_options(cfg_options)
    try:
        cfg = Config.fromfile(config)
    except Exception as e:  # syntax errors, missing bases, bad imports
        raise AllidbError(config, f'cannot load config: {e}') from e
    old_max_iters = (cfg.get('train_cfg') or {}).get('max_iters')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
        # Native-scale configs copy these into their pipelines and evaluators.
        scale = {k: cfg_options[k] for k in ('working_rbc_px', 'source_rbc_px')
                 if k in cfg_options}
        if scale:
            set_scale_settings(cfg, **scale)
    if old_max_iters:
        fit_schedule_to_max_iters(cfg, old_max_iters)
    if data_root is not None:
        set_data_root(cfg, data_root)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(config))[0])
    for key in LOADERS:  # torch refuses persistent_workers=True with num_workers=0
        loader = cfg.get(key)
        if isinstance(loader, dict) and loader.get('num_workers', 1) == 0:
            loader['persistent_workers'] = False
    return cfg


def prepare_train_config(config: str, *, cfg_options: Optional[dict] = None,
                         data_root: Optional[str] = None,
                         work_dir: Optional[str] = None,
                         pretrained: Optional[str] = None,
                         resume: Optional[str] = None, amp: bool = False,
                         launcher: str = 'none', force: bool = False,
                         check_data_pairs: bool = True) -> Config:
    """The training config: :func:`load_config` plus weights, resume and AMP,
    after the checks that must pass before a Runner starts (data, weights,
    checkpoint, a writable work dir).

    Args:
        data_root: replaces every dataset's data root.
        work_dir: logs and checkpoints (default ``work_dirs/<config>``).
        pretrained: a local MiT checkpoint for the backbone (mmseg's MiT
            keys, or a full segmentor checkpoint: its backbone is used).
        resume: None (no resume), ``'auto'`` (the newest complete
            checkpoint in the work dir) or a checkpoint path.
        amp: mixed precision (CUDA only).
        force: train into a work dir that holds checkpoints of an earlier
            run; without it (and without ``resume``) such a dir is refused.
        check_data_pairs: check every image/mask pair (``--skip-data-check``
            turns it off).

    Returns:
        The config, ready for :func:`allidb_mmseg.engine.runner.train`.
    """
    cfg = load_config(config, cfg_options=cfg_options, data_root=data_root,
                      work_dir=work_dir, launcher=launcher)
    if pretrained:
        set_pretrained(cfg, pretrained)
    check_pretrained(cfg)
    loaders = LOADERS[:2] if cfg.get('val_cfg') else LOADERS[:1]  # train (and val)
    check_data(cfg, loaders, validate=check_data_pairs)
    if not resume and not force and saved_checkpoints(cfg.work_dir):
        raise AllidbError(cfg.work_dir, 'holds checkpoints of an earlier run; '
                          'use --resume to continue it, --force to overwrite, '
                          'or another --work-dir')
    if resume:
        cfg.resume, cfg.load_from = True, resolve_resume(cfg.work_dir, resume)
    check_writable_dir(cfg.work_dir, 'work dir')
    if amp:
        import torch
        if not torch.cuda.is_available():
            raise AllidbError('--amp', 'mixed precision needs a CUDA GPU')
        cfg.optim_wrapper.update(type='AmpOptimWrapper', loss_scale='dynamic')
    return cfg
