"""Match predicted blasts to true blast centres: the counting score of one image.

Matching rule (:func:`match_centres`): a centre inside a predicted blast is a
hit. A predicted blast holding no centre is a false positive. A centre in no
predicted blast is a miss, and so is every centre beyond the first in one
predicted blast (two blasts predicted as one: one hit, one miss).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

import numpy as np

__all__ = ['CountScore', 'hit_labels', 'match_centres']


@dataclass
class CountScore:
    """Scores of one image (or, summed, of a set): see the module docstring."""

    true_count: int
    pred_count: int
    hits: int
    false_positives: int
    misses: int

    @property
    def precision(self) -> float:
        d = self.hits + self.false_positives
        return self.hits / d if d else 1.0

    @property
    def recall(self) -> float:
        d = self.hits + self.misses
        return self.hits / d if d else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @classmethod
    def summed(cls, rows: Iterable[Mapping[str, Any]]) -> 'CountScore':
        """The scores of a set: counts summed over its images' rows
        (micro-averaged precision, recall and F1)."""
        rows = list(rows)
        return cls(*(sum(int(r[k]) for r in rows) for k in (
            'true_count', 'pred_count', 'hits', 'false_positives', 'misses')))

    @property
    def count_error(self) -> int:
        """Predicted minus true count (signed)."""
        return self.pred_count - self.true_count

    def as_dict(self) -> dict:
        return dict(asdict(self), precision=self.precision, recall=self.recall,
                    count_error=self.count_error)


def hit_labels(labels: np.ndarray, centres: np.ndarray) -> set[int]:
    """The predicted blasts (labels > 0) that hold at least one centre.

    A centre is looked up at its pixel ``(floor(y), floor(x))``; centres outside
    the image hit nothing.
    """
    h, w = labels.shape
    found = set()
    for x, y in np.reshape(centres, (-1, 2)):
        xi, yi = int(np.floor(x)), int(np.floor(y))
        if 0 <= xi < w and 0 <= yi < h and labels[yi, xi] > 0:
            found.add(int(labels[yi, xi]))
    return found


def match_centres(labels: np.ndarray, centres: np.ndarray) -> CountScore:
    """Score predicted blast ``labels`` (0 = none, k = blast k) against centres.

    Centres are looked up as by :func:`hit_labels`; centres outside the image
    are misses. Precision or recall with nothing to count is 1.
    """
    n_pred = int(labels.max()) if labels.size else 0
    n_true = int(np.reshape(centres, (-1, 2)).shape[0])
    hits = len(hit_labels(labels, centres))
    return CountScore(true_count=n_true, pred_count=n_pred, hits=hits,
                      false_positives=n_pred - hits, misses=n_true - hits)
