"""mmseg's ``Albu`` made reproducible under mmengine's ``randomness.seed``."""
from __future__ import annotations

import os

import numpy as np
from mmseg.datasets.transforms import Albu
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class SeededAlbu(Albu):
    """mmseg's ``Albu`` whose albumentations draws follow the run's seed.

    albumentations 2.x seeds its own generator from the OS, so two runs with
    the same seed trained on different augmentations. Here it is seeded on
    first use in each process from numpy's global state, which mmengine seeds
    per process and DataLoader worker: same seed, same draws, and workers
    (forked ones too) still differ. Arguments are ``Albu``'s.
    """

    _seeded_in: int | None = None  # the process whose numpy state seeded it

    def transform(self, results: dict) -> dict:
        if self._seeded_in != os.getpid():
            self.aug.set_random_seed(int(np.random.randint(2**31)))
            self._seeded_in = os.getpid()
        return super().transform(results)
