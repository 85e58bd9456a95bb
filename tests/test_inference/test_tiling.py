"""The backend-agnostic tiling engine: geometry, seam-free stitching, streaming."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from allidb_mmseg.inference import tiling
from allidb_mmseg.inference.tiling import (ArraySource, Preprocessing, TileSettings,
                                      blend_window, collect_bands, resize_rows,
                                      tile_starts, tiled_bands, working_size)
from helpers import run_py

PRE = Preprocessing(mean=(100.0, 110.0, 120.0), std=(50.0, 55.0, 60.0),
                    bgr_to_rgb=True)


def pointwise(batch: np.ndarray) -> np.ndarray:
    """A two-class 'model' that looks at one pixel only."""
    l1 = 0.7 * batch[:, 0] - 0.3 * batch[:, 1] + 0.1 * batch[:, 2]
    return np.stack([np.zeros_like(l1), l1], 1)


def box5(batch: np.ndarray) -> np.ndarray:
    """A 'model' that sees 2 pixels around each pixel; at a tile's edge it
    sees the edge replicated, i.e. wrong context, as a CNN sees padding."""
    blurred = np.stack([np.stack([cv2.blur(c, (5, 5),
                                           borderType=cv2.BORDER_REPLICATE)
                                  for c in t]) for t in batch])
    return pointwise(blurred)


def whole_result(img: np.ndarray, predict, work=None):
    """What the model gives on the whole (rescaled) image, resized back."""
    h, w = img.shape[:2]
    work = work or (h, w)
    wimg = resize_rows(img, work[1], work[0], 0, work[0], False)
    planes = tiling._planes(predict(PRE(wimg[None])))[0]
    planes = np.stack([resize_rows(p, w, h, 0, h, False) for p in planes])
    return tiling._classify(planes, 2, 0.5)


def random_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


def test_importing_the_engine_and_slide_io_needs_no_torch():
    code = ('import sys\n'
            'import allidb_mmseg.inference.tiling, allidb_mmseg.io.slides\n'
            'import allidb_mmseg.io.mask_writers, allidb_mmseg.evaluation.band_counting\n'
            "print(sorted(m for m in ('torch', 'mmseg', 'mmengine', 'mmcv')"
            ' if m in sys.modules))')
    r = run_py(code)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == '[]'


@pytest.mark.parametrize('align', [False, True])
def test_band_resize_equals_torch_bilinear(align, monkeypatch):
    import torch
    import torch.nn.functional as F

    monkeypatch.setattr(tiling, '_RESAMPLE_COLS', 7)  # column chunks too
    src = np.random.default_rng(1).normal(size=(7, 9)).astype(np.float32)
    ref = F.interpolate(torch.from_numpy(src)[None, None], size=(53, 41),
                        mode='bilinear', align_corners=align)[0, 0].numpy()
    bands = [resize_rows(src, 41, 53, y0, min(53, y0 + 10), align)
             for y0 in range(0, 53, 10)]
    np.testing.assert_allclose(np.concatenate(bands), ref, atol=1e-5)
    # a band given only the source rows it needs gives the same values
    part = resize_rows(src[2:6], 41, 53, 20, 30, align, src_y0=2, src_h=7)
    np.testing.assert_array_equal(part, bands[2])


def test_image_resize_matches_opencv():
    img = random_image(61, 83)
    ours = resize_rows(img, 50, 37, 0, 37, False)
    ref = cv2.resize(img, (50, 37), interpolation=cv2.INTER_LINEAR)
    assert ours.dtype == np.uint8
    assert np.abs(ours.astype(int) - ref).max() <= 1  # cv2's fixed point


@pytest.mark.parametrize('size,crop,stride,expected', [
    (10, 4, 3, [0, 3, 6]), (11, 4, 3, [0, 3, 6, 7]), (3, 4, 2, [0]),
    (8, 8, 8, [0]), (17, 8, 8, [0, 8, 9])])
def test_tile_starts_follow_mmseg_slide_grid(size, crop, stride, expected):
    assert tile_starts(size, crop, stride) == expected


def test_blend_weights_cover_every_pixel_and_spare_borders():
    starts = tile_starts(100, 32, 20)
    cover = np.zeros(100)
    for i, y in enumerate(starts):
        w = blend_window(starts, 32, i, 'cosine')
        cover[y:y + 32] += w
        if i == 0:
            assert w[0] == 1  # the image border is not faded
        else:
            assert w[0] == 0  # an inner edge is
    assert cover.min() > 0.2


@pytest.mark.parametrize('shape', [(97, 131), (40, 33)])
@pytest.mark.parametrize('scale', [1.0, 0.6, 1.7])
@pytest.mark.parametrize('blend', ['cosine', 'mean'])
def test_tiled_equals_whole_for_a_pointwise_model(shape, scale, blend):
    """Every pixel lands where it belongs, at any rescale and tile layout."""
    img = random_image(*shape)
    work = working_size(*shape, scale)
    st = TileSettings(crop=(32, 48), stride=(24, 30), batch_size=3, blend=blend)
    mask, prob = collect_bands(tiled_bands(ArraySource(img), pointwise, PRE,
                                           st, work), *shape)
    ref_mask, ref_prob = whole_result(img, pointwise, work)
    assert (mask == ref_mask).all()
    np.testing.assert_allclose(prob.astype(np.float32), ref_prob, atol=5e-4)


def test_no_seam_for_a_model_with_local_context():
    """A model that misreads the 2 pixels next to a tile edge: the smooth
    blend hides that completely; mmseg's uniform mean shows it as seams."""
    img = random_image(150, 170, 3)
    _, ref = whole_result(img, box5)
    errors = {}
    for blend in ('cosine', 'mean'):
        st = TileSettings(crop=(48, 64), stride=(32, 40), blend=blend)
        _, prob = collect_bands(tiled_bands(ArraySource(img), box5, PRE, st),
                                150, 170)
        errors[blend] = np.abs(prob.astype(np.float32) - ref.astype(np.float32))
    assert errors['cosine'].max() < 5e-4
    assert errors['mean'].max() > 0.05


