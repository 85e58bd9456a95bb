"""Does this checkpoint fit this model? One check for every tool that loads weights.

Why: mmengine loads checkpoints with ``strict=False``: a missing, unexpected
or differently shaped tensor is logged and skipped, and the model keeps its
random values for it, so tools/test.py would report metrics of another model
and tools/infer.py count blasts with a random head. Every load goes through
here first. Which checkpoint of a run to take is decided here too.

A checkpoint is a pickle: load only files you made or trust. They are read
with ``torch.load(weights_only=True)`` and the allowlist of :mod:`allidb_mmseg.compat`.
"""
from __future__ import annotations

import copy
import os
import os.path as osp
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from .. import register_all_modules
from ..utils import AllidbError, AllidbWarning, one_line_errors

__all__ = ['read_checkpoint', 'state_dict_of', 'StateDictDiff', 'compare_state_dicts',
           'model_of_config', 'check_fits_model', 'load_into_model', 'bare_model',
           'check_resumable', 'saved_checkpoints', 'find_resumable', 'best_checkpoint',
           'PretrainedMatch', 'check_pretrained_backbone', 'MIN_PRETRAINED_FRACTION']

# --pretrained must fill at least this share of the backbone's tensors.
MIN_PRETRAINED_FRACTION = 0.5
MIT_KEY_EXAMPLE = 'layers.0.0.projection.weight'
MIT_CONVERTER = 'tools/model_converters/hf_mit2mmseg.py'
_NUMBERED = re.compile(r'^(iter|epoch)_(\d+)\.pth$')


def read_checkpoint(path: str) -> dict:
    """Load a checkpoint file onto the CPU, or fail in one line naming it.

    Raises:
        AllidbError: missing, unreadable, not a torch file, or not a dict.
    """
    import torch

    if not osp.isfile(path):
        raise AllidbError(path, 'checkpoint not found')
    with open(path, 'rb') as f:
        head = f.read(4)
    if not (head.startswith(b'PK') or head.startswith(b'\x80')):
        raise AllidbError(path, 'cannot load checkpoint: ' + (
            'not a PyTorch file (neither a zip archive nor a pickle)'
            if head else 'empty file'))
    with one_line_errors(path, 'cannot load checkpoint'):  # pickle, zip and allowlist errors alike
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(ckpt, dict):
        raise AllidbError(path, 'cannot load checkpoint: it holds a '
                          f'{type(ckpt).__name__}, not a dict of tensors')
    return ckpt


def state_dict_of(ckpt: Mapping[str, Any], path: str = '') -> dict:
    """The tensors of a checkpoint: its ``state_dict`` (mmengine), else the
    dict itself when it holds tensors only; a DDP ``module.`` prefix is
    removed."""
    import torch

    sd = ckpt.get('state_dict', ckpt)
    if not isinstance(sd, Mapping) or not sd or not all(
            isinstance(v, torch.Tensor) for v in sd.values()):
        raise AllidbError(path, 'holds no state dict of tensors')
    if all(k.startswith('module.') for k in sd):
        sd = {k[len('module.'):]: v for k, v in sd.items()}
    return dict(sd)


@dataclass
class StateDictDiff:
    """How a checkpoint's tensors differ from a model's."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    # (key, shape in the file, shape in the model)
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self, limit: int = 3) -> str:
        """One line: counts, and the first ``limit`` keys of each kind."""
        def few(keys: list[str]) -> str:
            more = f', ... {len(keys) - limit} more' if len(keys) > limit else ''
            return ', '.join(keys[:limit]) + more

        shapes = [f'{k} {tuple(f)} in the file, {tuple(m)} in the model'
                  for k, f, m in self.mismatched]
        kinds = ((shapes, 'with another shape'), (self.missing, 'missing'),
                 (self.unexpected, 'unexpected'))
        return '; '.join(f'{len(keys)} {what} ({few(keys)})' for keys, what in kinds if keys)


def compare_state_dicts(model_sd: Mapping[str, Any],
                        file_sd: Mapping[str, Any]) -> StateDictDiff:
    """Keys and shapes of ``file_sd`` against those of ``model_sd``."""
    diff = StateDictDiff(unexpected=[k for k in file_sd if k not in model_sd])
    for key, value in model_sd.items():
        if key not in file_sd:
            diff.missing.append(key)
        elif (shape := tuple(file_sd[key].shape)) != tuple(value.shape):
            diff.mismatched.append((key, shape, tuple(value.shape)))
    return diff


def bare_model(model: Any) -> Any:
    """The model inside a DDP (or other mmengine) wrapper, else ``model``."""
    from mmengine.model import is_model_wrapper

    return model.module if is_model_wrapper(model) else model


def model_of_config(cfg: Any) -> Any:
    """The config's model, randomly initialised and without pretrained
    weights: what a checkpoint must fit (built before a Runner exists)."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    register_all_modules()
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.get('backbone', {}).pop('init_cfg', None)
    model_cfg.pop('pretrained', None)
    return MODELS.build(model_cfg)


def check_fits_model(model: Any, path: str) -> dict:
    """Raise unless the checkpoint at ``path`` has exactly ``model``'s tensors.

    Returns:
        The loaded checkpoint.

    Raises:
        AllidbError: one line naming the file and the first differing keys
            (missing, unexpected, or with another shape).
    """
    ckpt = read_checkpoint(path)
    diff = compare_state_dicts(bare_model(model).state_dict(), state_dict_of(ckpt, path))
    if not diff.ok:
        raise AllidbError(path, 'does not fit the model of the config: '
                          f'{diff.describe()} (another model, variant or '
                          'number of classes?)')
    return ckpt


