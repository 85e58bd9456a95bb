"""Inference API: native-resolution masks, bounded memory."""
from __future__ import annotations


import cv2
import numpy as np
import pytest

from allidb_mmseg.apis import segment
from allidb_mmseg.utils import AllidbError
from helpers import TINY_CONFIG, TINY_MIT, blob_image, run_py, write_tiny_config


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    import torch

    from allidb_mmseg.apis import load_model

    torch.manual_seed(0)
    cfg = write_tiny_config(tmp_path_factory.mktemp('cfg') / 'tiny.py')
    model = load_model(cfg, None, device='cpu')
    model._test_cfg_path = cfg
    return model


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
    with pytest.raises(AllidbError, match='test_pipeline'):
        load_model(cfg, None)
    with pytest.raises(AllidbError, match='no such checkpoint'):
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


def test_torch_backend_with_mean_blend_equals_mmseg_slide_inference(tmp_path):
    """The tiling engine fed by the torch adapter, averaging overlaps as
    mmseg does, gives mmseg's own slide_inference result."""
    import torch

    from allidb_mmseg.apis import load_model
    from allidb_mmseg.inference.model import torch_predictor
    from allidb_mmseg.inference.tiling import (ArraySource, Preprocessing,
                                          TileSettings, collect_bands,
                                          tiled_bands)

    torch.manual_seed(0)
    cfg = tmp_path / 'slide.py'
    cfg.write_text(TINY_CONFIG.format(backbone=TINY_MIT).replace(
        "test_cfg=dict(mode='whole')",
        "test_cfg=dict(mode='slide', crop_size=(64, 64), stride=(48, 48))"))
    model = load_model(cfg, None)
    img = blob_image(150, 170, 3)
    settings = TileSettings.from_config(model.cfg, blend='mean')
    pre = Preprocessing.from_config(model.cfg.model.data_preprocessor)
    mask, prob = collect_bands(tiled_bands(ArraySource(img), torch_predictor(model),
                                           pre, settings), 150, 170)
    data = model.data_preprocessor(
        dict(inputs=[torch.from_numpy(img.transpose(2, 0, 1).copy())]), False)
    with torch.no_grad():
        ref = model.slide_inference(data['inputs'], [dict(img_shape=(150, 170),
                                                          ori_shape=(150, 170))])[0]
    np.testing.assert_allclose(prob.astype(np.float32), ref.softmax(0)[1].numpy(),
                               atol=5e-4)
    assert (mask == ref.argmax(0).numpy()).mean() > 0.999
    # segment() takes the tiled path for this config, with the smooth blend
    tiled = segment(model, img, return_prob=True)[1].astype(np.float32)
    assert np.abs(tiled - ref.softmax(0)[1].numpy()).mean() < 0.02
