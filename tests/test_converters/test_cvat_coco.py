"""Our COCO RLE decoder: pycocotools' pixels, and Ctrl-C stays Ctrl-C."""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from allidb_mmseg.converters.cvat_coco import decode_rle, rle_runs


def test_decode_rle_gives_the_pixels_of_pycocotools():
    rng = np.random.default_rng(0)
    masks = [np.zeros((7, 5)), np.ones((5, 7)), np.eye(40)]
    masks += [rng.random(rng.integers(1, 80, 2)) < rng.random() for _ in range(200)]
    big = np.zeros((1944, 2592))
    big[100:900, 50:2000] = 1  # runs past 2**20: long run-length codes
    for mask in masks + [big]:
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        with warnings.catch_warnings():  # pycocotools vs numpy 2
            warnings.simplefilter('ignore', DeprecationWarning)
            expected = mask_utils.decode(rle).astype(bool)
        got = decode_rle(rle)
        assert got.shape == mask.shape
        assert (got == expected).all()
        assert decode_rle(dict(rle, counts=rle['counts'].decode())).sum() == expected.sum()


@pytest.mark.parametrize('counts, problem', [
    (b'0 ', 'invalid character'), (b'1P', 'ends inside a run length'),
    (b'011@', 'negative run length')])
def test_malformed_rle_strings_are_refused(counts, problem):
    with pytest.raises(ValueError, match=problem):
        rle_runs(counts)


CHILD = """
import sys
from allidb_mmseg.converters.coco_masks import rasterize
seg = [[10, 10, 500, 20, 480, 700, 30, 650]]
print('go', flush=True)
try:
    while True:
        rasterize([{'id': 1, 'category_id': 1, 'segmentation': seg}], 800, 600,
                  {1: 1}, 'x.json')
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_ctrl_c_while_rasterizing_is_a_keyboard_interrupt():
    # pycocotools' decode dropped a Ctrl-C that landed inside it about half
    # the time, and raised a TypeError instead (numpy 2's __array__ fallback).
    rng = random.Random(0)
    for _ in range(6):
        child = subprocess.Popen([sys.executable, '-c', CHILD], text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert child.stdout.readline() == 'go\n'
        time.sleep(rng.uniform(0.05, 0.15))
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
        assert child.returncode == 130, err[-2000:]
