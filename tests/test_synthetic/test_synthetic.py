"""The synthetic smear generator: CVAT COCO layout, exact truth, determinism, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from allidb_mmseg.synthetic import make_synthetic, polygons_to_mask, render_field
from helpers import load_tool, run_tool

SIZE = (320, 240)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob('*')) if p.is_file()}


def _ann_mask(ann: dict, h: int, w: int) -> np.ndarray:
    rle = mask_utils.merge(mask_utils.frPyObjects(ann['segmentation'], h, w))
    return mask_utils.decode(rle).astype(np.uint8)


@pytest.fixture(scope='module')
def synth(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp('synth') / 'out'
    return out, make_synthetic(out, num_images=8, size=SIZE, seed=0, healthy_fraction=0.5)


def test_coco_json_is_cvat_coco_1_0(synth):
    out, summary = synth
    doc = json.loads((out / 'annotations' / 'instances_default.json').read_text())
    assert list(doc) == ['licenses', 'info', 'categories', 'images', 'annotations']
    assert doc['licenses'] == [{'name': '', 'id': 0, 'url': ''}]
    assert doc['info'] == {k: '' for k in ('contributor', 'date_created', 'description',
                                          'url', 'version', 'year')}
    assert doc['categories'] == [{'id': 1, 'name': 'lymphoblast', 'supercategory': ''}]
    assert [im['id'] for im in doc['images']] == list(range(1, 9))
    assert [a['id'] for a in doc['annotations']] == list(range(1, len(doc['annotations']) + 1))
    for i, im in enumerate(doc['images']):
        assert im == {'id': i + 1, 'width': SIZE[0], 'height': SIZE[1],
                      'file_name': f'synth_{i:03d}.jpg', 'license': 0, 'flickr_url': '',
                      'coco_url': '', 'date_captured': 0}
        img = cv2.imread(str(out / 'images' / im['file_name']))
        assert img is not None and img.shape == (SIZE[1], SIZE[0], 3)
    for ann in doc['annotations']:
        assert set(ann) == {'id', 'image_id', 'category_id', 'segmentation', 'area', 'bbox',
                            'iscrowd', 'attributes'}
        assert ann['category_id'] == 1 and ann['iscrowd'] == 0
        assert ann['attributes'] == {'occluded': False}
        (seg,) = ann['segmentation']
        assert len(seg) >= 48 and len(seg) % 2 == 0
        assert all(isinstance(v, float) and round(v, 2) == v for v in seg)
        xs, ys = seg[0::2], seg[1::2]
        assert ann['bbox'] == pytest.approx([min(xs), min(ys), max(xs) - min(xs),
                                             max(ys) - min(ys)], abs=0.011)
        m = _ann_mask(ann, SIZE[1], SIZE[0])
        assert ann['area'] == pytest.approx(float(m.sum()))
    assert summary['num_blasts'] == len(doc['annotations'])


def test_masks_centres_and_json_agree(synth):
    out, summary = synth
    doc = json.loads((out / 'annotations' / 'instances_default.json').read_text())
    n_centres = 0
    for im, rec in zip(doc['images'], summary['images']):
        stem = Path(im['file_name']).stem
        anns = [a for a in doc['annotations'] if a['image_id'] == im['id']]
        lines = (out / 'centres' / f'{stem}.xyc').read_text().splitlines()
        assert len(lines) == len(anns) == rec['blasts']
        n_centres += len(lines)
        truth = cv2.imread(str(out / 'masks' / f'{stem}.png'), cv2.IMREAD_UNCHANGED)
        assert truth.dtype == np.uint8 and truth.shape == (im['height'], im['width'])
        union = np.zeros_like(truth)
        for ann, line in zip(anns, lines):
            x, y = (int(v) for v in line.split())
            m = _ann_mask(ann, im['height'], im['width'])
            assert m[y, x] == 1, f'{stem}: centre {x},{y} outside its blast'
            union |= m
        np.testing.assert_array_equal(truth, union)
        assert set(np.unique(truth)) <= {0, 1}
    assert n_centres == len(doc['annotations']) > 0


def test_healthy_images_have_no_blasts(synth):
    out, summary = synth
    assert summary['num_images'] == 8 and summary['num_healthy'] == 4
    for rec in summary['images']:
        stem = Path(rec['file_name']).stem
        truth = cv2.imread(str(out / 'masks' / f'{stem}.png'), cv2.IMREAD_UNCHANGED)
        text = (out / 'centres' / f'{stem}.xyc').read_text()
        if rec['healthy']:
            assert rec['blasts'] == 0 and not truth.any() and text == ''
        else:
            assert 1 <= rec['blasts'] <= 8 and truth.any()


@pytest.mark.parametrize('fraction,n,expected', [(0.0, 3, 0), (1.0, 3, 3), (0.4, 5, 2)])
def test_healthy_fraction_respected(tmp_path, fraction, n, expected):
    s = make_synthetic(tmp_path / 'o', num_images=n, size=(96, 72), seed=3,
                       healthy_fraction=fraction)
    assert s['num_healthy'] == expected
    assert sum(r['healthy'] for r in s['images']) == expected
    assert all((r['blasts'] == 0) == r['healthy'] for r in s['images'])


def test_deterministic_and_seed_dependent(tmp_path):
    kw = dict(num_images=3, size=(160, 120), healthy_fraction=0.34)
    make_synthetic(tmp_path / 'a', seed=5, **kw)
    make_synthetic(tmp_path / 'b', seed=5, **kw)
    make_synthetic(tmp_path / 'c', seed=6, **kw)
    a, b, c = (_files(tmp_path / k) for k in 'abc')
    assert len(a) == 3 * 3 + 1 and a == b
    assert a.keys() == c.keys()
    assert all(a[k] != c[k] for k in a if k.endswith('.jpg'))
    assert not list(tmp_path.glob('.*')), 'temp folders left behind'


def test_refuses_existing_output_unless_forced(tmp_path):
    out = tmp_path / 'o'
    out.mkdir()
    make_synthetic(out, num_images=1, size=(96, 72))  # an empty folder is fine
    (out / 'user.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match=str(out)):
        make_synthetic(out, num_images=1, size=(96, 72))
    assert (out / 'user.txt').read_text() == 'keep me'
    make_synthetic(out, num_images=2, size=(96, 72), force=True)
    assert not (out / 'user.txt').exists()
    assert len(list((out / 'images').iterdir())) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ['o']


def test_render_field_contract_and_cell_sizes():
    blast_areas, lymph_areas, rbc_areas = [], [], []
    for seed in range(4):
        info: dict = {}
        img, polys, centres = render_field(np.random.default_rng(seed), SIZE, 3,
                                           n_lymphocytes=2, info=info)
        assert img.dtype == np.uint8 and img.shape == (SIZE[1], SIZE[0], 3)
        assert len(polys) == len(centres) == 3
        for poly, (x, y) in zip(polys, centres):
            assert poly.ndim == 2 and poly.shape[1] == 2
            np.testing.assert_array_equal(poly, np.round(poly, 2))
            m = polygons_to_mask([poly], SIZE[1], SIZE[0])
            assert isinstance(x, int) and isinstance(y, int) and m[y, x] == 1
            blast_areas.append(int(m.sum()))
        lymph_areas += [np.pi * r ** 2 for r in info['lymphocyte_radii']]
        rbc_areas.append(np.pi * (info['rbc_diameter'] / 2) ** 2)
        d = info['rbc_diameter']
        assert SIZE[0] / 25 * 0.9 < d < SIZE[0] / 25 * 1.1  # scales with the width
    assert len(lymph_areas) == 8
    assert min(blast_areas) > 1.5 * max(lymph_areas)
    assert 1.6 ** 2 * 0.8 < min(blast_areas) / np.mean(rbc_areas)
    assert max(blast_areas) / np.mean(rbc_areas) < 2.3 ** 2 * 1.25


def test_blast_pixels_look_like_blasts_where_the_mask_says():
    """The painted cell must sit on its mask: purple-blue inside, not outside it."""
    img, polys, _ = render_field(np.random.default_rng(11), (480, 360), 4)
    b, g, r = (c.astype(np.float32) for c in cv2.split(img))
    blue_vs_red = b - r  # blasts are blue/purple, red cells and plasma are not
    k = np.ones((3, 3), np.uint8)
    for poly in polys:
        m = polygons_to_mask([poly], 360, 480)
        inner = m.astype(bool) & ~cv2.erode(m, k, iterations=2).astype(bool)
        outer = cv2.dilate(m, k, iterations=3).astype(bool) & ~cv2.dilate(m, k).astype(bool)
        core = cv2.erode(m, k, iterations=4).astype(bool)
        assert blue_vs_red[core].mean() > 5
        assert blue_vs_red[inner].mean() > blue_vs_red[outer].mean() + 10
        assert g[core].mean() < np.median(g) - 40  # nucleus much darker than the field


def test_cli_writes_and_refuses(tmp_path, capsys):
    out = tmp_path / 'cli'
    res = run_tool('dataset_converters/make_synthetic', out, '--num-images', '2',
                   '--size', '96', '72', '--seed', '1', timeout=300)
    assert res.returncode == 0, res.stderr
    assert 'wrote 2 images' in res.stdout
    assert len(list((out / 'images').glob('*.jpg'))) == 2
    assert (out / 'annotations' / 'instances_default.json').is_file()

    cli = load_tool('dataset_converters/make_synthetic')
    before = _files(out)
    assert cli.main([str(out), '--num-images', '1', '--size', '96', '72']) == 2
    err = capsys.readouterr().err
    assert err.startswith(f'error: {out}:') and err.count('\n') == 1
    assert _files(out) == before
    assert cli.main([str(tmp_path / 'bad'), '--healthy-fraction', '2']) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'bad'}:")
