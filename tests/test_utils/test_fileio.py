"""One atomic write for every output: checked, renamed, never half-published."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from allidb_mmseg.utils import (AllidbError, atomic_imwrite, atomic_write,
                                atomic_write_bytes, atomic_write_json,
                                refuse_existing, swap_in_dir, temp_dir_beside)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_creates_folders_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / 'a' / 'b' / 'out.json'
    atomic_write_json(target, {'x': [1, 2]})
    assert target.read_text() == '{\n  "x": [\n    1,\n    2\n  ]\n}\n'
    assert listing(target.parent) == ['out.json']


def test_a_short_write_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / 'report.csv'
    target.write_text('old contents\n')

    def full_disk(tmp: Path) -> None:
        tmp.write_bytes(b'')  # what a full file system leaves behind

    with pytest.raises(OSError, match='write incomplete'):
        atomic_write(target, full_disk)
    assert target.read_text() == 'old contents\n'
    assert listing(tmp_path) == ['report.csv']


def test_bytes_are_checked_against_their_length(tmp_path, monkeypatch):
    target = tmp_path / 'x.bin'
    real = Path.write_bytes
    monkeypatch.setattr(Path, 'write_bytes',
                        lambda self, data: real(self, data[:3]))
    with pytest.raises(OSError, match='3 bytes'):
        atomic_write_bytes(target, b'0123456789')
    assert not target.exists() and listing(tmp_path) == []


def test_failed_image_encoding_publishes_nothing(tmp_path):
    img = np.zeros((4, 4), np.uint8)
    with pytest.raises(Exception):
        atomic_imwrite(tmp_path / 'mask.notanimage', img)
    assert listing(tmp_path) == []
    atomic_imwrite(tmp_path / 'mask.png', img)
    assert listing(tmp_path) == ['mask.png']


def test_refuse_existing_names_the_file(tmp_path):
    target = tmp_path / 'm.json'
    refuse_existing(target, force=False)  # free: fine
    target.write_text('{}')
    with pytest.raises(AllidbError) as e:
        refuse_existing(target, force=False)
    assert str(e.value) == f'{target}: exists (use --force to overwrite)'
    refuse_existing(target, force=True)


def test_swap_in_dir_replaces_only_after_the_new_one_is_in_place(tmp_path):
    target = tmp_path / 'data'
    (target / 'old').mkdir(parents=True)
    tmp = temp_dir_beside(target)
    mask = os.umask(0)
    os.umask(mask)
    assert tmp.parent == tmp_path and tmp.name.startswith('.data.tmp-')
    assert tmp.stat().st_mode & 0o777 == 0o777 & ~mask
    (tmp / 'new').mkdir()
    swap_in_dir(tmp, target)
    assert listing(target) == ['new'] and listing(tmp_path) == ['data']
    # A file in the way is replaced the same way.
    (tmp_path / 'plain').write_text('x')
    tmp2 = temp_dir_beside(tmp_path / 'plain')
    swap_in_dir(tmp2, tmp_path / 'plain')
    assert (tmp_path / 'plain').is_dir()
