"""Bad data is found before the Runner starts: one line naming the file."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from allidb_mmseg.datasets.validate import validate_split
from allidb_mmseg.utils import AllidbError
from helpers import call_tool, one_line_error, write_random_seg_root


@pytest.fixture
def data(tmp_path) -> Path:
    return write_random_seg_root(tmp_path / 'data',
                                 {'train': 3, 'val': 2, 'test': 2})


def break_data(root: Path, case: str) -> tuple[Path, str]:
    """Damage one file; return it and the expected problem."""
    train_img = root / 'img_dir' / 'train' / 'im001.png'
    train_mask = root / 'ann_dir' / 'train' / 'im001.png'
    val_mask = root / 'ann_dir' / 'val' / 'im001.png'
    if case == 'no_ann_dir':
        shutil.rmtree(root / 'ann_dir')
        return root / 'ann_dir' / 'train', 'no such mask folder'
    if case == 'mask_value_7':
        mask = cv2.imread(str(train_mask), cv2.IMREAD_UNCHANGED)
        mask[0, 0] = 7
        cv2.imwrite(str(train_mask), mask)
        return train_mask, 'mask holds the value(s) 7; class indices are 0'
    if case == 'mask_smaller':
        cv2.imwrite(str(val_mask), np.zeros((16, 16), np.uint8))
        return val_mask, 'mask is 16x16 but its image im001.png is 32x32'
    if case == 'tiny_image':
        cv2.imwrite(str(train_img), np.zeros((1, 1, 3), np.uint8))
        cv2.imwrite(str(train_mask), np.zeros((1, 1), np.uint8))
        return train_img, 'image is 1x1; at least 8x8 pixels needed'
    if case == 'image_without_mask':
        train_mask.unlink()
        return train_img, 'image has no mask'
    if case == 'colour_mask':
        cv2.imwrite(str(train_mask), np.zeros((32, 32, 3), np.uint8))
        return train_mask, 'mask is RGB, not a single-channel image'
    if case == 'not_an_image':
        train_img.write_bytes(b'not a png')
        return train_img, 'not a readable image'
    raise ValueError(case)


CASES = ['no_ann_dir', 'mask_value_7', 'mask_smaller', 'tiny_image',
         'image_without_mask', 'colour_mask', 'not_an_image']


@pytest.mark.parametrize('case', CASES)
def test_train_checks_every_split_before_it_starts(data, tmp_path,
                                                   tiny_trained, case):
    bad, problem = break_data(data, case)
    work = tmp_path / 'work'
    r = call_tool('train', tiny_trained.config, '--data-root', data,
                  '--work-dir', work)
    assert r.returncode == 2
    line = one_line_error(r.stderr)
    assert line.startswith(f'error: {bad}: {problem}'), line
    assert not work.exists()  # nothing started, no checkpoint written


def test_test_tool_checks_its_split_and_can_skip_it(data, tmp_path,
                                                    tiny_trained):
    mask = data / 'ann_dir' / 'test' / 'im000.png'
    values = cv2.imread(str(mask), cv2.IMREAD_UNCHANGED)
    values[:2, :2] = 7  # silently scored as neither class before
    cv2.imwrite(str(mask), values)
    argv = [tiny_trained.config, tiny_trained.checkpoint, '--data-root', data,
            '--work-dir', tmp_path / 'work']
    r = call_tool('test', *argv)
    assert r.returncode == 2
    assert one_line_error(r.stderr).startswith(f'error: {mask}: mask holds')
    r = call_tool('test', *argv, '--skip-data-check')
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / 'work' / 'test_metrics.json').is_file()


def test_exif_rotation_counts_as_mmseg_loads_the_image(tmp_path):
    img_dir, ann_dir = tmp_path / 'img', tmp_path / 'ann'
    img_dir.mkdir()
    ann_dir.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees: OpenCV swaps width and height
    Image.new('RGB', (40, 30)).save(img_dir / 'a.jpg', exif=exif)
    cv2.imwrite(str(ann_dir / 'a.png'), np.zeros((30, 40), np.uint8))
    with pytest.raises(AllidbError, match=r'mask is 40x30 but its image '
                       r'a.jpg is 30x40 \(as mmseg loads it\)'):
        validate_split(img_dir, ann_dir)
    cv2.imwrite(str(ann_dir / 'a.png'), np.full((40, 30), 255, np.uint8))
    assert validate_split(img_dir, ann_dir) == 1


def test_mask_values_are_checked_against_the_models_classes(tmp_path):
    img_dir, ann_dir = tmp_path / 'img', tmp_path / 'ann'
    img_dir.mkdir()
    ann_dir.mkdir()
    cv2.imwrite(str(img_dir / 'a.png'), np.zeros((16, 16, 3), np.uint8))
    mask = np.zeros((16, 16), np.uint8)
    mask[:4], mask[-4:] = 2, 255  # a third class (say, other white cells)
    cv2.imwrite(str(ann_dir / 'a.png'), mask)
    with pytest.raises(AllidbError, match=r'holds the value\(s\) 2; class indices are '
                       r'0 \(background\), 1 \(lymphoblast\) and 255'):
        validate_split(img_dir, ann_dir)
    assert validate_split(img_dir, ann_dir, num_classes=3) == 1
    mask[0, 0] = 3
    cv2.imwrite(str(ann_dir / 'a.png'), mask)
    with pytest.raises(AllidbError, match=r'holds the value\(s\) 3; class indices are '
                       r'0 \(background\), 1 \(lymphoblast\) to 2 and 255'):
        validate_split(img_dir, ann_dir, num_classes=3)
