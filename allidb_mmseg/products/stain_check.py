"""Inference with a model's stain reference: the OOD score per image and optional normalization."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..smear.stain import StainReference, find_stain_reference
from ..utils import AllidbError

__all__ = ['StainCheck', 'load_stain_check', 'ood_summary_line']


@dataclass
class StainCheck:
    """A stain reference and what to do with it.

    Attributes:
        reference: the model's reference.
        normalize: ``'reinhard'``/``'macenko'`` to normalize before segmenting,
            or None.
        source: where the reference came from (for the report's settings).
        only_flagged: normalize only the images flagged as unlike the training
            data; the others are segmented as they are (normalizing a smear
            the model knows costs accuracy, docs/stain_robustness.md).
    """

    reference: StainReference
    normalize: Optional[str] = None
    source: str = ''
    only_flagged: bool = True

    def prepare(self, img_bgr: np.ndarray, row: Any) -> np.ndarray:
        """Score the image as given (``row.ood_score``, ``row.ood_flag``); return
        the image to segment."""
        row.ood_score = self.reference.ood_score(img_bgr)
        row.ood_flag = row.ood_score > 1.0
        if self.normalize and (row.ood_flag or not self.only_flagged):
            return self.reference.normalize(img_bgr, self.normalize)
        return img_bgr

    def settings(self) -> dict[str, Any]:
        return dict(stain_reference=self.source, stain_normalize=self.normalize,
                    stain_normalize_only_flagged=self.only_flagged,
                    ood_threshold=self.reference.ood_threshold)


def load_stain_check(checkpoint: str | os.PathLike, reference: str | None = None,
                     normalize: str | None = None, all_images: bool = False
                     ) -> Optional[StainCheck]:
    """The model's stain check, or None when the model has no reference.

    Args:
        checkpoint: the model's checkpoint (its reference is looked up beside
            it, then inside it).
        reference: an explicit ``stain_reference.json`` instead.
        normalize: ``'auto'`` (the model's training normalization, else
            Reinhard), ``'reinhard'``, ``'macenko'`` or None (no normalization).
        all_images: normalize every image, not only the flagged ones (always
            so for a model trained on normalized images).

    Raises:
        AllidbError: normalization is asked for but the model has no reference.
    """
    if reference:
        ref, source = StainReference.load(reference), str(reference)
    else:
        ref, source = find_stain_reference(checkpoint)
    if ref is None:
        if normalize:
            raise AllidbError(checkpoint, 'no stain reference beside or inside this '
                              'checkpoint to normalize to; fit one with '
                              'tools/analysis_tools/fit_stain_reference.py or give '
                              '--stain-reference')
        return None
    if normalize == 'auto':
        normalize = ref.trained_on or 'reinhard'
    return StainCheck(ref, normalize, source,
                      only_flagged=not (all_images or ref.trained_on))


def ood_summary_line(rows: list) -> Optional[str]:
    """"N of M images look unlike the training data: ..." or None if none does."""
    scored = [r for r in rows if getattr(r, 'ood_flag', None) is not None]
    flagged = sum(bool(r.ood_flag) for r in scored)
    if not flagged:
        return None
    return (f'{flagged} of {len(scored)} images look unlike the training data: '
            'counts may be wrong (ood_flag in the report)')
