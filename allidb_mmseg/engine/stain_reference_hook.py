"""Save the model's stain reference with it: fitted on the training images at the start.

The reference (:class:`~allidb_mmseg.smear.stain.StainReference`) lets
``tools/infer.py`` score how unlike the training data a smear looks and, with
``--stain-normalize``, map a smear onto the training look. It is written to
``WORK_DIR/stain_reference.json`` and into every checkpoint's ``meta``, so a
checkpoint copied alone still carries it.
"""
from __future__ import annotations

import os.path as osp
from typing import Any, Iterator, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ..smear.stain import (CHECKPOINT_KEY, REFERENCE_FILENAME, StainReference,
                              fit_reference_from_files)
from .config import walk_dataset_cfg

__all__ = ['StainReferenceHook', 'dataset_image_paths', 'train_normalization']


def dataset_image_paths(dataset: Any) -> list[str]:
    """Every distinct image file of a dataset (Concat/Repeat wrappers included)."""
    def walk(ds: Any) -> Iterator[str]:
        inner = getattr(ds, 'datasets', None) or (
            [ds.dataset] if hasattr(ds, 'dataset') else [])
        if inner:
            for d in inner:
                yield from walk(d)
            return
        if hasattr(ds, 'full_init'):
            ds.full_init()
        for i in range(len(ds)):
            yield ds.get_data_info(i)['img_path']

    return list(dict.fromkeys(walk(dataset)))


def train_normalization(cfg: Any) -> Optional[dict]:
    """The ``StainNormalize`` step of the training pipelines, if any."""
    return next((step for ds in walk_dataset_cfg(cfg.get('train_dataloader', {}).get('dataset'))
                 for step in _steps(ds.get('pipeline') or [])
                 if step.get('type') == 'StainNormalize'), None)


def _steps(pipeline: list) -> Iterator[dict]:
    for step in pipeline:
        if isinstance(step, dict):
            yield step
            yield from _steps(step.get('transforms') or [])


@HOOKS.register_module()
class StainReferenceHook(Hook):
    """Fit the stain reference on the training split before the first iteration.

    When the training pipeline normalizes stains (``StainNormalize``), the
    model's reference is that step's reference, marked ``trained_on`` its
    method. A resumed run keeps the reference of its checkpoint.
    """

    priority = 'LOW'

    def __init__(self, filename: str = REFERENCE_FILENAME) -> None:
        self.filename = filename
        self.reference: Optional[StainReference] = None

    def before_train(self, runner) -> None:
        if self.reference is None:
            step = train_normalization(runner.cfg)
            if step is not None:
                ref = step['reference']
                self.reference = StainReference.load(ref) if isinstance(ref, str) \
                    else StainReference.from_dict(dict(ref))
                self.reference.trained_on = step.get('method', 'reinhard')
            else:
                paths = dataset_image_paths(runner.train_dataloader.dataset)
                self.reference = fit_reference_from_files(paths)
            runner.logger.info(
                f'stain reference from {self.reference.num_images} training images '
                f'(OOD threshold {self.reference.ood_threshold:.2f})')
        if is_main_process() and runner.work_dir:
            self.reference.save(osp.join(runner.work_dir, self.filename))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.reference is not None:
            checkpoint.setdefault('meta', {})[CHECKPOINT_KEY] = self.reference.to_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = (checkpoint.get('meta') or {}).get(CHECKPOINT_KEY)
        if saved and getattr(runner, '_resume', False):
            self.reference = StainReference.from_dict(saved)
