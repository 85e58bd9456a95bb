"""Inference API: image reading, native-resolution masks, bounded memory."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from allidb_mmseg.apis import ImageReadError, read_image, to_bgr8
from conftest import TINY_MIT, run_py

TINY_CONFIG = '''
custom_imports = dict(imports=['allidb_mmseg'], allow_failed_imports=False)
default_scope = 'mmseg'
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                           seg_pad_val=255, size=(64, 64)),
    backbone={backbone!r},
    decode_head=dict(type='SegformerHead', in_channels=[8, 8, 8, 8], in_index=[0, 1, 2, 3],
                     channels=8, dropout_ratio=0.1, num_classes=2,
                     norm_cfg=dict(type='BN', requires_grad=True), align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                      loss_weight=1.0)),
    train_cfg=dict(), test_cfg=dict(mode='whole'))
train_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                  dict(type='Resize', scale=(64, 64), keep_ratio=False),
                  dict(type='PackSegInputs')]
test_pipeline = [dict(type='LoadImageFromFile'),
                 dict(type='Resize', scale=(64, 64), keep_ratio=False),
                 dict(type='LoadAnnotations'), dict(type='PackSegInputs')]
'''


def write_tiny_config(path: Path) -> Path:
    """A SegFormer with conftest's TINY_MIT, 64x64 input, a test_pipeline."""
    path.write_text(TINY_CONFIG.format(backbone=TINY_MIT))
    return path


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    import torch

    from allidb_mmseg.apis import load_model

    torch.manual_seed(0)
    cfg = write_tiny_config(tmp_path_factory.mktemp('cfg') / 'tiny.py')
    model = load_model(cfg, None, device='cpu')
    model._test_cfg_path = cfg
    return model


def blob_image(h=90, w=130, seed=0):
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 215, np.uint8)
    cv2.circle(img, (w // 3, h // 2), min(h, w) // 5, (160, 50, 100), -1)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


# -- reading ------------------------------------------------------------------

def test_read_image_converts_gray_rgba_16bit(tmp_path):
    gray = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (20, 1))
    cv2.imwrite(str(tmp_path / 'g.png'), gray)
    g = read_image(tmp_path / 'g.png')
    assert g.shape == (20, 25, 3) and g.dtype == np.uint8
    assert (g[..., 0] == gray).all() and (g[..., 2] == gray).all()

    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., :3] = (10, 20, 30)
    rgba[:5, :, 3] = 255          # top opaque, bottom transparent
    cv2.imwrite(str(tmp_path / 'a.png'), rgba)
    a = read_image(tmp_path / 'a.png')
    assert a.shape == (10, 12, 3)
    assert (a[:5] == (10, 20, 30)).all() and (a[5:] == 255).all()  # white, not black

    deep = (np.arange(20 * 30 * 3).reshape(20, 30, 3) % 4096).astype(np.uint16)
    cv2.imwrite(str(tmp_path / 'd.png'), deep)  # a 12-bit camera in 16 bits
    d = read_image(tmp_path / 'd.png')
    assert d.dtype == np.uint8 and d.max() == 255
    np.testing.assert_allclose(d.astype(float), deep * 255.0 / deep.max(), atol=0.51)


