"""Build mmengine's Runner from a prepared config, and train or test with it."""
from __future__ import annotations

import os.path as osp
from typing import Any, Optional

from mmengine.config import Config

from ..evaluation.summary import METRICS_FILENAME, metrics_report
from ..inference.tta import enable_tta
from ..models.checkpoint import bare_model, check_fits_model, find_resumable, model_of_config
from ..utils import atomic_write_json, check_writable_dir, refuse_existing
from .config import check_data
from .ddp import finish_distributed, init_cpu_distributed
from .review_hook import add_review_page

__all__ = ['build_runner', 'train', 'test', 'with_detection_metric']

DETECTION_METRIC = 'BlastDetectionMetric'


def build_runner(cfg: Config) -> Any:
    """``Runner.from_cfg`` (mmseg's convention: a runner_type may be set)."""
    from mmengine.runner import Runner
    from mmseg.registry import RUNNERS

    init_cpu_distributed(cfg.get('launcher', 'none'))
    return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)


def train(cfg: Config) -> dict:
    """Train; return where the results are (best checkpoint, curves) and
    ``main_process``, whether this process is the one that prints.

    A checkpoint to resume or load must fit the model (one-line error
    otherwise). On Ctrl-C or SIGTERM the exception gets a note naming the
    checkpoint that ``--resume`` would continue.
    """
    if cfg.get('load_from'):
        check_fits_model(model_of_config(cfg), cfg.load_from)
    runner = build_runner(cfg)
    try:
        runner.train()
    except KeyboardInterrupt as exc:
        last = find_resumable(runner.work_dir)
        exc.add_note(f'continue from {last} with --resume' if last else
                     f'no checkpoint was saved yet in {runner.work_dir}')
        raise
    hub = runner.message_hub
    return dict(work_dir=runner.work_dir, best_checkpoint=hub.get_info('best_ckpt'),
                best_mIoU=hub.get_info('best_score'), last_iter=runner.iter,
                curves=osp.join(runner.work_dir, 'training_curves.png'),
                main_process=finish_distributed())


def with_detection_metric(evaluator: Any) -> Any:
    """The evaluator config plus per-blast detection, unless it has it.

    Why: the four paper configs must stay as they are, yet tools/test.py
    reports per-blast precision/recall/F1 for every config.
    """
    metrics = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]
    if not any(str(m.get('type', '')).split('.')[-1] == DETECTION_METRIC for m in metrics):
        metrics.append(dict(type=DETECTION_METRIC))
    return metrics


def test(cfg: Config, checkpoint: str, *, show_dir: Optional[str] = None,
         out: Optional[str] = None, force: bool = False,
         tta: Optional[str] = None, check_data_pairs: bool = True) -> dict:
    """Evaluate ``checkpoint`` on the test split; save the metrics as JSON.

    Args:
        cfg: a config from :func:`allidb_mmseg.engine.config.load_config`.
        show_dir: also write a review page of every prediction against its
            label into this folder (:class:`.review_hook.ReviewPageHook`).
        out: the JSON (default ``WORK_DIR/test_metrics.json``); an existing
            one is refused unless ``force``.
        force: overwrite ``out`` (and the page in ``show_dir``).
        tta: average over flips and rotations (``'d4'``, ``'flips'``;
            :mod:`allidb_mmseg.inference.tta`).
        check_data_pairs: check every image/mask pair of the test split
            first (``--skip-data-check`` turns it off).

    Returns:
        The report written to ``out``, with ``path`` added, and
        ``main_process``: whether this process is the one that prints.
    """
    from mmengine.dist import is_main_process

    out = out or osp.join(cfg.work_dir, METRICS_FILENAME)
    refuse_existing(out, force)  # and its folder must be writable
    for folder in (cfg.work_dir, show_dir):  # logs, overlays
        if folder:
            check_writable_dir(folder)
    check_data(cfg, ('test_dataloader',), validate=check_data_pairs)
    check_fits_model(model_of_config(cfg), checkpoint)
    cfg.load_from, cfg.resume = checkpoint, False
    cfg.test_evaluator = with_detection_metric(cfg.test_evaluator)
    if show_dir:
        add_review_page(cfg, show_dir, force)
    runner = build_runner(cfg)
    if tta:
        enable_tta(bare_model(runner.model), tta)
    metrics = runner.test()
    classes = list(runner.test_dataloader.dataset.metainfo.get('classes', []))
    report = metrics_report(metrics, classes)
    report.update(config=cfg.filename, checkpoint=checkpoint,
                  num_images=len(runner.test_dataloader.dataset), tta=tta)
    if is_main_process():
        atomic_write_json(out, report)
    report.update(path=out, main_process=finish_distributed())
    return report
