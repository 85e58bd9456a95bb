"""Fit a model's smear call on a labelled split and save it beside the checkpoint.

The evidence call (:mod:`allidb_mmseg.evaluation.smear_call`) needs a threshold
chosen on data the model did not train on. This runs the model over a split of an
mmseg data root (``img_dir/<split>``, ``ann_dir/<split>``), scores each image as
inference does (the same working scale, minimum blast area and counting), and keeps
the threshold that calls the most images right (ALL: the mask holds blast pixels).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..evaluation.counting import count_blasts
from ..evaluation.smear_call import SMEAR_CALL_FILE, SmearCall, fit_smear_call, smear_score
from ..inference.model import segment, working_scale
from ..inference.tiling import BLAST_CLASS
from ..io.image_io import read_image
from ..utils import AllidbError, refuse_existing, split_pairs
from .pipeline import scaled_min_area

__all__ = ['smear_scores_of_split', 'fit_smear_call_on_split']


def smear_scores_of_split(model: Any, data_root: str | os.PathLike, split: str = 'val',
                          progress: bool = False) -> tuple[list[float], list[bool]]:
    """Each image's smear score and whether its mask holds blast pixels."""
    pairs = split_pairs(data_root, split)
    if progress:
        from tqdm import tqdm
        pairs = tqdm(pairs, desc=f'smear scores ({split})', unit='image')
    scores, truth = [], []
    for img_path, mask_path in pairs:
        img = read_image(img_path)
        label = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
        if label is None:
            raise AllidbError(mask_path, 'cannot be read as a mask')
        mask, prob = segment(model, img, return_prob=True)
        min_area = scaled_min_area(model, None, working_scale(model, img), img)
        blasts = count_blasts(mask == BLAST_CLASS, min_area=min_area, prob=prob).blasts
        scores.append(smear_score(blasts, min_area))
        truth.append(bool(np.any(label == BLAST_CLASS)))
    return scores, truth


def fit_smear_call_on_split(model: Any, checkpoint: str | os.PathLike,
                            data_root: str | os.PathLike, split: str = 'val',
                            force: bool = False, progress: bool = False) -> SmearCall:
    """Fit the call on ``split`` and write ``smear_call.json`` beside ``checkpoint``.

    Raises:
        AllidbError: the split is missing or empty, or the file exists (without
            ``force``).
    """
    out = Path(checkpoint).with_name(SMEAR_CALL_FILE)
    refuse_existing(out, force)
    scores, truth = smear_scores_of_split(model, data_root, split, progress)
    if all(truth) or not any(truth):
        raise AllidbError(Path(data_root) / 'ann_dir' / split,
                          'needs both images with blasts and images without to fit '
                          'the smear call')
    call = fit_smear_call(scores, truth)
    call.save(out)
    return call
