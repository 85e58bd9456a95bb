"""Remember the output of the deterministic loading steps of a pipeline.

At 128 px the resized training set is tiny (86 fields x 64 KB), but every
sample still decodes a 2592x1944 JPEG and PNG label each epoch; the label alone
costs about a 1/8-scale JPEG decode, so faster JPEG decoding is not enough.
``CachedCompose`` runs "load image -> load label -> Resize" once per file and
replays the small result: a pre-scaled copy without a converter step.

Each process running the pipeline (each DataLoader worker) keeps its own cache;
it survives epochs with ``persistent_workers=True``. Wrappers with the same
``transforms`` config share one store, so the plain and augmented views of a
ConcatDataset load each file once. Past ``max_bytes`` it stops adding.
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.dataset import Compose

from mmseg.registry import TRANSFORMS

#: Transforms whose output depends only on their input (no randomness).
#: Caching anything random would freeze one draw for the whole training run.
DETERMINISTIC = frozenset({'LoadImageFromFile', 'LoadImageFromFileFast',
                           'LoadAnnotations', 'Resize',
                           'RescaleToWorkingScale', 'LabelOtherWhiteCells'})


def _nbytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    return 64


def _unchanged(before: Any, after: Any) -> bool:
    return before is after or (isinstance(before, (list, dict, set, tuple, str, int, float))
                               and type(before) is type(after) and before == after)


class _Store:
    """Cached results of one ``transforms`` config, within a memory budget."""

    def __init__(self) -> None:
        self.entries: dict[tuple, dict] = {}
        self.nbytes = 0


@TRANSFORMS.register_module()
class CachedCompose(BaseTransform):
    """Run ``transforms`` once per (image, label) file pair, then replay them.

    Args:
        transforms: deterministic steps only (see ``DETERMINISTIC``); random
            augmentations belong after this wrapper.
        max_bytes: memory budget of one ``transforms`` config in one process;
            once spent, new files are processed every time but not stored.

    The cache key is ``(img_path, seg_map_path)``; files are assumed not to
    change while a run reads them (``CachedCompose.clear_all()`` forgets).
    Replayed values are copies, so the random augmentations that follow can
    modify them freely.
    """

    _stores: dict[str, _Store] = {}

    def __init__(self, transforms: list[dict], max_bytes: int = 256 * 1024 ** 2) -> None:
        for t in transforms:
            name = t.get('type') if isinstance(t, dict) else type(t).__name__
            if str(name).split('.')[-1] not in DETERMINISTIC:  # 'mmseg.Resize'
                raise ValueError(
                    f'CachedCompose: {name!r} is not known to be '
                    f'deterministic; caching it would repeat one random draw. '
                    f'Allowed: {sorted(DETERMINISTIC)}')
        self.transforms = Compose(transforms)
        self.max_bytes = int(max_bytes)
        # Configs (dicts) with equal repr build equal pipelines: share results.
        shareable = all(isinstance(t, dict) for t in transforms)
        fingerprint = repr(transforms) if shareable else f'id:{id(self)}'
        self._store = self._stores.setdefault(fingerprint, _Store())
        self.hits = self.misses = 0

    def transform(self, results: dict) -> dict | None:
        key = (results.get('img_path'), results.get('seg_map_path'))
        store = self._store
        entry = store.entries.get(key)
        if entry is not None:
            self.hits += 1
            results.update(copy.deepcopy(entry))
            return results
        self.misses += 1
        # Shallow copies of containers, so in-place edits (seg_fields) show up.
        before = {k: copy.copy(v) if isinstance(v, (list, dict, set)) else v
                  for k, v in results.items()}
        out = self.transforms(results)
        if out is None:
            return None
        entry = {k: v for k, v in out.items()
                 if k not in before or not _unchanged(before[k], v)}
        size = _nbytes(entry)
        if store.nbytes + size <= self.max_bytes:
            store.entries[key] = copy.deepcopy(entry)
            store.nbytes += size
        return out

    @classmethod
    def clear_all(cls) -> None:
        """Forget every cached result in this process (files changed, benchmarks)."""
        for store in cls._stores.values():
            store.entries.clear()
            store.nbytes = 0

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(transforms={self.transforms}, '
                f'max_bytes={self.max_bytes})')
