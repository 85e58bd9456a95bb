"""Count blasts in a mask that arrives in row bands (slides, huge images).

A slide's mask is never whole in memory. :class:`BandCounter` keeps only the
rows that still hold an *open* component (one touching the newest row); each
finished component is counted exactly as :func:`~.counting.count_blasts`
counts it, then forgotten, so a blast cut by a band border is counted once.
An open component taller than ``max_rows`` (a smear-wide artefact, never a
cell) is cut there; :attr:`BandCounter.cut_components` says how often.
"""
from __future__ import annotations

from typing import Any, Callable

import cv2
import numpy as np

from .counting import DEFAULT_MIN_BLAST_AREA, SADDLE_RATIO, Blast, component_blasts

__all__ = ['BandCounter']

# Pixels of retained rows beyond which open components are cut (with the
# int32 labels, mask and float16 probability: 7 bytes each).
_MAX_OPEN_PIXELS = 2**25


class BandCounter:
    """Blast counting over a mask fed as consecutive row bands.

    The blasts equal those of :func:`~.counting.count_blasts` on the whole
    mask, numbered in reading order of their component's first pixel.

    Args:
        width: the mask's width.
        min_area, split, saddle_ratio: as for :func:`~.counting.count_blasts`.
        process_rows: label the pending rows once this many have arrived.
        max_rows: the tallest open component followed across bands
            (default: 1024 rows, or more for narrow masks).
        outline: called as ``outline(pixels, x, y)`` on each blast's pixels
            (bool, cropped at ``x, y``) when it is counted; its results are
            :attr:`outlines` after :meth:`finish`, one per blast.
    """

    def __init__(self, width: int, min_area: int = DEFAULT_MIN_BLAST_AREA,
                 split: bool = True, saddle_ratio: float = SADDLE_RATIO,
                 process_rows: int = 512, max_rows: int | None = None,
                 outline: Callable[[np.ndarray, int, int], Any] | None = None
                 ) -> None:
        self.width = width
        self.min_area, self.split, self.saddle_ratio = min_area, split, saddle_ratio
        self.process_rows = process_rows
        self.max_rows = max_rows or max(1024, _MAX_OPEN_PIXELS // max(1, width))
        self.cut_components = 0
        self._mask: list[np.ndarray] = []   # retained rows first, then new
        self._prob: list[np.ndarray] = []
        self._has_prob: bool | None = None
        self._y0 = 0          # image row of the first retained row
        self._pending = 0     # rows added since the last labelling
        self._outline = outline
        self._found: list[tuple[tuple[int, int], int, Blast, Any]] = []
        self.outlines: list[Any] = []

    def add(self, mask_rows: np.ndarray, prob_rows: np.ndarray | None = None
            ) -> None:
        """The next rows of the mask (nonzero = blast) and, optionally, of
        the blast probability (then every band must have one)."""
        if mask_rows.shape[1:] != (self.width,):
            raise ValueError(f'band of shape {mask_rows.shape} for width {self.width}')
        if self._has_prob is None:
            self._has_prob = prob_rows is not None
        if (prob_rows is not None) != self._has_prob:
            raise ValueError('give the probability with every band or none')
        if prob_rows is not None:
            self._prob.append(np.asarray(prob_rows))
        self._mask.append((np.asarray(mask_rows) != 0).astype(np.uint8))
        self._pending += len(mask_rows)
        if self._pending >= self.process_rows:
            self._process(final=False)

    def finish(self) -> list[Blast]:
        """Count what is left; the blasts of the whole mask, labelled 1..n."""
        if self._mask:
            self._process(final=True)
        self._found.sort(key=lambda t: (t[0], t[1]))
        blasts = [b for _, _, b, _ in self._found]
        self.outlines = [o for _, _, _, o in self._found]
        for k, b in enumerate(blasts, start=1):
            b.label = k
        return blasts

    def _process(self, final: bool) -> None:
        mask = np.concatenate(self._mask) if len(self._mask) > 1 else self._mask[0]
        prob = (np.concatenate(self._prob) if len(self._prob) > 1
                else self._prob[0]) if self._has_prob else None
        self._pending = 0
        n, cc, stats, _ = cv2.connectedComponentsWithStats(
            mask, connectivity=8, ltype=cv2.CV_32S)
        last = len(mask) - 1
        tops = stats[1:, cv2.CC_STAT_TOP]
        is_open = (tops + stats[1:, cv2.CC_STAT_HEIGHT] - 1 == last) & (not final)
        keep = int(tops[is_open].min()) if is_open.any() else len(mask)
        if is_open.any() and len(mask) - keep > self.max_rows:
            self.cut_components += int(is_open.sum())
            is_open[:] = False
            keep = len(mask)
        for i in np.flatnonzero(~is_open) + 1:
            self._count(cc, int(i), stats[i], prob)
        if keep < len(mask):
            kept = np.isin(cc[keep:], np.flatnonzero(is_open) + 1)
            self._mask = [kept.astype(np.uint8)]
            self._prob = [] if prob is None else [prob[keep:].copy()]
        else:
            self._mask, self._prob = [], []
        self._y0 += keep

    def _count(self, cc: np.ndarray, i: int, stat: np.ndarray,
               prob: np.ndarray | None) -> None:
        x, y, w, h, area = (int(v) for v in stat)
        if area < self.min_area:
            return
        comp = cc[y:y + h, x:x + w] == i
        first = (self._y0 + y, x + int(np.argmax(comp[0])))
        crop = None if prob is None else prob[y:y + h, x:x + w]
        for k, (sel, x0, y0, blast) in enumerate(component_blasts(
                comp, x, self._y0 + y, self.min_area, self.split,
                self.saddle_ratio, crop)):
            shape = None if self._outline is None else self._outline(sel, x0, y0)
            self._found.append((first, k, blast, shape))
