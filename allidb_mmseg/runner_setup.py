"""Shared logic of tools/train.py, tools/test.py and tools/reproduce_table2.py.

The configs themselves hold everything essential (they run from mmseg's own
tools too); this module adds what a command line needs: clear errors for bad
paths, ``--data-root``/``--pretrained``/``--resume``/``--amp``, a schedule
that follows an overridden ``max_iters``, and the gloo process group that a
CPU-only ``torchrun`` needs before mmengine's Runner is built.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
from typing import Any, Iterator, Optional

from mmengine.config import Config, DictAction

from .engine.hooks import pretrained_checkpoint

METRICS_FILENAME = 'test_metrics.json'
SUMMARY_KEYS = ('aAcc', 'mIoU', 'mAcc', 'mDice')


class UsageError(Exception):
    """Bad user input; tools print it as ``error: <file>: <problem>``."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f'{path}: {problem}')


def report_usage_error(err: UsageError) -> int:
    """Print the one-line error and return the exit code tools use (2)."""
    print(f'error: {err}', file=sys.stderr)
    return 2


def _require_file(path: str, what: str) -> None:
    if not osp.isfile(path):
        raise UsageError(path, f'{what} not found')


def iter_dataset_cfgs(cfg: Config) -> Iterator[dict]:
    """Every dataset dict in the dataloaders, through wrappers (Concat, Repeat)."""
    def walk(ds: Any) -> Iterator[dict]:
        if not isinstance(ds, dict):
            return
        yield ds
        for inner in ds.get('datasets', []) or []:
            yield from walk(inner)
        if isinstance(ds.get('dataset'), dict):
            yield from walk(ds['dataset'])

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if isinstance(loader, dict):
            yield from walk(loader.get('dataset'))


def set_data_root(cfg: Config, data_root: str) -> None:
    """Point every dataset of the config at ``data_root``."""
    if not osp.isdir(data_root):
        raise UsageError(data_root, 'data root is not a directory')
    cfg.data_root = data_root
    for ds in iter_dataset_cfgs(cfg):
        if 'data_root' in ds:
            ds['data_root'] = data_root


def set_pretrained(cfg: Config, path: str) -> None:
    """Initialise the backbone from a local MiT checkpoint (mmseg key layout)."""
    _require_file(path, 'pretrained weights file')
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=path)


def check_pretrained(cfg: Config) -> None:
    """Fail early, with the file name, when the configured weights are missing."""
    ckpt = pretrained_checkpoint(cfg.model.get('backbone', {}).get('init_cfg'))
    if ckpt and '://' not in ckpt:
        _require_file(ckpt, 'pretrained weights file (ALLIDB_PRETRAINED?)')


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


def _fix_worker_flags(cfg: Config) -> None:
    # torch refuses persistent_workers=True with num_workers=0.
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if isinstance(loader, dict) and loader.get('num_workers', 1) == 0:
            loader['persistent_workers'] = False


IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff')


def check_split_dirs(cfg: Config, loaders: tuple[str, ...]) -> None:
    """Fail early, naming the folder, when a split the run needs is missing.

    Why: mmengine would otherwise raise deep inside dataset building (a
    FileNotFoundError traceback, or numpy's "need at least one array to
    concatenate" for an empty split).
    """
    for key in loaders:
        loader = cfg.get(key)
        if not isinstance(loader, dict):
            continue
        stack = [loader.get('dataset')]
        while stack:
            ds = stack.pop()
            if not isinstance(ds, dict):
                continue
            stack.extend(ds.get('datasets', []) or [])
            stack.append(ds.get('dataset'))
            img_path = (ds.get('data_prefix') or {}).get('img_path')
            if img_path is None:
                continue
            folder = osp.join(ds.get('data_root') or '', img_path)
            if not osp.isdir(folder):
                raise UsageError(folder, 'no such split folder (convert your '
                                 'data with tools/convert_coco.py, or give '
                                 '--data-root)')
            if not any(f.lower().endswith(IMAGE_SUFFIXES)
                       for _, _, files in os.walk(folder) for f in files):
                raise UsageError(folder, 'split folder holds no images')


def check_checkpoint(path: str) -> None:
    """Fail with one line when ``path`` is not a loadable checkpoint."""
    import torch

    _require_file(path, 'checkpoint')
    try:
        torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # pickle, zip and allowlist errors alike
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UsageError(path, f'cannot load checkpoint: {first}') from e


