"""Hooks for the ALL-IDB configs: training curves, a pretrained-weights
notice, and checkpoint saving that survives a kill."""
from __future__ import annotations

import os.path as osp
from typing import Any, Optional, Sequence

import numpy as np
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook, Hook
from mmseg.registry import HOOKS

from ..utils import (atomic_write, atomic_write_bytes, atomic_write_json,
                     atomic_write_text, remove_stale_temps)
from ..models.checkpoint import bare_model, check_pretrained_backbone

CURVES_KEY = 'allidb_training_curves'


def plot_training_curves(losses: Sequence[Sequence[float]],
                         val_miou: Sequence[Sequence[float]],
                         path: str, title: str = '') -> None:
    """Save training loss and validation mIoU against iteration as a PNG.

    Uses matplotlib's object API (no pyplot), so no global backend is set and
    it works headless. Written to a temporary name, then renamed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    ax_loss, ax_val = fig.subplots(1, 2)
    if losses:
        iters, values = zip(*losses)
        window = max(1, len(values) // 50)
        ax_loss.plot(iters, values, lw=0.6 if window > 1 else 1.5,
                     alpha=0.4 if window > 1 else 1.0, label='loss')
        if window > 1:  # the mean of each value and the up to window - 1 before it
            n = len(values)
            mean = (np.convolve(values, np.ones(window))[:n]
                    / np.minimum(np.arange(1, n + 1), window))
            ax_loss.plot(iters, mean, lw=1.5, label=f'moving mean ({window} iters)')
        ax_loss.legend()
    ax_loss.set(xlabel='iteration', ylabel='training loss', title='loss')
    if val_miou:
        iters, values = zip(*val_miou)
        ax_val.plot(iters, values, marker='o')
    ax_val.set(xlabel='iteration', ylabel='mIoU (%)', title='validation mIoU')
    for ax in (ax_loss, ax_val):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format='png'))


@HOOKS.register_module()
class TrainingCurvesHook(Hook):
    """Record training loss and validation mIoU; plot them into the work dir.

    Why: the paper compares variants by their curves as much as by the final
    numbers, and mmengine's logs are not a picture. The PNG (and the same data
    as JSON) is rewritten after every validation and at the end of training.
    The history is stored in checkpoints, so ``--resume`` continues the curves.
    """

    priority = 'LOW'

    def __init__(self, filename: str = 'training_curves.png') -> None:
        self.filename = filename
        self.losses: list[list[float]] = []
        self.val_miou: list[list[float]] = []

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        if outputs and 'loss' in outputs:
            loss = outputs['loss']
            loss = loss.detach() if hasattr(loss, 'detach') else loss
            self.losses.append([runner.iter + 1, float(loss)])

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        if metrics and 'mIoU' in metrics:
            self.val_miou.append([runner.iter, float(metrics['mIoU'])])
        self._save(runner)

    def after_train(self, runner) -> None:
        self._save(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[CURVES_KEY] = dict(loss=self.losses, val_mIoU=self.val_miou)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = checkpoint.get(CURVES_KEY)
        if saved and getattr(runner, '_resume', False):
            self.losses = [list(x) for x in saved.get('loss', [])]
            self.val_miou = [list(x) for x in saved.get('val_mIoU', [])]

    def _save(self, runner) -> None:
        if not is_main_process() or not runner.work_dir:
            return
        png = osp.join(runner.work_dir, self.filename)
        title = osp.splitext(osp.basename(runner.cfg.filename or ''))[0]
        plot_training_curves(self.losses, self.val_miou, png, title)
        atomic_write_json(osp.splitext(png)[0] + '.json',
                          dict(loss=self.losses, val_mIoU=self.val_miou), indent=None)


def pretrained_checkpoint(init_cfg: Any) -> Optional[str]:
    """The checkpoint of a ``Pretrained`` init_cfg (dict or list), else None."""
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return next((c.get('checkpoint') for c in cfgs
                 if isinstance(c, dict) and c.get('type') == 'Pretrained'), None)


@HOOKS.register_module()
class PretrainedWeightsNoticeHook(Hook):
    """Log one clear line saying where the backbone's starting weights come from.

    Why: training MiT from scratch on 86 images silently gives much worse
    results than from ImageNet weights; a user should see which one ran.
    """

    def before_train(self, runner) -> None:
        backbone = getattr(bare_model(runner.model), 'backbone', None)
        checkpoint = pretrained_checkpoint(getattr(backbone, 'init_cfg', None))
        resumed = getattr(runner, '_resume', False)
        load_from = getattr(runner, '_load_from', None)
        if resumed or load_from:
            how = 'resumed' if resumed else 'loaded'
            msg = f'all weights come from the checkpoint being {how}' + (
                f' ({load_from})' if load_from else '')
        elif checkpoint:
            msg = f'MiT backbone starts from pretrained weights: {checkpoint}'
            if '://' not in checkpoint:  # a URL: mmengine reports
                match = check_pretrained_backbone(backbone, checkpoint)
                msg += (f' ({match.loaded} of {match.total} backbone tensors loaded'
                        + (f', from its {match.prefix}* keys' if match.prefix else '') + ')')
                if match.loaded < match.total:
                    msg += f'; not in the file: {match.diff.describe()}'
        else:
            msg = ('No pretrained MiT weights given: training from scratch '
                   '(give --pretrained PATH or set ALLIDB_PRETRAINED).')
        runner.logger.info(msg)


ATOMIC_BACKEND = 'allidb_atomic_local'


@register_backend(ATOMIC_BACKEND)
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, with ``put`` through a temporary name.

    Why: mmengine writes a checkpoint straight under its final name, so a
    kill during the write leaves a truncated ``iter_N.pth`` that looks like a
    checkpoint. Here it is written as a hidden temporary, checked, and
    renamed (:func:`allidb_mmseg.utils.atomic_write_bytes`).
    """

    def put(self, obj: bytes, filepath) -> None:
        atomic_write_bytes(filepath, obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write_bytes(filepath, obj.encode(encoding))


def _remove_path(backend: Any, path: str) -> None:
    """Delete a checkpoint file (or a DeepSpeed checkpoint folder) if present."""
    if backend.isfile(path):
        backend.remove(path)
    elif backend.isdir(path):
        backend.rmtree(path)


class _DeferredRemovals:
    """A file backend whose ``remove``/``rmtree`` wait for :meth:`flush`."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.pending: list[str] = []

    def remove(self, path: str) -> None:
        self.pending.append(path)

    rmtree = remove

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def flush(self) -> None:
        for path in self.pending:
            _remove_path(self._backend, path)
        self.pending.clear()


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` that never leaves a work dir unresumable.

    Why: mmengine deletes the outdated checkpoint (``max_keep_ckpts``) and the
    previous best one *before* saving the new one, writes the new one in
    place, and rewrites ``last_checkpoint`` in place. A kill during a save
    can then leave no complete checkpoint at all, and ``last_checkpoint``
    naming a deleted file. Here, in this order:

    1. the new checkpoint is written to a temporary name and renamed;
    2. ``last_checkpoint`` is replaced the same way;
    3. only then are outdated checkpoints (and the previous best) deleted.

    Stale temporaries of killed runs are removed before training. Arguments
    are CheckpointHook's; without ``backend_args`` local files are written
    through :class:`AtomicLocalBackend`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get('backend_args') is None and kwargs.get('file_client_args') is None:
            kwargs['backend_args'] = dict(backend=ATOMIC_BACKEND)
        super().__init__(*args, **kwargs)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process() and isinstance(self.file_backend, LocalBackend) \
                and osp.isdir(self.out_dir):
            for path in remove_stale_temps(self.out_dir)[0]:
                runner.logger.warning(f'removed {path}, a temporary file of '
                                      'a run that was killed while saving')

    def _save_best_checkpoint(self, runner, metrics) -> None:
        backend = self.file_backend
        self.file_backend = deferred = _DeferredRemovals(backend)
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self.file_backend = backend
        deferred.flush()  # only after the new best one is saved

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        outdated = []
        if self.max_keep_ckpts > 0 and not (
                self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        name = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, name)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir, name, self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta,
            by_epoch=self.by_epoch, backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for old in outdated:
            _remove_path(self.file_backend, self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(old)))
