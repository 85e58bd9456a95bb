"""The smear-level call from evidence: a score over the counted blasts and a fitted threshold.

The one-blast rule (:class:`~.counting.AllRule`, ``blast_count >= 1``) lets a single
normal lymphocyte taken for a blast flip a healthy smear to "ALL suspected". The
evidence call weighs every counted blast by how sure the model is of it and how
blast-sized it is, sums the weights into a smear score, and flags the smear when the
score reaches a threshold chosen on validation fields (:func:`fit_smear_call`) and
saved with the model (``smear_call.json`` beside the checkpoint).

A blast's evidence is ``mean_prob * min(1, area / expected_area)``, where the expected
area is that of a typical blast at the image's scale (the minimum blast area divided
by :data:`~allidb_mmseg.smear.cell_scale.MIN_BLAST_AREA_FRACTION`): a confident
blast of full size counts 1, a faint or small one less.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..smear.cell_scale import MIN_BLAST_AREA_FRACTION
from ..utils import AllidbError, atomic_write_json

__all__ = ['SmearCall', 'SMEAR_CALL_FILE', 'smear_score', 'fit_smear_call',
           'find_smear_call']

SMEAR_CALL_FILE = 'smear_call.json'


def _get(blast: object, key: str) -> float | None:
    return blast.get(key) if isinstance(blast, Mapping) else getattr(blast, key)


def smear_score(blasts: Iterable[object], min_area: int) -> float:
    """The smear score: the summed evidence of the counted blasts.

    Args:
        blasts: counted blasts (:class:`~.counting.Blast` or dicts with ``area``
            and ``mean_prob``; a missing probability counts as 1).
        min_area: the minimum blast area the blasts were counted with.
    """
    expected = max(1.0, min_area / MIN_BLAST_AREA_FRACTION)
    total = 0.0
    for b in blasts:
        prob = _get(b, 'mean_prob')
        total += (1.0 if prob is None else float(prob)) * min(1.0, _get(b, 'area') / expected)
    return total


@dataclass(frozen=True)
class SmearCall:
    """Flag a smear as ALL-suspected when its score reaches ``threshold``.

    ``fitted_on`` says where the threshold came from (fields, accuracy there).
    """

    threshold: float = 0.5
    fitted_on: str = 'default: one confident full-size blast'

    def applies(self, score: float) -> bool:
        return score >= self.threshold

    def text(self) -> str:
        return f'smear_score >= {self.threshold:.3g} ({self.fitted_on})'

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, asdict(self))

    @classmethod
    def load(cls, path: str | Path) -> SmearCall:
        """Read a saved call; one-line error when the file is not one."""
        try:
            d = json.loads(Path(path).read_text())
            return cls(threshold=float(d['threshold']), fitted_on=str(d.get('fitted_on', '')))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise AllidbError(path, f'is not a smear-call file ({e.__class__.__name__}: {e})')


def fit_smear_call(scores: Sequence[float], truth: Sequence[bool]) -> SmearCall:
    """The threshold that calls the most validation smears right.

    Args:
        scores: each validation smear's :func:`smear_score`.
        truth: whether each holds blasts (ALL).

    Among equally accurate thresholds the one in the middle of the widest gap
    between the scores of healthy and ALL smears is taken (the largest margin).
    """
    if len(scores) == 0 or len(scores) != len(truth):
        raise AllidbError('validation', 'no smears (or not one truth per score) to fit '
                          'the smear call on')
    scores, truth = np.asarray(scores, np.float64), np.asarray(truth, bool)
    levels = np.unique(scores)
    cuts = np.concatenate([[levels[0] / 2 if levels[0] > 0 else 1e-6],
                           (levels[:-1] + levels[1:]) / 2, [levels[-1] + 1.0]])
    acc = np.array([np.mean((scores >= c) == truth) for c in cuts])
    best = np.flatnonzero(acc == acc.max())
    # The widest run of equally good cuts; its middle.
    runs = np.split(best, np.flatnonzero(np.diff(best) > 1) + 1)
    run = max(runs, key=lambda r: (cuts[r[-1]] - cuts[r[0]], -r[0]))
    threshold = float((cuts[run[0]] + cuts[run[-1]]) / 2)
    return SmearCall(threshold=max(threshold, 1e-6),
                     fitted_on=f'{len(scores)} validation smears, accuracy {acc.max():.3f}')


def find_smear_call(checkpoint: str | Path | None) -> SmearCall | None:
    """The call saved beside ``checkpoint`` (``smear_call.json``), or None."""
    if not checkpoint:
        return None
    path = Path(checkpoint).with_name(SMEAR_CALL_FILE)
    return SmearCall.load(path) if path.is_file() else None
