"""Slides and large images end to end: the same result as a plain image,
the pyramid level nearest the working scale, streamed outputs, the tool."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from allidb_mmseg.apis import pipeline
from allidb_mmseg.apis.pipeline import process_image
from allidb_mmseg.evaluation import AllRule
from allidb_mmseg.products import report
from helpers import (TINY_CONFIG, TINY_MIT, blob_image, png_claiming, run_tool,
                     write_pyramid_tiff)

# The tiny model with a native scale: red cells brought to 12 px, tiles of
# 64 px every 48 px.
NATIVE_TAIL = '''
model.update(test_cfg=dict(mode='slide', crop_size=(64, 64), stride=(48, 48)))
working_rbc_px = 12
'''
MIN_AREA = 30


def native_config(path):
    path.write_text(TINY_CONFIG.format(backbone=TINY_MIT) + NATIVE_TAIL)
    return path


def field() -> np.ndarray:
    """240 x 330: discs on a pale background, several tiles large."""
    return np.concatenate([np.concatenate([blob_image(120, 110, 3 * r + c)
                                           for c in range(3)], 1)
                           for r in range(2)], 0)


@pytest.fixture(scope='module')
def native(tmp_path_factory, one_torch_thread):
    """A tiny tiled model whose blast class covers a fifth of a field (a
    random net would call everything blast), and its config file."""
    import torch

    from allidb_mmseg.apis import load_model, segment

    torch.manual_seed(0)
    cfg = native_config(tmp_path_factory.mktemp('cfg') / 'native.py')
    model = load_model(cfg, None, device='cpu')
    _, prob = segment(model, field(), return_prob=True, mpp=0.5)
    p = np.clip(prob.astype(np.float64), 1e-6, 1 - 1e-6)
    shift = np.quantile(np.log(p / (1 - p)), 0.8)
    with torch.no_grad():
        model.decode_head.conv_seg.bias[1] -= float(shift)
    return model, cfg


def blast_key(blasts):
    return sorted((b['area'], tuple(np.round(b['centroid'], 6)), tuple(b['bbox']),
                   round(b['mean_prob'], 6)) for b in blasts)


def run(model, file, out, min_area=MIN_AREA, **kw):
    row = process_image(model, str(file), file.stem.split('.')[0], out,
                        min_area, AllRule(), progress=False, **kw)
    assert row.status == 'ok', row.error
    return row


def test_slide_equals_the_same_pixels_as_a_plain_image(native, tmp_path):
    import tifffile

    model, _ = native
    img = field()
    cv2.imwrite(str(tmp_path / 'plain.png'), img)
    # 0.5 um/px: red cells 15 px, working scale 12/15 = 0.8 -> level 0
    write_pyramid_tiff(tmp_path / 'slide.tif', img, mpp=0.5, factors=(1, 2))
    plain = run(model, tmp_path / 'plain.png', tmp_path / 'out', mpp=0.5)
    slide = run(model, tmp_path / 'slide.tif', tmp_path / 'out')
    assert slide.mask == 'masks/slide.ome.tif'
    assert slide.inference['level'] == 0 and slide.inference['mpp_from'] == 'file'
    assert slide.inference['working_scale'] == pytest.approx(0.8)
    mask = tifffile.imread(tmp_path / 'out' / slide.mask)
    ref = cv2.imread(str(tmp_path / 'out' / plain.mask), cv2.IMREAD_UNCHANGED)
    assert (mask == ref).all() and 0.05 < (ref == 1).mean() < 0.6
    assert plain.blast_count == slide.blast_count >= 2
    assert blast_key(plain.blasts) == blast_key(slide.blasts)
    assert slide.blast_area_fraction == pytest.approx(plain.blast_area_fraction)
    assert slide.mean_blast_prob == pytest.approx(plain.mean_blast_prob, abs=1e-6)
    overlay = cv2.imread(str(tmp_path / 'out' / slide.overlay))
    assert overlay.shape == img.shape


def test_slide_read_at_the_level_nearest_the_working_scale(native, tmp_path):
    model, _ = native
    img = field()
    # 0.25 um/px: red cells 30 px, working scale 0.4 -> level 1 (2x) read at 0.8
    write_pyramid_tiff(tmp_path / 'fine.tif', img, mpp=0.25, factors=(1, 2, 8))
    cv2.imwrite(str(tmp_path / 'half.png'), img[::2, ::2])
    # the minimum area is in level-0 pixels: 4x that of the level-1 image
    slide = run(model, tmp_path / 'fine.tif', tmp_path / 'out', 4 * MIN_AREA)
    half = run(model, tmp_path / 'half.png', tmp_path / 'out', mpp=0.5)
    info = slide.inference
    assert (info['level'], info['level_downsample']) == (1, 2.0)
    assert info['mask_size'] == [165, 120]
    assert (slide.width, slide.height) == (330, 240)
    # blasts in level-0 slide pixels: those of the level-1 image, scaled
    assert slide.blast_count == half.blast_count >= 1
    for s, h in zip(sorted(slide.blasts, key=lambda b: b['centroid']),
                    sorted(half.blasts, key=lambda b: b['centroid'])):
        assert s['centroid'] == pytest.approx([2 * c + 0.5 for c in h['centroid']])
        assert s['area'] == 4 * h['area']
        assert tuple(s['bbox']) == tuple(2 * v for v in h['bbox'])
    # --mpp overrides the file: 0.5 um/px means level 0
    again = run(model, tmp_path / 'fine.tif', tmp_path / 'again', mpp=0.5)
    assert again.inference['level'] == 0 and again.inference['mpp_from'] == '--mpp'


def test_large_plain_image_is_streamed_with_the_same_result(native, tmp_path,
                                                           monkeypatch):
    model, _ = native
    img = field()
    cv2.imwrite(str(tmp_path / 'big.png'), img)
    ordinary = run(model, tmp_path / 'big.png', tmp_path / 'a', mpp=0.5)
    monkeypatch.setattr(pipeline, 'LARGE_IMAGE_PIXELS', 10_000)
    monkeypatch.setattr(report, 'OVERLAY_MAX_SIDE', 100)
    streamed = run(model, tmp_path / 'big.png', tmp_path / 'b', mpp=0.5)
    assert streamed.inference['overlay_downsample'] == 4
    a = cv2.imread(str(tmp_path / 'a' / ordinary.mask), cv2.IMREAD_UNCHANGED)
    b = cv2.imread(str(tmp_path / 'b' / streamed.mask), cv2.IMREAD_UNCHANGED)
    assert (a == b).all()
    assert blast_key(ordinary.blasts) == blast_key(streamed.blasts)
    overlay = cv2.imread(str(tmp_path / 'b' / streamed.overlay))
    assert overlay.shape == (60, 83, 3)


def test_whole_image_config_refuses_a_slide(tmp_path):
    from allidb_mmseg.apis import load_model
    from helpers import write_tiny_config

    model = load_model(write_tiny_config(tmp_path / 'whole.py'), None)
    write_pyramid_tiff(tmp_path / 's.tif', field(), mpp=0.5)
    row = process_image(model, str(tmp_path / 's.tif'), 's', tmp_path / 'out',
                        MIN_AREA, AllRule())
    assert row.status == 'failed' and "mode 'slide'" in row.error


def test_the_header_decides_before_any_pixel_is_decoded(tmp_path):
    """A PNG whose header claims 100000 x 100000 pixels fails in its row,
    in one line, fast: no model is needed to refuse it."""
    (tmp_path / 'huge.png').write_bytes(png_claiming(100_000, 100_000))
    row = process_image(None, str(tmp_path / 'huge.png'), 'huge', tmp_path / 'out')
    assert row.status == 'failed' and row.error.startswith(
        'header says 100000x100000 pixels (10000 MP), above the 1000 MP')


def test_infer_tool_on_slides(native, tmp_path):
    """A small multi-level scan (the 40000 px one in test size) and a broken
    one, through tools/infer.py as a user runs it."""
    import torch

    model, cfg = native
    ckpt = tmp_path / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)
    img = np.concatenate([field()] * 3, 1)          # 240 x 990
    write_pyramid_tiff(tmp_path / 'scan.tif', img, mpp=0.5, factors=(1, 4, 16),
                       compression='jpeg')
    (tmp_path / 'broken.svs').write_bytes(b'II*\x00garbage')
    out = tmp_path / 'out'
    args = ['infer', cfg, ckpt, tmp_path / 'scan.tif', tmp_path / 'broken.svs',
            '--out-dir', out, '--min-blast-area', MIN_AREA, '--device', 'cpu']
    r = run_tool(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'Traceback' not in r.stderr
    assert 'tile' in r.stderr                        # the bar over tiles
    bad = [ln for ln in r.stderr.splitlines() if ln.startswith('warning: ')]
    assert len(bad) == 1 and 'broken.svs' in bad[0] and 'OpenSlide' in bad[0]
    doc = json.loads((out / 'report.json').read_text())
    scan = {x['name']: x for x in doc['images']}['scan']
    assert scan['status'] == 'ok' and scan['mask'] == 'masks/scan.ome.tif'
    assert (scan['width'], scan['height']) == (990, 240)
    assert len(scan['blasts']) == scan['blast_count'] >= 1
    assert all(0 <= b['centroid'][0] < 990 for b in scan['blasts'])
    assert scan['inference']['level'] == 0
    assert (out / 'overlays' / 'scan.png').is_file()
    (out / 'report.csv').unlink()
    (out / 'report.json').unlink()
    again = run_tool(*args)                          # the mask is not overwritten
    assert again.returncode == 2 and 'scan.ome.tif: output exists' in again.stderr
    neg = run_tool(*args, '--force', '--mpp', '-1')
    assert neg.returncode == 2 and neg.stderr.startswith('error: --mpp')


def test_slides_and_large_images_reach_geojson_with_their_outlines(
        native, tmp_path, monkeypatch):
    """QuPath gets a slide's blasts in level-0 slide pixels, a large
    image's exactly as an ordinary one's; CVAT's COCO leaves slides out."""
    from shapely.geometry import shape

    from allidb_mmseg.products.sinks import CocoSink, GeoJsonSink, skipped_line

    model, _ = native
    img = field()
    write_pyramid_tiff(tmp_path / 'fine.tif', img, mpp=0.25, factors=(1, 2, 8))
    cv2.imwrite(str(tmp_path / 'half.png'), img[::2, ::2])
    cv2.imwrite(str(tmp_path / 'big.png'), img)

    def features(out, file, min_area, **kw):
        sinks = [GeoJsonSink(out), CocoSink(out / 'cvat.json')]
        row = run(model, file, out, min_area, sinks=sinks, **kw)
        for s in sinks:
            s.close([row], {})
        doc = json.loads((out / 'geojson' / f'{file.stem}.geojson').read_text())
        coco = json.loads((out / 'cvat.json').read_text())
        return row, [shape(f['geometry']) for f in doc['features']], coco, sinks

    slide, on_slide, coco, sinks = features(tmp_path / 's', tmp_path / 'fine.tif',
                                            4 * MIN_AREA)
    assert slide.inference['level_downsample'] == 2.0
    assert coco['images'] == [] and 'fine' in skipped_line(sinks)
    half, on_half, coco, sinks = features(tmp_path / 'h', tmp_path / 'half.png',
                                          MIN_AREA, mpp=0.5)
    assert len(coco['images']) == 1 and skipped_line(sinks) is None
    assert len(on_slide) == slide.blast_count == half.blast_count >= 1
    for s, h in zip(sorted(on_slide, key=lambda g: g.bounds),
                    sorted(on_half, key=lambda g: g.bounds)):
        assert s.area == 4 * h.area                 # level-0 slide pixels
        assert s.bounds == tuple(2 * v for v in h.bounds)
    _, ordinary, coco_a, _ = features(tmp_path / 'a', tmp_path / 'big.png',
                                      MIN_AREA, mpp=0.5)
    monkeypatch.setattr(pipeline, 'LARGE_IMAGE_PIXELS', 10_000)
    streamed, on_streamed, coco_b, _ = features(tmp_path / 'b', tmp_path / 'big.png',
                                                MIN_AREA, mpp=0.5)
    assert streamed.inference['overlay_downsample'] >= 1  # it was streamed
    assert [g.wkt for g in on_streamed] == [g.wkt for g in ordinary]
    assert coco_b['annotations'] == coco_a['annotations']