def test_to_bgr8_arrays():
    assert to_bgr8(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    f = to_bgr8(np.full((3, 3, 3), 0.5, np.float32))
    assert (f == 127).all()
    with pytest.raises(ImageReadError):
        to_bgr8(np.zeros((3, 3, 7), np.uint8))


def test_read_image_bad_files(tmp_path):
    ok, buf = cv2.imencode('.jpg', blob_image())
    (tmp_path / 'cut.jpg').write_bytes(buf.tobytes()[: len(buf) // 2])
    (tmp_path / 'notes.txt').write_text('not an image\n')
    (tmp_path / 'empty.png').write_bytes(b'')
    (tmp_path / 'junk.png').write_bytes(b'\x89PNG\r\n\x1a\n' + b'\0' * 100)
    cases = {'cut.jpg': 'truncated', 'notes.txt': 'not an image',
             'empty.png': 'empty file', 'missing.jpg': 'no such file',
             'junk.png': 'corrupt|not an image'}
    for name, words in cases.items():
        with pytest.raises(ImageReadError, match=words) as e:
            read_image(tmp_path / name)
        assert '\n' not in str(e.value)


def test_read_image_jpeg_cut_inside_header(tmp_path, capfd):
    # Cut before the scan data: OpenCV cannot even read the header, which
    # used to be reported as "not an image".
    ok, buf = cv2.imencode('.jpg', blob_image())
    assert ok and len(buf) > 1000
    data = buf.tobytes()
    cases = {'head.jpg': data[:200],
             # header cut, but an end-of-image marker tacked on: decoding
             # fails, and the magic bytes still say JPEG.
             'head_eoi.jpg': data[:200] + b'\xff\xd9',
             'head.png': cv2.imencode('.png', blob_image())[1].tobytes()[:40]}
    words = {'head.jpg': 'truncated or corrupt JPEG',
             'head_eoi.jpg': 'truncated or corrupt JPEG',
             'head.png': 'truncated or corrupt PNG'}
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
        capfd.readouterr()
        with pytest.raises(ImageReadError, match=words[name]) as e:
            read_image(tmp_path / name)
        assert '\n' not in str(e.value)
        assert 'not an image' not in str(e.value)
        if name == 'head.jpg':
            # Caught before decoding: nothing from libjpeg on stderr.
            assert 'Premature end' not in capfd.readouterr().err


# -- upsampling ----------------------------------------------------------------

@pytest.mark.parametrize('align', [False, True])
def test_band_resize_equals_torch_bilinear(align):
    import torch
    import torch.nn.functional as F

    from allidb_mmseg.apis.inference import _resize_rows

    src = np.random.default_rng(1).normal(size=(7, 9)).astype(np.float32)
    ref = F.interpolate(torch.from_numpy(src)[None, None], size=(53, 41),
                        mode='bilinear', align_corners=align)[0, 0].numpy()
    bands = [_resize_rows(src, 41, 53, y0, min(53, y0 + 10), align)
             for y0 in range(0, 53, 10)]
    np.testing.assert_allclose(np.concatenate(bands), ref, atol=1e-3)


# -- segment -------------------------------------------------------------------

def test_segment_native_resolution_matches_mmseg(tiny_model, tmp_path):
    from mmseg.apis import inference_model

    from allidb_mmseg.apis import segment

    img = blob_image(90, 130)
    mask, prob = segment(tiny_model, img, return_prob=True)
    assert mask.shape == (90, 130) and mask.dtype == np.uint8
    assert prob.shape == (90, 130) and prob.dtype == np.float16
    assert 0 <= prob.min() and prob.max() <= 1
    assert ((prob > 0.5) == (mask == 1)).mean() > 0.99
    ref = inference_model(tiny_model, img)
    ref_mask = ref.pred_sem_seg.data[0].numpy()
    ref_prob = ref.seg_logits.data.softmax(0)[1].numpy()
    assert (ref_mask == mask).mean() > 0.999
    np.testing.assert_allclose(prob.astype(np.float32), ref_prob, atol=2e-3)
    # paths and grayscale arrays give the same kind of result
    cv2.imwrite(str(tmp_path / 'x.png'), img)
    assert (segment(tiny_model, tmp_path / 'x.png') == mask).all()
    gray = segment(tiny_model, cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    assert gray.shape == (90, 130)


def test_load_model_needs_test_pipeline(tmp_path):
    from allidb_mmseg.apis import load_model

    cfg = tmp_path / 'nopipe.py'
    cfg.write_text(TINY_CONFIG.format(backbone=TINY_MIT).split('train_pipeline')[0])
    with pytest.raises(ValueError, match='test_pipeline'):
        load_model(cfg, None)
    with pytest.raises(FileNotFoundError):
        load_model(write_tiny_config(tmp_path / 't.py'), tmp_path / 'none.pth')


def test_large_image_bounded_memory(tmp_path):
    """A 6000x6000 field: the mask comes back at full size, and the process
    grows by far less than full-size float logits would need (2 x 144 MB
    for the two classes at float32, plus copies)."""
    cfg = write_tiny_config(tmp_path / 'tiny.py')
    code = f'''
import resource, numpy as np
from allidb_mmseg.apis import load_model, segment
m = load_model({str(cfg)!r}, None, 'cpu')
img = np.full((6000, 6000, 3), 210, np.uint8)
img[1000:3000, 1000:3000] = (160, 50, 100)
segment(m, img[:64, :64])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
mask, prob = segment(m, img, return_prob=True)
grow = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print('SHAPE', mask.shape, prob.shape, 'GROW_MB', round(grow))
'''
    r = run_py(code, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    line = [ln for ln in r.stdout.splitlines() if ln.startswith('SHAPE')][0]
    assert '(6000, 6000) (6000, 6000)' in line
    grow = int(line.split('GROW_MB')[1])
    # mask 36 MB + prob 72 MB + 64 MB of bands; whole-image logits: > 600 MB
    assert grow < 400, line