def add_runner_args(parser: argparse.ArgumentParser, work_dir_holds: str
                    ) -> None:
    """The flags train.py and test.py share with mmseg's own tools."""
    parser.add_argument('--work-dir', help=f'where {work_dir_holds} go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--data-root', help='dataset root (default: the '
                        'config, i.e. $ALLIDB_DATA_ROOT or data/allidb)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. '
                        'train_cfg.max_iters=100')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm',
                                               'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser,
                      argv: Optional[list] = None) -> argparse.Namespace:
    """Parse, and pass ``--local-rank`` (older launchers) on as LOCAL_RANK."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_config(config: str, *, cfg_options: Optional[dict] = None,
                data_root: Optional[str] = None,
                work_dir: Optional[str] = None,
                launcher: str = 'none') -> Config:
    """Load a config and apply the options common to training and testing."""
    _require_file(config, 'config file')
    if data_root is not None and not osp.isdir(data_root):
        raise UsageError(data_root, 'data root is not a directory')
    try:
        cfg = Config.fromfile(config)
    except Exception as e:  # syntax errors, missing bases, bad imports
        raise UsageError(config, f'cannot load config: {e}') from e
    old_max_iters = (cfg.get('train_cfg') or {}).get('max_iters')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
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
    """The training config: ``load_config`` plus weights, resume and AMP.

    ``resume`` is None (no resume), ``'auto'`` (latest checkpoint in the work
    dir) or a checkpoint path. A work dir that already holds checkpoints is
    refused unless resuming or ``force``: a new run would overwrite them.
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
        raise UsageError(cfg.work_dir, 'holds checkpoints of an earlier run; '
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
            raise UsageError('--amp', 'mixed precision needs a CUDA GPU')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    return cfg


def init_cpu_distributed(launcher: str) -> bool:
    """Start a gloo process group for a CPU-only ``torchrun`` launch.

    Why: mmengine's ``init_dist`` calls ``torch.cuda.set_device``, which fails
    on a CPU-only torch. When the group already exists, mmengine skips its own
    init. Returns True if a group was started here.
    """
    import torch
    import torch.distributed as dist

    if launcher != 'pytorch' or torch.cuda.is_available():
        return False
    if dist.is_initialized():
        return False
    dist.init_process_group(backend='gloo')
    return True


def build_runner(cfg: Config):
    """``Runner.from_cfg`` (mmseg's convention: a runner_type may be set)."""
    from mmengine.runner import Runner
    from mmseg.registry import RUNNERS

    init_cpu_distributed(cfg.get('launcher', 'none'))
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def train(cfg: Config) -> dict:
    """Train; return where the results are (best checkpoint, curves)."""
    runner = build_runner(cfg)
    runner.train()
    best = runner.message_hub.get_info('best_ckpt')
    best_score = runner.message_hub.get_info('best_score')
    return dict(work_dir=runner.work_dir, best_checkpoint=best,
                best_mIoU=best_score, last_iter=runner.iter,
                curves=osp.join(runner.work_dir, 'training_curves.png'))


def enable_show_dir(cfg: Config, show_dir: str) -> None:
    """Make SegVisualizationHook draw every test prediction into show_dir."""
    hooks = cfg.default_hooks
    if 'visualization' not in hooks:
        raise UsageError('--show-dir', 'the config has no visualization hook')
    hooks.visualization.draw = True
    hooks.visualization.interval = 1
    cfg.visualizer.save_dir = show_dir


def _clean(value: Any) -> Any:
    value = float(value)
    # NaN (a class absent from labels and predictions) -> null in JSON;
    # mmseg rounds to 2 decimals in float32, so round away the float noise.
    return None if value != value else round(value, 2)


def metrics_report(metrics: dict, classes: Optional[list] = None) -> dict:
    """Split runner.test()'s flat metrics into a summary and per-class table."""
    summary = {k: _clean(metrics[k]) for k in SUMMARY_KEYS if k in metrics}
    per_class: dict[str, dict] = {}
    for key, value in metrics.items():
        if '.' in key:
            name, cls = key.split('.', 1)
            per_class.setdefault(cls, {})[name] = _clean(value)
    if classes:
        per_class = {c: per_class[c] for c in classes if c in per_class}
    return dict(units='percent (paper uses 0-1: divide by 100)',
                metrics=summary, per_class=per_class)


def format_metrics(report: dict) -> str:
    """Human-readable table of a ``metrics_report``."""
    lines = ['metric   value (%)  (0-1)']
    for key, value in report['metrics'].items():
        lines.append(f'{key:<8} {value:9.2f}  {value / 100:.3f}'
                     if value is not None else f'{key:<8} {"nan":>9}')
    names = list(dict.fromkeys(
        n for v in report['per_class'].values() for n in v))
    if names:
        lines.append('')
        lines.append('class'.ljust(14) + ''.join(f'{n:>9}' for n in names))
        for cls, vals in report['per_class'].items():
            cells = ''.join(
                f'{vals[n]:9.2f}' if vals.get(n) is not None else f'{"nan":>9}'
                for n in names)
            lines.append(cls.ljust(14) + cells)
    return '\n'.join(lines)


def write_json(path: str, data: dict, force: bool = False) -> None:
    """Write JSON via a temporary file; refuse to replace one without force."""
    if osp.exists(path) and not force:
        raise UsageError(path, 'exists (use --force to overwrite)')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def test(cfg: Config, checkpoint: str, *, show_dir: Optional[str] = None,
         out: Optional[str] = None, force: bool = False) -> dict:
    """Evaluate ``checkpoint`` on the test split; save metrics as JSON.

    Returns the report (also written to ``out``, by default
    ``WORK_DIR/test_metrics.json``).
    """
    from mmengine.dist import is_main_process

    out = out or osp.join(cfg.work_dir, METRICS_FILENAME)
    if osp.exists(out) and not force:
        raise UsageError(out, 'exists (use --force to overwrite)')
    check_split_dirs(cfg, ('test_dataloader',))
    check_checkpoint(checkpoint)
    cfg.load_from = checkpoint
    cfg.resume = False
    if show_dir:
        enable_show_dir(cfg, show_dir)
    runner = build_runner(cfg)
    metrics = runner.test()
    classes = list(runner.test_dataloader.dataset.metainfo.get('classes', []))
    report = metrics_report(metrics, classes)
    report.update(config=cfg.filename, checkpoint=checkpoint,
                  num_images=len(runner.test_dataloader.dataset))
    if is_main_process():
        write_json(out, report, force=force)
    report['path'] = out
    return report
