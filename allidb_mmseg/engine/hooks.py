"""Hooks for the ALL-IDB configs: training curves and a pretrained-weights notice."""
from __future__ import annotations

import os.path as osp
from typing import Any, Optional, Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from ..utils import atomic_write, atomic_write_json

CURVES_KEY = 'allidb_training_curves'


def _moving_average(values: Sequence[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


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
        if window > 1:
            ax_loss.plot(iters, _moving_average(values, window), lw=1.5,
                         label=f'moving mean ({window} iters)')
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
        data = osp.splitext(png)[0] + '.json'
        atomic_write_json(data, dict(loss=self.losses, val_mIoU=self.val_miou),
                          indent=None)


def pretrained_checkpoint(init_cfg: Any) -> Optional[str]:
    """The checkpoint of a ``Pretrained`` init_cfg (dict or list), else None."""
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    for cfg in cfgs:
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            return cfg.get('checkpoint')
    return None


@HOOKS.register_module()
class PretrainedWeightsNoticeHook(Hook):
    """Log one clear line saying where the backbone's starting weights come from.

    Why: training MiT from scratch on 86 images silently gives much worse
    results than from ImageNet weights; a user should see which one ran.
    """

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        backbone = getattr(model, 'backbone', None)
        checkpoint = pretrained_checkpoint(getattr(backbone, 'init_cfg', None))
        resumed = getattr(runner, '_resume', False)
        load_from = getattr(runner, '_load_from', None)
        if resumed or load_from:
            msg = ('all weights come from the checkpoint being '
                   + ('resumed' if resumed else f'loaded ({load_from})'))
        elif checkpoint:
            msg = f'MiT backbone starts from pretrained weights: {checkpoint}'
        else:
            msg = ('No pretrained MiT weights given: training from scratch '
                   '(give --pretrained PATH or set ALLIDB_PRETRAINED).')
        runner.logger.info(msg)
