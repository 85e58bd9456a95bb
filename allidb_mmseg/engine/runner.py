"""Build mmengine's Runner from a prepared config, and train or test with it."""
from __future__ import annotations

import os.path as osp
from typing import Any, Optional

from mmengine.config import Config

from ..evaluation.summary import METRICS_FILENAME, metrics_report
from ..utils import atomic_write_json, refuse_existing
from .config import check_checkpoint, check_split_dirs
from .ddp import init_cpu_distributed
from .review_hook import add_review_page

__all__ = ['build_runner', 'train', 'test', 'with_detection_metric']

DETECTION_METRIC = 'BlastDetectionMetric'


def build_runner(cfg: Config) -> Any:
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


def with_detection_metric(evaluator: Any) -> Any:
    """The evaluator config plus per-blast detection, unless it has it.

    Why: the four paper configs must stay as they are, yet tools/test.py
    reports per-blast precision/recall/F1 for every config.
    """
    metrics = list(evaluator) if isinstance(evaluator, (list, tuple)) \
        else [evaluator]
    if not any(str(m.get('type', '')).split('.')[-1] == DETECTION_METRIC
               for m in metrics):
        metrics.append(dict(type=DETECTION_METRIC))
    return metrics


def test(cfg: Config, checkpoint: str, *, show_dir: Optional[str] = None,
         out: Optional[str] = None, force: bool = False) -> dict:
    """Evaluate ``checkpoint`` on the test split; save the metrics as JSON.

    Args:
        cfg: a config from :func:`allidb_mmseg.engine.config.load_config`.
        checkpoint: the weights to test.
        show_dir: also write a review page of every prediction against its
            label into this folder (:class:`.review_hook.ReviewPageHook`).
        out: the JSON (default ``WORK_DIR/test_metrics.json``); an existing
            one is refused unless ``force``.
        force: overwrite ``out`` (and the page in ``show_dir``).

    Returns:
        The report written to ``out``, with ``path`` added.
    """
    from mmengine.dist import is_main_process

    out = out or osp.join(cfg.work_dir, METRICS_FILENAME)
    refuse_existing(out, force)
    check_split_dirs(cfg, ('test_dataloader',))
    check_checkpoint(checkpoint)
    cfg.load_from = checkpoint
    cfg.resume = False
    cfg.test_evaluator = with_detection_metric(cfg.test_evaluator)
    if show_dir:
        add_review_page(cfg, show_dir, force)
    runner = build_runner(cfg)
    metrics = runner.test()
    classes = list(runner.test_dataloader.dataset.metainfo.get('classes', []))
    report = metrics_report(metrics, classes)
    report.update(config=cfg.filename, checkpoint=checkpoint,
                  num_images=len(runner.test_dataloader.dataset))
    if is_main_process():
        atomic_write_json(out, report)
    report['path'] = out
    return report