def load_into_model(model: Any, path: str) -> dict:
    """:func:`check_fits_model`, then load the tensors strictly.

    The checkpoint's ``meta.dataset_meta`` (class names, palette), when
    present, becomes ``model.dataset_meta``, as mmseg's ``init_model`` does.

    Returns:
        The loaded checkpoint.
    """
    ckpt = check_fits_model(model, path)
    bare_model(model).load_state_dict(state_dict_of(ckpt, path), strict=True)
    if meta := (ckpt.get('meta') or {}).get('dataset_meta'):
        model.dataset_meta = meta
    return ckpt


def check_resumable(path: str) -> dict:
    """Raise unless ``path`` holds a training state (``--resume`` needs the
    iteration and the optimizer, not only the weights)."""
    ckpt = read_checkpoint(path)
    meta = ckpt.get('meta')
    if not isinstance(meta, dict) or 'iter' not in meta or 'optimizer' not in ckpt:
        raise AllidbError(path, 'holds weights only, no training state (iteration, optimizer), '
                          'so it cannot be resumed; start a new run from it with --cfg-options '
                          f'load_from={path}')
    state_dict_of(ckpt, path)
    return ckpt


def saved_checkpoints(work_dir: str | os.PathLike) -> list[str]:
    """The checkpoints (``*.pth``) a run saved in ``work_dir``, sorted; not
    the hidden temporaries of a save that was killed. Empty without the folder."""
    if not osp.isdir(work_dir):
        return []
    return sorted(osp.join(work_dir, f) for f in os.listdir(work_dir)
                  if f.endswith('.pth') and not f.startswith('.'))


def _complete(path: str) -> bool:
    try:
        check_resumable(path)
    except AllidbError:
        return False
    return True


def find_resumable(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume`` continues in ``work_dir``, or None.

    mmengine's ``last_checkpoint`` file names it. If that file is missing,
    or names a checkpoint that is missing or incomplete (a run killed while
    saving), the newest complete ``iter_N.pth``/``epoch_N.pth`` is used,
    with a warning.
    """
    if not osp.isdir(work_dir):
        return None
    pointer = osp.join(work_dir, 'last_checkpoint')
    named = None
    if osp.isfile(pointer):
        named = Path(pointer).read_text(encoding='utf-8', errors='replace').strip() or None
        if named and not osp.isabs(named) and not osp.exists(named):
            named = osp.join(work_dir, osp.basename(named))
        if named and _complete(named):
            return named
    numbered = sorted(((int(m.group(2)), osp.join(work_dir, name))  # iter_N, epoch_N
                       for name in os.listdir(work_dir) if (m := _NUMBERED.match(name))),
                      reverse=True)  # newest (largest N) first
    found = next((candidate for _, candidate in numbered if _complete(candidate)), None)
    if found and named:
        warnings.warn(f'{pointer} names {named}, which is missing or '
                      f'incomplete; resuming from {found}', AllidbWarning, stacklevel=2)
    return found


def best_checkpoint(work_dir: str | os.PathLike) -> str:
    """The best-validation checkpoint a training run in ``work_dir`` kept
    (the newest ``best_mIoU_iter_*.pth``), else the last one it saved.

    Raises:
        AllidbError: the folder holds no checkpoint.
    """
    best = sorted(Path(work_dir).glob('best_mIoU_iter_*.pth'), key=lambda p: p.stat().st_mtime)
    found = str(best[-1]) if best else find_resumable(str(work_dir))
    if found is None:
        raise AllidbError(work_dir, 'holds no checkpoint (did training finish?)')
    return found


@dataclass
class PretrainedMatch:
    """How a ``--pretrained`` file fills the backbone."""

    loaded: int            # backbone tensors the file provides, same shape
    total: int             # backbone tensors
    prefix: str            # '' (backbone layout) or 'backbone.' (segmentor)
    diff: StateDictDiff    # of the backbone against the file's tensors


def check_pretrained_backbone(backbone: Any, path: str) -> PretrainedMatch:
    """Check that ``path`` fills ``backbone`` (mmseg MiT key layout).

    A full segmentor checkpoint (keys ``backbone.*``, ``decode_head.*``, as
    this project's and mmseg's checkpoints have) is recognised; its
    backbone tensors are the ones used (``PretrainedMatch.prefix``).

    Raises:
        AllidbError: the file cannot be read, or fewer than
            :data:`MIN_PRETRAINED_FRACTION` of the backbone's tensors match
            by name and shape (the message names the expected layout).
    """
    file_sd = state_dict_of(read_checkpoint(path), path)
    inner = {k[len('backbone.'):]: v for k, v in file_sd.items() if k.startswith('backbone.')}
    file_sd, prefix = (inner, 'backbone.') if inner else (file_sd, '')
    model_sd = bare_model(backbone).state_dict()
    diff = compare_state_dicts(model_sd, file_sd)
    total = len(model_sd)
    loaded = total - len(diff.missing) - len(diff.mismatched)
    if loaded < MIN_PRETRAINED_FRACTION * total:
        example = next(iter(file_sd), '')
        other = (f'; {len(diff.mismatched)} have another shape (another MiT '
                 'variant?)' if diff.mismatched else '')
        raise AllidbError(path, f'only {loaded} of the backbone\'s {total} '
                          f'tensors match by name and shape{other}; expected '
                          f'mmseg MiT keys such as {MIT_KEY_EXAMPLE!r}, the '
                          f'file has keys such as {example!r}. Convert '
                          f'Hugging Face mit-b* weights with {MIT_CONVERTER}')
    return PretrainedMatch(loaded, total, prefix, diff)
