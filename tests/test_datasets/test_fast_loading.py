"""Reduced JPEG decoding and the loading cache: same labels, near-same images."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from allidb_mmseg.datasets.transforms import CachedCompose, LoadImageFromFileFast
from allidb_mmseg.datasets.transforms.fast_loading import choose_factor, jpeg_size
from helpers import TINY_MIT
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

init_default_scope('mmseg')
CROP = 64
H, W = 540, 720  # 1/8 decode: 68x90, the largest reduction that stays >= 64


def _field(rng: np.random.Generator, h: int = H, w: int = W
           ) -> tuple[np.ndarray, np.ndarray]:
    """Smear-like image (smooth discs, mild noise) and its 0/1 blast mask."""
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (205, 190, 215)
    mask = np.zeros((h, w), np.uint8)
    for _ in range(25):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(img, c, int(rng.integers(12, 20)), (160, 120, 200), -1)
    for _ in range(3):
        c = (int(rng.integers(40, w - 40)), int(rng.integers(40, h - 40)))
        r = int(rng.integers(18, 35))
        cv2.circle(img, c, r, (140, 50, 100), -1)
        cv2.circle(mask, c, r, 1, -1)
    img = cv2.GaussianBlur(img, (0, 0), 1.5)
    img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    return img, mask


@pytest.fixture(scope='module')
def field(tmp_path_factory) -> tuple[Path, Path, np.ndarray]:
    d = tmp_path_factory.mktemp('field')
    img, mask = _field(np.random.default_rng(0))
    cv2.imwrite(str(d / 'f.jpg'), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    cv2.imwrite(str(d / 'f.png'), mask)
    return d / 'f.jpg', d / 'f.png', mask


def _sample(img: Path, ann: Path) -> dict:
    return dict(img_path=str(img), seg_map_path=str(ann), reduce_zero_label=False,
                seg_fields=[])


RESIZE = dict(type='Resize', scale=(CROP, CROP), keep_ratio=False)
ANN = dict(type='LoadAnnotations', reduce_zero_label=False)
FAST = dict(type='LoadImageFromFileFast', target_scale=(CROP, CROP))
PACK = dict(type='PackSegInputs')


def test_choose_factor_keeps_resize_a_downsample():
    assert choose_factor((1944, 2592), (128, 128)) == 8   # 243x324
    assert choose_factor((1944, 2592), (256, 256)) == 4   # 486x648
    assert choose_factor((1944, 2592), (1024, 1024)) == 1  # 972 < 1024
    assert choose_factor((652, 1226), (128, 128)) == 4    # 82 < 128 at 1/8
    assert choose_factor((1944, 2592), (128, 128), factors=(2,)) == 2


def test_train_pipeline_matches_naive(field):
    """Masks identical (nearest from full size); images close; meta right."""
    img, ann, mask = field
    naive = Compose([dict(type='LoadImageFromFile'), ANN, RESIZE, PACK])
    fast = Compose([dict(type='CachedCompose', transforms=[FAST, ANN, RESIZE]), PACK])
    a, b = naive(_sample(img, ann)), fast(_sample(img, ann))
    ga, gb = a['data_samples'].gt_sem_seg.data, b['data_samples'].gt_sem_seg.data
    assert torch.equal(ga, gb)
    assert set(gb.unique().tolist()) == {0, 1}
    # Reduced DCT decoding + bilinear vs full decode + bilinear: both are
    # approximations of an area average; we allow 3 grey levels on average.
    ia, ib = a['inputs'].float(), b['inputs'].float()
    assert ia.shape == ib.shape == (3, CROP, CROP)
    assert (ia - ib).abs().mean() < 3.0
    # ... and reduced decoding is the better-filtered of the two
    ref = cv2.resize(cv2.imread(str(img)), (CROP, CROP), interpolation=cv2.INTER_AREA)
    ref = torch.from_numpy(ref.transpose(2, 0, 1)).float()
    assert (ib - ref).abs().mean() <= (ia - ref).abs().mean()
    meta = b['data_samples'].metainfo
    assert meta['ori_shape'] == a['data_samples'].metainfo['ori_shape'] == (H, W)
    assert meta['img_shape'] == (CROP, CROP)


def test_loader_reports_full_shape_and_factor(field):
    img, ann, _ = field
    out = LoadImageFromFileFast(target_scale=(CROP, CROP))(_sample(img, ann))
    assert out['ori_shape'] == (H, W)
    assert out['img_shape'] == out['img'].shape[:2] == (68, 90)
    assert out['decode_factor'] == 8
    big = LoadImageFromFileFast(target_scale=(W, H))(_sample(img, ann))
    assert big['decode_factor'] == 1 and big['img'].shape[:2] == (H, W)


def test_test_pipeline_predicts_at_label_resolution(field):
    """Validation: prediction is resized to ori_shape = the full label size."""
    from mmseg.registry import MODELS
    img, ann, mask = field
    pipe = Compose([FAST, RESIZE, ANN, PACK])
    data = pipe(_sample(img, ann))
    assert data['data_samples'].gt_sem_seg.data.shape[-2:] == mask.shape
    from mmengine.config import ConfigDict
    model = MODELS.build(ConfigDict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', size_divisor=32),
        backbone=TINY_MIT,
        decode_head=dict(type='SegformerHead', in_channels=[8, 8, 8, 8],
                         in_index=[0, 1, 2, 3], channels=8, num_classes=2,
                         loss_decode=dict(type='CrossEntropyLoss')),
        test_cfg=dict(mode='whole'))).eval()
    with torch.no_grad():
        pred = model.test_step(dict(inputs=[data['inputs']],
                                    data_samples=[data['data_samples']]))[0]
    assert pred.pred_sem_seg.data.shape[-2:] == mask.shape


def test_non_jpeg_falls_back_to_full_decode(tmp_path, field):
    _, ann, _ = field
    img, _ = _field(np.random.default_rng(1), 200, 300)
    png = tmp_path / 'x.png'
    cv2.imwrite(str(png), img)
    out = LoadImageFromFileFast(target_scale=(CROP, CROP))(_sample(png, ann))
    assert out['decode_factor'] == 1
    assert np.array_equal(out['img'], img)
    assert jpeg_size(png.read_bytes()) is None


def test_exif_rotated_jpeg_gets_oriented_shape(tmp_path, field):
    """cv2 applies EXIF orientation; ori_shape must follow (it sizes the label)."""
    _, ann, _ = field
    img, _ = _field(np.random.default_rng(2), 520, 700)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    path = tmp_path / 'rot.jpg'
    Image.fromarray(img[..., ::-1]).save(path, exif=exif.tobytes(), quality=90)
    full = cv2.imread(str(path))
    assert full.shape[:2] == (700, 520)  # cv2 rotated it
    out = LoadImageFromFileFast(target_scale=(CROP, CROP))(_sample(path, ann))
    assert out['ori_shape'] == (700, 520)
    assert out['img_shape'] == (88, 65) and out['decode_factor'] == 8


def test_cache_replays_equal_copies(field):
    img, ann = field[:2]
    CachedCompose.clear_all()
    cached = CachedCompose([FAST, ANN, RESIZE])
    first = cached(_sample(img, ann))
    first['img'][:] = 0  # a later augmentation editing in place
    first['gt_seg_map'][:] = 7
    second = cached(_sample(img, ann))
    ref = Compose([FAST, ANN, RESIZE])(_sample(img, ann))
    assert (cached.hits, cached.misses) == (1, 1)
    assert np.array_equal(second['img'], ref['img'])
    assert np.array_equal(second['gt_seg_map'], ref['gt_seg_map'])
    assert second['seg_fields'] == ['gt_seg_map']
    assert second['ori_shape'] == (H, W)
    # a second wrapper with the same config shares the store
    twin = CachedCompose([FAST, ANN, RESIZE])
    twin(_sample(img, ann))
    assert twin.hits == 1
    # no budget, no caching
    CachedCompose.clear_all()
    tight = CachedCompose([FAST, ANN, RESIZE], max_bytes=0)
    tight(_sample(img, ann))
    tight(_sample(img, ann))
    assert (tight.hits, tight.misses) == (0, 2)


def test_cache_refuses_random_transforms():
    with pytest.raises(ValueError, match='RandomFlip'):
        CachedCompose([FAST, dict(type='RandomFlip', prob=0.5)])
