"""The Otsu-threshold baseline, scored with mmseg's IoU arithmetic."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmarks.otsu import evaluate_otsu, otsu_blast_mask
from helpers import jpg_seg_root


def test_otsu_baseline_finds_the_purple_blobs(tmp_path):
    root = jpg_seg_root(tmp_path / 'data', {'test': 3}, size=64)
    result = evaluate_otsu(str(root), 'test', progress=False)
    m = result['metrics']
    # Cross-check mmseg's IoU arithmetic with a direct count.
    inter = union = 0
    for img_path in sorted((root / 'img_dir' / 'test').glob('*.jpg')):
        pred = otsu_blast_mask(cv2.imread(str(img_path)))
        label = cv2.imread(str(root / 'ann_dir' / 'test' /
                               (img_path.stem + '.png')), 0)
        inter += np.logical_and(pred == 1, label == 1).sum()
        union += np.logical_or(pred == 1, label == 1).sum()
    assert m['IoU.lymphoblast'] == pytest.approx(100 * inter / union, abs=0.01)
    assert m['IoU.lymphoblast'] > 60
    # The per-class table of tools/test.py's reports, so tables take both.
    assert result['per_class']['lymphoblast']['IoU'] == \
        pytest.approx(m['IoU.lymphoblast'], abs=0.005)
    assert m['mIoU'] == pytest.approx(
        (m['IoU.lymphoblast'] + m['IoU.background']) / 2, abs=0.01)
