"""Fit a model's smear call on a labelled split and save it beside the checkpoint.

The evidence call (:mod:`allidb_mmseg.evaluation.smear_call`) needs a threshold
chosen on data the model did not train on: the split (``img_dir/<split>``,
``ann_dir/<split>`` of an mmseg data root) is scored as inference scores it, and
the threshold that calls the most images right (ALL: the mask holds a blast) kept.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..evaluation.counting import count_blasts
from ..evaluation.detection import label_blast_centres
from ..evaluation.matching import hit_labels
from ..evaluation.smear_call import SMEAR_CALL_FILE, SmearCall, fit_call
from ..inference.model import segment, working_scale
from ..inference.tiling import BLAST_CLASS
from ..io.image_io import read_image, read_label
from ..utils import AllidbError, refuse_existing, split_pairs
from .pipeline import scaled_min_area

__all__ = ['fields_of_split', 'fit_smear_call_on_split']


def fields_of_split(model: Any, data_root: str | os.PathLike, split: str = 'val',
                    progress: bool = False) -> list[dict]:
    """Each image's counted blasts (area, mean probability, hit) as inference counts them.

    Returns:
        Per image: ``name``, ``min_area``, ``true_count`` (the mask's blasts of
        that area or more) and ``blasts``; a blast is a hit when it holds the
        centre of a blast of the mask.
    """
    pairs = tqdm(split_pairs(data_root, split), desc=f'counting blasts ({split})',
                 unit='image', disable=not progress)
    fields = []
    for img_path, mask_path in pairs:
        img = read_image(img_path)
        label = read_label(mask_path)
        mask, prob = segment(model, img, return_prob=True)
        min_area = scaled_min_area(model, None, working_scale(model, img), img)
        counted = count_blasts(mask == BLAST_CLASS, min_area=min_area, prob=prob)
        centres = label_blast_centres(label, min_area)
        hits = hit_labels(counted.labels, centres)
        fields.append(dict(name=Path(img_path).stem, min_area=min_area,
                           true_count=len(centres),
                           blasts=[dict(area=b.area, mean_prob=b.mean_prob,
                                        hit=b.label in hits) for b in counted.blasts]))
    return fields


def fit_smear_call_on_split(model: Any, checkpoint: str | os.PathLike,
                            data_root: str | os.PathLike, split: str = 'val',
                            force: bool = False, progress: bool = False,
                            size_filter: bool = False) -> SmearCall:
    """Fit the call on ``split`` and write ``smear_call.json`` beside ``checkpoint``.

    Args:
        size_filter: also fit the size filter (the smallest blast counted, as a
            multiple of the minimum blast area; best per-cell F1 on the split).
            Off by default: on the real-data benchmark it doubled in-domain F1
            but lost the targets of another lab (docs/real_data.md).

    Raises:
        AllidbError: the split is missing or empty, or the file exists (without
            ``force``).
    """
    out = Path(checkpoint).with_name(SMEAR_CALL_FILE)
    refuse_existing(out, force)
    fields = fields_of_split(model, data_root, split, progress)
    truth = [f['true_count'] > 0 for f in fields]
    if all(truth) or not any(truth):
        raise AllidbError(Path(data_root) / 'ann_dir' / split,
                          'needs both images with blasts and images without to fit '
                          'the smear call')
    call = fit_call(fields, size_filter)
    call.save(out)
    return call
