"""coco_to_masks.py on hostile or damaged input, and after a killed run."""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import pytest
from coco_fixtures import tiny_export

from helpers import call_tool, one_line_error

TOOL = 'dataset_converters/coco_to_masks'


def convert(ann, img_dir, out, *extra):
    return call_tool(TOOL, '--ann', ann, '--img-dir', img_dir, '--out', out,
                     '--no-progress', *extra)


@pytest.mark.parametrize('where', ['absolute', 'dotdot'])
def test_file_name_outside_img_dir_is_refused_unless_allowed(tmp_path, where):
    ann, img_dir, doc = tiny_export(tmp_path / 'src', n=4)
    secret = tmp_path / 'elsewhere' / 'secret.png'
    secret.parent.mkdir()
    (img_dir / 'im3.png').rename(secret)
    name = str(secret) if where == 'absolute' else '../../elsewhere/secret.png'
    doc['images'][3]['file_name'] = name
    ann.write_text(json.dumps(doc))
    out = tmp_path / 'out' / 'data'
    r = convert(ann, img_dir, out)
    assert r.returncode == 2
    assert one_line_error(r.stderr) == (
        f'error: {ann}: image 4: file_name {name!r} points outside --img-dir '
        '(give --allow-outside-img-dir to read it anyway)')
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
    r = convert(ann, img_dir, out, '--allow-outside-img-dir')
    assert r.returncode == 0, r.stderr
    assert len(list(out.glob('img_dir/*/secret.png'))) == 1


@pytest.mark.parametrize('damage,problem', [
    (lambda a: a.update(segmentation={'counts': [3072], 'size': ['a', 'b']}),
     "RLE size ['a', 'b'] does not match the image"),
    (lambda a: a.update(segmentation={'counts': [3072], 'size': [None, None]}),
     'RLE size [None, None] does not match the image'),
    (lambda a: a.update(segmentation=[[10, 10, 30, 10, int('9' * 400), 30]]),
     'polygon part 0 has a coordinate too large for a float'),
    (lambda a: a.update(segmentation={'counts': 'ab\u00e9', 'size': [48, 64]}),
     'corrupt compressed RLE'),
])
def test_malformed_numbers_are_one_line_errors(tmp_path, damage, problem):
    ann, img_dir, doc = tiny_export(tmp_path / 'src', n=2)
    damage(doc['annotations'][0])
    ann.write_text(json.dumps(doc))
    r = convert(ann, img_dir, tmp_path / 'data')
    assert r.returncode == 2
    line = one_line_error(r.stderr)
    assert line.startswith(f'error: {ann}: annotation 1: {problem}')
    assert not (tmp_path / 'data').exists()


def test_the_next_run_removes_what_a_killed_run_left(tmp_path):
    ann, img_dir, _ = tiny_export(tmp_path / 'src', n=4)
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()  # its pid is now free: the owner of the folder below is gone
    stale = tmp_path / f'.data.tmp-{proc.pid}-abcd1234'
    (stale / 'staging').mkdir(parents=True)
    legacy = tmp_path / '.data.tmp-k2j4h5g6'  # before pids were in the name
    legacy.mkdir()
    r = convert(ann, img_dir, tmp_path / 'data')
    assert r.returncode == 0, r.stderr
    assert f'warning: {stale}: removed, a temporary folder of a conversion ' \
        'that was killed' in r.stderr
    assert f'warning: {legacy}: a temporary folder of an earlier ' \
        'conversion; delete it if no conversion is running' in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        '.data.tmp-k2j4h5g6', 'data', 'src']
    assert cv2.imread(str(next((tmp_path / 'data').glob('ann_dir/*/*.png')))
                      ) is not None