class RecordingSource(ArraySource):
    def __init__(self, img):
        super().__init__(img)
        self.reads = []

    def read_rows(self, y0, y1):
        self.reads.append((y0, y1))
        return super().read_rows(y0, y1)


@pytest.mark.parametrize('scale', [1.0, 0.5])
def test_rows_are_read_lazily_and_results_stream(scale):
    """A tall image: reads are a tile row high, and the first band comes out
    before most of the image has been read."""
    img = random_image(1200, 50)
    src = RecordingSource(img)
    st = TileSettings(crop=(64, 64), stride=(48, 48))
    bands = tiled_bands(src, pointwise, PRE, st, working_size(1200, 50, scale))
    first = next(bands)
    assert first.y0 == 0 and len(first.mask) > 0
    assert max(y1 for _, y1 in src.reads) < 300
    rest = list(bands)
    assert max(y1 - y0 for y0, y1 in src.reads) <= 64 / scale + 3
    ys = [first.y0 + len(first.mask)] + [b.y0 + len(b.mask) for b in rest]
    assert [b.y0 for b in rest] == ys[:-1] and ys[-1] == 1200  # in order


def test_preprocessing_matches_mmseg():
    import torch

    import allidb_mmseg.compat  # noqa: F401  (before mmseg)
    from mmseg.models.data_preprocessor import SegDataPreProcessor

    cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
               bgr_to_rgb=True)
    img = random_image(20, 30)
    ref = SegDataPreProcessor(**cfg)(
        dict(inputs=[torch.from_numpy(img.transpose(2, 0, 1).copy())]),
        False)['inputs'][0].numpy()
    np.testing.assert_array_equal(Preprocessing.from_config(cfg)(img[None])[0], ref)


def test_bad_settings_and_backend_output_are_refused():
    with pytest.raises(ValueError, match='gaps'):
        TileSettings(crop=(32, 32), stride=(40, 16))
    st = TileSettings(crop=(16, 16), stride=(16, 16))
    with pytest.raises(ValueError, match='predict returned shape'):
        list(tiled_bands(ArraySource(random_image(20, 20)),
                         lambda b: np.zeros((1, 2, 8, 8), np.float32), PRE, st))
