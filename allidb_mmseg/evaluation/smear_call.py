"""The smear-level call from evidence: a score over the counted blasts and a fitted threshold.

Why: under the one-blast rule (:class:`~.counting.AllRule`) a single normal lymphocyte
taken for a blast flips a healthy smear to "ALL suspected". Here each counted blast
weighs ``mean_prob * min(1, area / expected_area)`` (the expected area: the minimum
blast area divided by :data:`~allidb_mmseg.smear.cell_scale.MIN_BLAST_AREA_FRACTION`),
and the smear is flagged when the summed weights reach a threshold fitted on validation
fields and saved with the model (``smear_call.json`` beside the checkpoint).

The call also carries a fitted size filter, ``min_area_factor``: on real smears most
false blasts are fragments of other white cells, smaller than a whole blast
(docs/real_data.md).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..smear.cell_scale import MIN_BLAST_AREA_FRACTION
from ..utils import AllidbError, atomic_write_json, onnx_sidecar_entry
from .matching import CountScore

__all__ = ['SmearCall', 'SMEAR_CALL_FILE', 'AREA_FACTORS', 'smear_score', 'fit_smear_call',
           'fit_min_area_factor', 'fit_call', 'kept_blasts', 'detection_f1',
           'find_smear_call']

SMEAR_CALL_FILE = 'smear_call.json'
# The size filters tried on validation, as multiples of the minimum blast area.
AREA_FACTORS = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0)


def counted_area(min_area: int, factor: float) -> int:
    """The smallest blast counted under a size filter of ``factor``."""
    return max(1, int(round(min_area * factor)))


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
    Blasts under ``min_area_factor`` times the minimum blast area are not
    counted at all (:meth:`counted_area`).
    """

    threshold: float = 0.5
    fitted_on: str = 'default: one confident full-size blast'
    min_area_factor: float = 1.0

    def applies(self, score: float) -> bool:
        return score >= self.threshold

    def counted_area(self, min_area: int) -> int:
        """The smallest blast counted, given the minimum blast area."""
        return counted_area(min_area, self.min_area_factor)

    def text(self) -> str:
        size = f'; blasts of >= {self.min_area_factor:g}x the minimum area' \
            if self.min_area_factor != 1.0 else ''
        return f'smear_score >= {self.threshold:.3g} ({self.fitted_on}{size})'

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, asdict(self))

    @classmethod
    def from_dict(cls, d: Mapping) -> SmearCall:
        """From :meth:`save`'s fields; KeyError, TypeError or ValueError when
        they are missing or wrong."""
        call = cls(threshold=float(d['threshold']), fitted_on=str(d.get('fitted_on', '')),
                   min_area_factor=float(d.get('min_area_factor', 1.0)))
        if not call.min_area_factor >= 1.0:
            raise ValueError(f'min_area_factor must be at least 1, got {call.min_area_factor}')
        return call

    @classmethod
    def load(cls, path: str | Path) -> SmearCall:
        """Read a saved call; one-line error when the file is not one."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise AllidbError(path, f'is not a smear-call file ({e.__class__.__name__}: {e})')


def fit_smear_call(scores: Sequence[float], truth: Sequence[bool],
                   min_area_factor: float = 1.0) -> SmearCall:
    """The threshold that calls the most validation smears right.

    Args:
        scores: each validation smear's :func:`smear_score`.
        truth: whether each holds blasts (ALL).
        min_area_factor: the size filter the scores were taken with (kept in
            the call).

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
                     fitted_on=f'{len(scores)} validation smears, accuracy {acc.max():.3f}',
                     min_area_factor=min_area_factor)


def kept_blasts(field: Mapping, factor: float = 1.0) -> tuple[list, int]:
    """A field's blasts that a size filter of ``factor`` keeps, and its counted area.

    Fitting filters the blasts counted at the minimum area. Inference counts at
    the larger area itself, where touching blasts are split a little less
    readily, so its counts can differ slightly from the fitted ones.

    Args:
        field: ``min_area`` (the minimum blast area it was counted with) and
            ``blasts`` (each with ``area``).
        factor: the size filter, a multiple of ``min_area``.
    """
    area = counted_area(field['min_area'], factor)
    return [b for b in field['blasts'] if _get(b, 'area') >= area], area


def detection_f1(fields: Iterable[Mapping], factor: float = 1.0) -> tuple[float, float, float]:
    """Per-cell (precision, recall, F1) counting only the blasts a size filter keeps.

    Args:
        fields: per field ``true_count``, ``min_area`` and ``blasts``, each with
            ``area`` and ``hit`` (a truth centre lies in it;
            :func:`~.matching.hit_labels`).
        factor: the size filter, a multiple of each field's ``min_area``.
    """
    hits = pred = true = 0
    for f in fields:
        true += f['true_count']
        kept = [bool(_get(b, 'hit')) for b in kept_blasts(f, factor)[0]]
        hits += sum(kept)
        pred += len(kept)
    score = CountScore(true, pred, hits, false_positives=pred - hits, misses=true - hits)
    return score.precision, score.recall, score.f1


def fit_min_area_factor(fields: Sequence[Mapping],
                        factors: Sequence[float] = AREA_FACTORS) -> float:
    """The size filter with the best per-cell F1 on validation fields.

    Args:
        fields: as for :func:`detection_f1`.
        factors: the multiples of the minimum blast area tried; among equal F1
            the smallest wins (1.0, no filter, unless a filter helps).
    """
    if not fields:
        raise AllidbError('validation', 'no fields to fit the size filter on')
    f1 = [detection_f1(fields, k)[2] for k in factors]
    return float(factors[int(np.argmax(f1))])


def fit_call(fields: Sequence[Mapping], size_filter: bool = False) -> SmearCall:
    """The size filter (when ``size_filter``), then the threshold, on validation fields.

    ``fields`` are as for :func:`detection_f1`, each blast with ``mean_prob`` too.
    """
    factor = fit_min_area_factor(fields) if size_filter else 1.0
    scores = [smear_score(*kept_blasts(f, factor)) for f in fields]
    return fit_smear_call(scores, [f['true_count'] > 0 for f in fields], factor)


def find_smear_call(checkpoint: str | Path | None) -> SmearCall | None:
    """The call saved with a model, or None.

    Looks for ``smear_call.json`` beside the checkpoint; for an exported
    ``.onnx`` model, then in its sidecar (``smear_call``, copied there by the
    export).
    """
    if not checkpoint:
        return None
    path = Path(checkpoint).with_name(SMEAR_CALL_FILE)
    if path.is_file():
        return SmearCall.load(path)
    saved = onnx_sidecar_entry(checkpoint, 'smear_call')
    if not saved:
        return None
    try:
        return SmearCall.from_dict(saved)
    except (KeyError, TypeError, ValueError) as e:
        raise AllidbError(Path(checkpoint).with_suffix('.json'),
                          f'smear_call is not a smear call ({e.__class__.__name__}: {e})')
