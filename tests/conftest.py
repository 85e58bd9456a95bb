"""Shared fixtures: small data and tiny models, so real mmseg code runs fast."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
REPO = Path(__file__).resolve().parents[1]


def run_py(code: str, *, cwd: Path | None = None, timeout: int = 600
           ) -> subprocess.CompletedProcess:
    """Run a Python snippet in a fresh interpreter (for import-order checks)."""
    return subprocess.run([sys.executable, '-c', code], cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=timeout)


def write_random_seg_root(root: Path, splits: dict[str, int], size: int = 32,
                          seed: int = 0) -> Path:
    """mmseg layout (img_dir/SPLIT/*.png, ann_dir/SPLIT/*.png) of blob images."""
    rng = np.random.default_rng(seed)
    for split, n in splits.items():
        (root / 'img_dir' / split).mkdir(parents=True, exist_ok=True)
        (root / 'ann_dir' / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            mask = np.zeros((size, size), np.uint8)
            cx, cy = rng.integers(6, size - 6, 2)
            cv2.circle(mask, (int(cx), int(cy)), int(rng.integers(3, 6)), 1, -1)
            img = np.full((size, size, 3), 200, np.uint8)
            img[mask == 1] = (150, 40, 90)
            img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / 'img_dir' / split / f'im{i:03d}.png'), img)
            cv2.imwrite(str(root / 'ann_dir' / split / f'im{i:03d}.png'), mask)
    return root


TINY_MIT = dict(
    type='MixVisionTransformer', in_channels=3, embed_dims=8, num_stages=4,
    num_layers=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], patch_sizes=[7, 3, 3, 3],
    sr_ratios=[8, 4, 2, 1], out_indices=(0, 1, 2, 3), mlp_ratio=2,
    qkv_bias=True, drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=0.0)


@pytest.fixture
def tiny_seg_root(tmp_path: Path) -> Path:
    return write_random_seg_root(tmp_path / 'data', {'train': 4, 'val': 2})
