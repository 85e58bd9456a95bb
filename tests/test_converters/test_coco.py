"""CVAT COCO -> mmseg layout converter: masks, split, output, bad input."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from coco_fixtures import tiny_export, uncompressed_rle, write_cvat_export

from allidb_mmseg.converters import (ConversionError, ConversionWarning,
                                       convert_coco)
from allidb_mmseg.converters.coco_masks import rasterize, resolve_categories
from allidb_mmseg.converters.splits import split_groups, split_sizes
from helpers import load_tool, run_tool

TOOL = 'dataset_converters/coco_to_masks'


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob('*')) if p.is_file()}


def read_mask(root: Path, stem: str) -> np.ndarray:
    (path,) = root.glob(f'ann_dir/*/{stem}.png')
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert mask.dtype == np.uint8 and mask.ndim == 2
    return mask


# ---------------------------------------------------------------- split


def test_split_sizes_round_like_the_paper():
    assert split_sizes(108, (0.8, 0.1, 0.1)) == {'train': 86, 'val': 11,
                                                  'test': 11}
    assert split_sizes(10, (0.8, 0.1, 0.1)) == {'train': 8, 'val': 1, 'test': 1}
    # tiny sets: every non-zero ratio gets an image when there are enough
    assert split_sizes(3, (0.8, 0.1, 0.1)) == {'train': 1, 'val': 1, 'test': 1}
    assert split_sizes(2, (0.8, 0.1, 0.1)) == {'train': 1, 'val': 1, 'test': 0}
    assert split_sizes(5, (1.0, 0.0, 0.0)) == {'train': 5, 'val': 0, 'test': 0}
    assert split_sizes(5, (0.0, 0.5, 0.5)) == {'train': 0, 'val': 3, 'test': 2}
    with pytest.raises(ValueError, match='sum to 1'):
        split_sizes(10, (0.8, 0.3, 0.1))


def test_split_is_stratified_deterministic_and_keeps_groups():
    names = [f'Im{i:03d}' for i in range(1, 109)]
    fg = [i < 59 for i in range(108)]  # 59 ALL, 49 healthy, as in ALL-IDB1
    groups = [[n] for n in names[:-1]]
    groups[92].append(names[-1])  # Im093 + Im108: duplicate content
    fg_of = dict(zip(names, fg))
    has_fg = [any(fg_of[n] for n in g) for g in groups]
    split = split_groups(groups, has_fg, seed=0)
    assert {k: len(v) for k, v in split.items()} == {'train': 86, 'val': 11,
                                                      'test': 11}
    assert sorted(sum(split.values(), [])) == names
    for part in ('val', 'test'):  # 59/108 of 11 is 6.0: 6 ALL, 5 healthy
        assert sum(fg_of[n] for n in split[part]) == 6
    where = {n: k for k, v in split.items() for n in v}
    assert where['Im093'] == where['Im108']
    # same seed: same result whatever the input order; other seed: another
    order = np.random.default_rng(5).permutation(len(groups))
    again = split_groups([groups[i][::-1] for i in order],
                         [has_fg[i] for i in order], seed=0)
    assert again == split
    assert split_groups(groups, has_fg, seed=1) != split


# ------------------------------------------------------- categories, masks


def test_categories_map_by_name_and_overrides():
    cats = [{'id': 1, 'name': 'Lymphoblast'}, {'id': 2, 'name': 'background'},
            {'id': 3, 'name': 'RBC clump'}]
    with pytest.raises(ConversionError, match=r"unmapped categories \['RBC clump'\]"):
        resolve_categories(cats, {1, 3})
    assert resolve_categories(cats, {1, 3}, {'RBC clump': 'ignore'}) == {
        1: 1, 2: 0, 3: 255}
    assert resolve_categories([{'id': 7, 'name': 'cell'}], {7}) == {7: 1}
    assert resolve_categories([{'id': 1, 'name': 'blast'},
                               {'id': 2, 'name': 'other'}], {1, 2},
                              {'other': '0'}) == {1: 1, 2: 0}
    with pytest.warns(ConversionWarning, match="'other' has no annotations"):
        assert resolve_categories([{'id': 1, 'name': 'blasts'},
                                   {'id': 2, 'name': 'other'}], {1}) == {1: 1}
    with pytest.raises(ConversionError, match=r"unknown categories \['typo'\]"):
        resolve_categories(cats, {1}, {'typo': 'ignore'})
    with pytest.raises(ConversionError, match='unknown class'):
        resolve_categories(cats, {1}, {'RBC clump': 'cytoplasm'})


def test_other_white_cells_are_class_2_under_ignore_and_blast():
    cats = [{'id': 1, 'name': 'blast'}, {'id': 2, 'name': 'Other white cells'},
            {'id': 3, 'name': 'monocyte'}, {'id': 4, 'name': 'smudge'}]
    classes = resolve_categories(cats, {1, 2, 3, 4}, {'monocyte': 'other_white_cell',
                                                      'smudge': '255'})
    assert classes == {1: 1, 2: 2, 3: 2, 4: 255}
    anns = [_poly_ann(1, 2, (0, 0, 40, 40)),     # another white cell
            _poly_ann(2, 1, (10, 10, 20, 20)),   # a blast inside it
            _poly_ann(3, 4, (30, 30, 50, 50))]   # ignore over its corner
    for order in (anns, anns[::-1]):
        mask = rasterize(order, 60, 60, classes, 'x.json')
        assert mask[15, 15] == 1 and mask[5, 5] == 2 and mask[35, 35] == 255
        assert mask[55, 55] == 0


def _poly_ann(aid, cat, xyxy):
    x0, y0, x1, y1 = xyxy
    return {'id': aid, 'category_id': cat,
            'segmentation': [[x0, y0, x1, y0, x1, y1, x0, y1]]}


def test_foreground_wins_over_background_and_ignore_in_any_order():
    classes = {1: 1, 2: 0, 3: 255}
    anns = [_poly_ann(1, 1, (10, 10, 30, 30)),   # blast
            _poly_ann(2, 2, (0, 0, 40, 40)),     # later background over it
            _poly_ann(3, 3, (20, 20, 50, 50))]   # ignore overlapping it
    for order in (anns, anns[::-1]):
        mask = rasterize(order, 60, 60, classes, 'x.json')
        assert (mask[10:30, 10:30] == 1).all()
        assert (mask[30:50, 30:50] == 255).all()
        assert (mask[:10, :10] == 0).all() and (mask[50:, :] == 0).all()
        assert set(np.unique(mask)) == {0, 1, 255}


def test_polygons_out_of_bounds_are_clipped_degenerate_skipped():
    h, w = 40, 50
    inside = [[10, 10, 20, 10, 20, 20, 10, 20]]
    outside = [[30, -20, 90, 15, 30, 35]]  # a triangle through two borders
    anns = [{'id': 1, 'category_id': 1, 'segmentation': inside + outside},
            {'id': 2, 'category_id': 1, 'segmentation': [[1, 1, 5, 5]]},
            {'id': 3, 'category_id': 1, 'segmentation': [[1, 1, 5, 5, 9, 9]]}]
    with pytest.warns(ConversionWarning) as rec:
        mask = rasterize(anns, h, w, {1: 1}, 'x.json')
    text = '\n'.join(str(r.message) for r in rec)
    assert 'annotation 1: polygon part 1 extends outside' in text
    assert 'annotation 2: polygon part 0 has 2 point(s); skipped' in text
    assert 'annotation 3: polygon part 0 has zero area' in text
    # reference: draw the whole triangle on a big canvas, then crop
    from pycocotools import mask as mask_utils
    shifted = [[v + 100 for v in p] for p in inside + outside]
    big = mask_utils.decode(mask_utils.merge(
        mask_utils.frPyObjects(shifted, h + 200, w + 200)))
    ref = big[100:100 + h, 100:100 + w]
    assert ref.sum() > 400 and ref[:, 45:].sum() > 0
    assert (mask != ref).mean() < 0.01


# ------------------------------------------------------------ end to end


@pytest.mark.parametrize('encoding', ['polygon', 'rle', 'compressed'])
def test_cvat_export_converts_to_the_source_masks(tmp_path, encoding):
    ann, img_dir, gt = write_cvat_export(tmp_path / 'src', n_all=3,
                                         n_healthy=2, encoding=encoding)
    doc = json.loads(ann.read_text())
    if encoding == 'rle':  # exactly CVAT's mask export
        seg = doc['annotations'][0]
        assert isinstance(seg['segmentation']['counts'], list)
        assert seg['iscrowd'] == 1
    elif encoding == 'polygon':  # the split cell: one annotation, two parts
        assert len(doc['annotations'][0]['segmentation']) == 2
    out = tmp_path / 'data'
    summary = convert_coco(ann, img_dir, out, progress=False)
    for stem, truth in gt.items():
        mask = read_mask(out, stem)
        agree = (mask == truth).mean()
        assert agree >= 0.995, (stem, agree)
        if encoding != 'polygon':  # RLE is lossless
            assert (mask == truth).all()
        if stem.endswith('_0'):  # healthy donor
            assert not mask.any()
    # images copied bit for bit and hashed; one mask per image, same stem
    for split in ('train', 'val', 'test'):
        stems = (out / 'splits' / f'{split}.txt').read_text().split()
        assert stems == sorted(stems)
        assert sorted(p.stem for p in (out / 'img_dir' / split).iterdir()) == stems
        assert sorted(p.stem for p in (out / 'ann_dir' / split).iterdir()) == stems
        assert summary['counts'][split]['images'] == len(stems)
    for src in img_dir.iterdir():
        (copy,) = out.glob(f'img_dir/*/{src.name}')
        assert copy.read_bytes() == src.read_bytes()
        assert summary['source_sha256'][src.name] == hashlib.sha256(
            src.read_bytes()).hexdigest()
    assert sorted(p.name for p in out.iterdir()) == [
        'ann_dir', 'img_dir', 'splits', 'summary.json']
    on_disk = json.loads((out / 'summary.json').read_text())
    assert on_disk == summary
    assert str(tmp_path) not in (out / 'summary.json').read_text()
    fg = sum(int(t.sum()) for t in gt.values()) / sum(t.size for t in gt.values())
    n = {s: c['images'] for s, c in summary['counts'].items()}
    mean_fg = sum(summary['foreground_fraction'][s] * n[s] for s in n) / sum(
        n.values())
    assert abs(mean_fg - fg) < 0.005
    assert summary['categories'] == {'lymphoblast': 1}
    assert sorted(tmp_path.iterdir()) == [out, tmp_path / 'src']  # no temp left


def test_rerun_is_byte_identical_and_independent_of_json_order(tmp_path):
    ann, img_dir, _ = write_cvat_export(tmp_path / 'src', n_all=3, n_healthy=3,
                                        size=(96, 72), encoding='rle', seed=3)
    convert_coco(ann, img_dir, tmp_path / 'a', seed=4, progress=False)
    doc = json.loads(ann.read_text())
    doc['images'].reverse()
    doc['annotations'].reverse()
    ann2 = tmp_path / 'shuffled.json'
    ann2.write_text(json.dumps(doc, indent=1))
    convert_coco(ann2, img_dir, tmp_path / 'b', seed=4, progress=False)
    a, b = tree_bytes(tmp_path / 'a'), tree_bytes(tmp_path / 'b')
    a.pop('summary.json'), b.pop('summary.json')  # the json's own hash differs
    assert a == b
    before = tree_bytes(tmp_path / 'a')
    convert_coco(ann, img_dir, tmp_path / 'a', seed=4, force=True,
                 progress=False)
    assert tree_bytes(tmp_path / 'a') == before
    convert_coco(ann, img_dir, tmp_path / 'c', seed=5, progress=False)
    assert tree_bytes(tmp_path / 'c') != before  # the seed does matter
    # Built in a private temp dir, but the result has a normal folder mode.
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / 'a').stat().st_mode & 0o777 == 0o777 & ~mask


def test_duplicate_content_stays_in_one_split(tmp_path):
    ann, img_dir, doc = tiny_export(tmp_path / 'src', n=10, ext='.png')
    shutil.copyfile(img_dir / 'im3.png', img_dir / 'im9_copy.png')
    doc['images'].append({'id': 99, 'file_name': 'im9_copy.png', 'width': 64,
                          'height': 48})
    ann.write_text(json.dumps(doc))
    for seed in range(6):
        with pytest.warns(ConversionWarning, match='im3.png, im9_copy.png have '
                                                   'identical content'):
            summary = convert_coco(ann, img_dir, tmp_path / f'o{seed}',
                                   seed=seed, progress=False)
        assert summary['duplicates'] == [['im3.png', 'im9_copy.png']]
        (a,) = (tmp_path / f'o{seed}').glob('img_dir/*/im3.png')
        (b,) = (tmp_path / f'o{seed}').glob('img_dir/*/im9_copy.png')
        assert a.parent == b.parent


def test_category_map_ignore_and_existing_output(tmp_path):
    ann, img_dir, doc = tiny_export(tmp_path / 'src', n=4)
    doc['categories'].append({'id': 2, 'name': 'smudge'})
    doc['annotations'].append({'id': 50, 'image_id': 2, 'category_id': 2,
                               'iscrowd': 1, 'segmentation': uncompressed_rle(
                                   np.pad(np.ones((8, 8), np.uint8),
                                          ((0, 40), (0, 56))))})
    ann.write_text(json.dumps(doc))
    out = tmp_path / 'data'
    summary = convert_coco(ann, img_dir, out, category_map={'smudge': 'ignore'},
                           progress=False)
    assert summary['categories'] == {'lymphoblast': 1, 'smudge': 255}
    mask = read_mask(out, 'im1')
    assert (mask[:8, :8] == 255).all() and (mask == 255).sum() == 64
    assert set(np.unique(read_mask(out, 'im0'))) == {0, 1}
    # an existing DATA_ROOT is kept unless force
    before = tree_bytes(out)
    with pytest.raises(ConversionError, match='already exists'):
        convert_coco(ann, img_dir, out, category_map={'smudge': 'ignore'},
                     progress=False)
    assert tree_bytes(out) == before
    # force that would delete the input is refused
    with pytest.raises(ConversionError, match='holds the input'):
        convert_coco(ann, img_dir, tmp_path / 'src', force=True,
                     category_map={'smudge': 'ignore'}, progress=False)
    assert (img_dir / 'im0.png').is_file()


# ------------------------------------------------------------- bad input


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _break(case, ann, img_dir, doc):
    """Apply one kind of damage; returns the expected message fragment."""
    if case == 'missing_json':
        ann.unlink()
        return f'{ann}: cannot read'
    if case == 'invalid_json':
        ann.write_text(json.dumps(doc)[:-7])
        return f'{ann}: invalid JSON'
    if case == 'missing_image':
        (img_dir / 'im1.jpg').unlink()
        return f'{img_dir / "im1.jpg"}: image file not found (image id 2'
    if case == 'size_mismatch':
        doc['images'][2]['width'] = 65
        msg = f'{img_dir / "im2.jpg"}: image is 64x48 but the COCO file says 65x48'
    elif case == 'unknown_image':
        doc['annotations'][1]['image_id'] = 77
        msg = f'{ann}: annotation 2: unknown image_id 77'
    elif case == 'unknown_category':
        doc['annotations'][0]['category_id'] = 9
        msg = f'{ann}: annotation 1: unknown category_id 9'
    elif case == 'duplicate_file_name':
        doc['images'][3]['file_name'] = 'im0.jpg'
        msg = f"{ann}: duplicate file name 'im0.jpg' (image ids 1 and 4)"
    elif case == 'truncated_image':
        _truncate(img_dir / 'im3.jpg')
        msg = f'{img_dir / "im3.jpg"}: truncated or corrupt image'
    elif case == 'corrupt_image':
        (img_dir / 'im0.jpg').write_bytes(b'\xff\xd8 this is not a jpeg')
        msg = f'{img_dir / "im0.jpg"}: corrupt or unsupported image'
    elif case == 'unmapped_category':
        doc['categories'].append({'id': 2, 'name': 'neutrophil'})
        doc['annotations'][0]['category_id'] = 2
        msg = f"{ann}: unmapped categories ['neutrophil']"
    elif case == 'bad_rle':
        doc['annotations'][0]['segmentation'] = {'counts': [5, 10],
                                                 'size': [48, 64]}
        msg = f'{ann}: annotation 1: RLE counts sum to 15, expected 48*64=3072'
    ann.write_text(json.dumps(doc))
    return msg


BAD_CASES = ['missing_json', 'invalid_json', 'missing_image', 'size_mismatch',
             'unknown_image', 'unknown_category', 'duplicate_file_name',
             'truncated_image', 'corrupt_image', 'unmapped_category', 'bad_rle']


@pytest.mark.parametrize('case', BAD_CASES)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
        tmp_path, capsys, case):
    ann, img_dir, doc = tiny_export(tmp_path / 'src', n=4, ext='.jpg')
    expected = _break(case, ann, img_dir, doc)
    work = tmp_path / 'work'
    work.mkdir()
    rc = load_tool(TOOL).main(['--ann', str(ann), '--img-dir', str(img_dir),
                       '--out', str(work / 'data'), '--no-progress'])
    err = capsys.readouterr().err
    assert rc == 2
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith('error: '), err
    assert expected in lines[0], err
    assert list(work.iterdir()) == []  # no DATA_ROOT, no temp dir


def test_tool_runs_from_repo_root_and_refuses_existing_output(tmp_path, capsys):
    ann, img_dir, _ = tiny_export(tmp_path / 'src', n=4, ext='.png')
    out = tmp_path / 'data'
    args = ['--ann', str(ann), '--img-dir', str(img_dir), '--out', str(out),
            '--ratios', '0.5', '0.25', '0.25', '--seed', '3']
    ok = run_tool(TOOL, *args, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert 'train    2 images (1 ALL, 1 healthy)' in ok.stdout
    assert 'convert' in ok.stderr  # the tqdm bar
    assert (out / 'splits' / 'test.txt').read_text().count('\n') == 1
    before = tree_bytes(out)
    rc = load_tool(TOOL).main(args)  # in-process: a second interpreter costs ~10 s
    assert rc == 2
    assert capsys.readouterr().err.strip() == (
        f'error: {out}: output already exists; use --force (force=True) to '
        f'replace it')
    assert tree_bytes(out) == before


def test_warnings_do_not_stop_the_conversion(tmp_path, capsys):
    ann, img_dir, doc = tiny_export(tmp_path / 'src', n=4, ext='.png')
    doc['annotations'][0]['segmentation'] = [[50, 40, 80, 40, 80, 60, 50, 60]]
    doc['annotations'][1]['segmentation'] = [[1, 1, 2, 2]]
    ann.write_text(json.dumps(doc))
    with warnings.catch_warnings():
        rc = load_tool(TOOL).main(['--ann', str(ann), '--img-dir', str(img_dir),
                           '--out', str(tmp_path / 'data'), '--no-progress'])
    captured = capsys.readouterr()
    assert rc == 0
    assert 'warning: ' in captured.err and 'clipped' in captured.err
    assert 'has 2 point(s); skipped' in captured.err
    assert '2 warning(s)' in captured.out
    mask = read_mask(tmp_path / 'data', 'im0')
    assert (mask[40:, 50:] == 1).all() and mask.sum() == 8 * 14
    assert not read_mask(tmp_path / 'data', 'im2').any()
