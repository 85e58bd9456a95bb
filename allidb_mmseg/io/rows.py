"""Pixels read a band of rows at a time (an image or a slide level, so one
inference path serves both), and results that arrive the same way."""
from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np

__all__ = ['RowSource', 'ArraySource', 'Band']


class RowSource(Protocol):
    """Pixels readable a band of rows at a time (an image, a slide level)."""

    height: int
    width: int

    def read_rows(self, y0: int, y1: int) -> np.ndarray:
        """Rows ``y0:y1``, full width, as uint8 BGR ``(y1 - y0, width, 3)``."""


class ArraySource:
    """A :class:`RowSource` over an image already in memory."""

    def __init__(self, img: np.ndarray) -> None:
        self.img = img
        self.height, self.width = img.shape[:2]

    def read_rows(self, y0: int, y1: int) -> np.ndarray:
        return self.img[y0:y1]


class Band(NamedTuple):
    """Rows ``y0:y0 + len(mask)`` of the result at source resolution."""

    y0: int
    mask: np.ndarray  # (rows, W) uint8 class indices
    prob: np.ndarray  # (rows, W) float16 probability of the blast class
