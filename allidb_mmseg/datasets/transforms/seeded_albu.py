"""mmseg's ``Albu`` made reproducible under mmengine's ``randomness.seed``."""
from __future__ import annotations

import os

import numpy as np
from mmseg.datasets.transforms import Albu
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class SeededAlbu(Albu):
    """mmseg's ``Albu`` whose albumentations draws follow the run's seed.

    albumentations 2.x draws from a generator of its own, seeded from the OS
    when the ``Compose`` is built, so two runs with the same seed trained on
    different augmentations (and ended with different losses). Here that
    generator is seeded on first use from numpy's global state, which mmengine
    seeds per process and per DataLoader worker: the same seed gives the same
    draws, and workers still draw differently (also when forked from a
    process that had used the transform already). Arguments are ``Albu``'s.
    """

    _seeded_in: int | None = None  # the process whose numpy state seeded it

    def transform(self, results: dict) -> dict:
        if self._seeded_in != os.getpid():
            self.aug.set_random_seed(int(np.random.randint(2**31)))
            self._seeded_in = os.getpid()
        return super().transform(results)
