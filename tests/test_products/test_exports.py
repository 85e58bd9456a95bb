"""COCO (CVAT) and GeoJSON (QuPath) exports: exact outlines, RFC 7946, and the
round trip infer -> --coco-out -> convert_coco -> the predicted masks."""
from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from allidb_mmseg.products.blast_shapes import blast_shapes, pixels_geometry
from allidb_mmseg.products.exports import (coco_annotation, coco_document,
                                       coco_image, geojson_feature_collection,
                                       rle_counts)
from allidb_mmseg.converters.coco_masks import rasterize
from allidb_mmseg.evaluation.counting import Blast, BlastCount
from helpers import call_tool


def random_masks(n: int, seed: int = 0):
    """Pixel noise (1-pixel parts, diagonal contacts, holes) and smooth blobs."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        m = rng.random((40, 56)) < 0.5
        if i % 2:
            m = cv2.GaussianBlur(m.astype(np.float32), (0, 0), 2) > 0.5
        yield m


def labels_of(shapes_mask: dict[int, np.ndarray]) -> BlastCount:
    """A BlastCount from label -> pixels (any shape, for the exporters)."""
    h, w = next(iter(shapes_mask.values())).shape
    labels = np.zeros((h, w), np.int32)
    blasts = []
    for lbl, m in shapes_mask.items():
        labels[m] = lbl
        ys, xs = np.nonzero(m)
        x0, y0 = int(xs.min()), int(ys.min())
        blasts.append(Blast(lbl, int(m.sum()), (float(xs.mean()), float(ys.mean())),
                            (x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1)))
    return BlastCount(labels=labels, blasts=blasts)


def scored(count: BlastCount, scores: list) -> BlastCount:
    """``count`` with these mean probabilities, as count_blasts(prob=) sets them."""
    return replace(count, blasts=[replace(b, mean_prob=s)
                                  for b, s in zip(count.blasts, scores)])


def drawn(annotations: list[dict], h: int, w: int) -> np.ndarray:
    """Annotations drawn by our converter (pycocotools underneath, as CVAT)."""
    return rasterize(annotations, h, w, {1: 1}, 'test') == 1


def test_outlines_are_exact_for_any_pixels():
    for m in random_masks(24):
        g = pixels_geometry(m, offset=(3, 5))
        assert g.is_valid
        assert g.area == m.sum()                       # area = pixel count
        bounds = np.array(g.bounds)
        ys, xs = np.nonzero(m)
        assert list(bounds) == [xs.min() + 3, ys.min() + 5, xs.max() + 4, ys.max() + 6]
        # Drawn back as COCO polygons minus holes, the same pixels.
        parts = list(getattr(g, 'geoms', [g]))
        h, w = m.shape[0] + 5, m.shape[1] + 3
        out = np.zeros((h, w), bool)
        for p in parts:
            region = drawn([dict(id=1, category_id=1, segmentation=[
                np.asarray(p.exterior.coords)[:-1].ravel().tolist()])], h, w)
            for hole in p.interiors:
                region &= ~drawn([dict(id=1, category_id=1, segmentation=[
                    np.asarray(hole.coords)[:-1].ravel().tolist()])], h, w)
            out |= region
        assert (out[5:, 3:] == m).all() and not out[:5].any() and not out[:, :3].any()


def test_rle_counts_match_pycocotools():
    rng = np.random.default_rng(1)
    for _ in range(50):
        h, w = (int(v) for v in rng.integers(1, 25, 2))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        crop = rng.random((int(rng.integers(1, h - y + 1)),
                           int(rng.integers(1, w - x + 1)))) < 0.5
        full = np.zeros((h, w), np.uint8)
        full[y:y + crop.shape[0], x:x + crop.shape[1]] = crop
        counts = rle_counts(crop, (x, y), h, w)
        assert sum(counts) == h * w and all(c >= 0 for c in counts)
        rle = mask_utils.frPyObjects({'size': [h, w], 'counts': counts}, h, w)
        assert (mask_utils.decode(rle) == full).all()


@pytest.fixture
def ring_dot_and_squares():
    """Blast 1: a ring (hole) plus a separate dot; 2: a disc; 3: two squares."""
    h, w = 60, 90
    ring = np.zeros((h, w), np.uint8)
    cv2.circle(ring, (20, 20), 12, 1, -1)
    cv2.circle(ring, (20, 20), 5, 0, -1)
    ring[45, 5] = 1
    disc = np.zeros((h, w), np.uint8)
    cv2.circle(disc, (55, 20), 9, 1, -1)
    squares = np.zeros((h, w), bool)
    squares[40:50, 40:50] = squares[40:50, 70:80] = True
    return labels_of({1: ring.astype(bool), 2: disc.astype(bool), 3: squares})


def test_coco_annotations_as_cvat_imports_them(ring_dot_and_squares):
    count = ring_dot_and_squares
    h, w = count.labels.shape
    shapes = blast_shapes(scored(count, [0.9, 0.8, None]))
    anns = [coco_annotation(s, i + 1, 7, h, w) for i, s in enumerate(shapes)]
    ring, disc, squares = anns
    # A hole cannot be a COCO polygon: CVAT's mask form, uncompressed RLE.
    assert ring['iscrowd'] == 1 and isinstance(ring['segmentation']['counts'], list)
    assert ring['segmentation']['size'] == [h, w]
    assert disc['iscrowd'] == 0 and len(disc['segmentation']) == 1
    assert squares['iscrowd'] == 0 and len(squares['segmentation']) == 2
    assert ring['attributes'] == {'occluded': False, 'score': 0.9}
    assert squares['attributes'] == {'occluded': False}
    assert disc['bbox'] == [46.0, 11.0, 19.0, 19.0]
    for ann, lbl in zip(anns, (1, 2, 3)):
        assert ann['image_id'] == 7 and ann['category_id'] == 1
        assert ann['area'] == float((count.labels == lbl).sum())
        assert (drawn([ann], h, w) == (count.labels == lbl)).all()
    doc = coco_document([coco_image(7, '/data/run 1/Im001_1.jpg', w, h)], anns)
    assert doc['images'][0]['file_name'] == 'Im001_1.jpg'
    assert doc['categories'] == [dict(id=1, name='lymphoblast', supercategory='')]
    assert set(doc) == {'licenses', 'info', 'categories', 'images', 'annotations'}


def test_geojson_is_rfc7946_and_reads_as_qupath_objects(ring_dot_and_squares):
    import geojson
    from shapely.geometry import LinearRing, shape

    count = ring_dot_and_squares
    shapes = blast_shapes(scored(count, [0.9, 0.8, 0.7]))
    fc = geojson_feature_collection(shapes, 'annotation')
    text = json.dumps(fc)
    obj = geojson.loads(text)
    assert obj.is_valid, obj.errors()
    assert obj['type'] == 'FeatureCollection' and len(obj['features']) == 3
    kinds = []
    for feat, lbl in zip(fc['features'], (1, 2, 3)):
        assert feat['type'] == 'Feature'
        props = feat['properties']
        assert props['objectType'] == 'annotation'
        assert props['classification']['name'] == 'Lymphoblast'
        assert len(props['classification']['color']) == 3
        assert props['measurements']['Area px^2'] == (count.labels == lbl).sum()
        assert 0 < props['measurements']['Mean blast probability'] <= 1
        geom = shape(feat['geometry'])
        assert geom.is_valid and geom.area == (count.labels == lbl).sum()
        kinds.append(feat['geometry']['type'])
        for poly in getattr(geom, 'geoms', [geom]):  # right-hand rule
            assert LinearRing(poly.exterior.coords).is_ccw
            assert all(not LinearRing(r.coords).is_ccw for r in poly.interiors)
    assert kinds == ['MultiPolygon', 'Polygon', 'MultiPolygon']
    assert len(shape(fc['features'][0]['geometry']).geoms[0].interiors) == 1
    with pytest.raises(ValueError):
        geojson_feature_collection(shapes, 'cell')


def test_round_trip_infer_coco_convert_gives_the_predicted_masks(blobby_model,
                                                                  tmp_path):
    """infer -> --coco-out -> convert_coco: masks as predicted (>= 0.99)."""
    from pycocotools.coco import COCO

    from allidb_mmseg.converters import convert_coco

    cfg, ckpt, images = blobby_model
    out, coco = tmp_path / 'out', tmp_path / 'cvat' / 'predictions.json'
    r = call_tool('infer', cfg, ckpt, images, '--out-dir', out, '--device', 'cpu',
                  '--coco-out', coco, '--geojson', '--min-blast-area', 1,
                  '--no-progress')
    assert r.returncode == 0, r.stderr[-2000:]
    assert f'COCO for CVAT: {coco}' in r.stdout
    doc = json.loads(coco.read_text())
    report = json.loads((out / 'report.json').read_text())
    assert len(doc['images']) == report['summary']['ok'] == 6
    assert len(doc['annotations']) == report['summary']['blasts'] > 20
    assert {a['iscrowd'] for a in doc['annotations']} == {0, 1}  # holes occur
    for im in doc['images']:
        assert cv2.imread(str(images / im['file_name'])).shape[:2] == \
            (im['height'], im['width'])
    scores = [a['attributes']['score'] for a in doc['annotations']]
    per_blast = [b['mean_prob'] for row in report['images'] for b in row['blasts']]
    assert scores == pytest.approx(per_blast, abs=1e-4)
    COCO(str(coco))  # pycocotools' own reader takes it

    data = tmp_path / 'data'
    convert_coco(coco, images, data, progress=False)
    agreement, inter, union = [], 0, 0
    for ann in sorted(data.glob('ann_dir/*/*.png')):
        got = cv2.imread(str(ann), cv2.IMREAD_UNCHANGED) == 1
        pred = cv2.imread(str(out / 'masks' / ann.name), cv2.IMREAD_UNCHANGED) == 1
        agreement.append((got == pred).mean())
        inter += (got & pred).sum()
        union += (got | pred).sum()
    assert len(agreement) == 6
    assert min(agreement) >= 0.99
    assert inter / union >= 0.99
    print(f'round trip: pixel agreement min {min(agreement):.6f}, '
          f'blast IoU {inter / union:.6f}')

    # The QuPath files describe the same blasts.
    from shapely.geometry import shape
    for row in report['images']:
        fc = json.loads((out / 'geojson' / f"{row['name']}.geojson").read_text())
        assert len(fc['features']) == row['blast_count']
        pred = cv2.imread(str(out / row['mask']), cv2.IMREAD_UNCHANGED) == 1
        assert sum(shape(f['geometry']).area for f in fc['features']) == pred.sum()


def test_coco_out_refuses_clashes_before_any_work(blobby_model, tmp_path):
    cfg, ckpt, images = blobby_model
    (tmp_path / 'a').mkdir()
    (tmp_path / 'b').mkdir()
    one = next(images.iterdir())
    for d in ('a', 'b'):
        (tmp_path / d / one.name).write_bytes(one.read_bytes())
    r = call_tool('infer', cfg, ckpt, tmp_path / 'a', tmp_path / 'b', '--out-dir',
                  tmp_path / 'out', '--coco-out', tmp_path / 'c.json', '--device', 'cpu')
    assert r.returncode == 2 and 'CVAT matches images by name' in r.stderr
    assert not (tmp_path / 'out').exists()
    existing = tmp_path / 'old.json'
    existing.write_text('{}')
    r = call_tool('infer', cfg, ckpt, one, '--out-dir', tmp_path / 'out2',
                  '--coco-out', existing, '--device', 'cpu')
    assert r.returncode == 2 and 'use --force' in r.stderr
    assert existing.read_text() == '{}'
