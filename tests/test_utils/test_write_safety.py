"""Outputs: checked for writability before work starts, never published
half-written, and no temporary left behind by a killed run stays forever."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from allidb_mmseg.utils import (AllidbError, WriteError, atomic_write_bytes,
                                check_writable_dir, remove_stale_temps,
                                temp_dir_beside, tool_main)
from allidb_mmseg.utils.signals import Interrupted, sigterm_as_interrupt
from helpers import read_only, run_py


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


def test_check_writable_dir(open_tmp):
    assert check_writable_dir(open_tmp) == open_tmp
    # A folder still to be made: its nearest existing parent must be writable;
    # nothing is created by the check.
    check_writable_dir(open_tmp / 'a' / 'b')
    assert list(open_tmp.iterdir()) == []
    (open_tmp / 'file').write_text('x')
    with pytest.raises(AllidbError, match='is not a folder'):
        check_writable_dir(open_tmp / 'file' / 'out')
    locked = open_tmp / 'locked'
    locked.mkdir()
    with read_only(locked):
        with pytest.raises(AllidbError) as e:
            check_writable_dir(locked, '--out-dir')
        with pytest.raises(AllidbError) as e2:
            check_writable_dir(locked / 'new')
    assert str(e.value) == (f'{locked}: --out-dir is not writable: '
                            'Permission denied')
    assert str(e2.value) == (f'{locked / "new"}: output folder is not writable '
                             f'(in {locked}): Permission denied')


def test_a_failed_write_is_one_line_and_leaves_nothing(open_tmp):
    locked = open_tmp / 'locked'
    locked.mkdir()
    with read_only(locked):
        with pytest.raises(WriteError) as e:
            atomic_write_bytes(locked / 'report.csv', b'x')
    assert str(e.value) == (f'{locked / "report.csv"}: cannot write: '
                            'Permission denied')
    assert isinstance(e.value, OSError) and list(locked.iterdir()) == []


def test_a_file_where_the_folder_should_be_is_a_write_error(tmp_path):
    (tmp_path / 'afile').write_text('user data')
    with pytest.raises(WriteError, match='afile/report.json: cannot write'):
        atomic_write_bytes(tmp_path / 'afile' / 'report.json', b'x')
    assert (tmp_path / 'afile').read_text() == 'user data'


def test_a_full_disk_never_publishes_a_partial_image(tmp_path):
    # RLIMIT_FSIZE makes the kernel refuse writes past 2000 bytes, as a full
    # disk refuses them (EFBIG instead of ENOSPC; the same code path).
    code = f'''
import resource, numpy as np
from allidb_mmseg.utils import WriteError, atomic_imwrite
resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))
img = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
atomic_imwrite({str(tmp_path / 'small.png')!r}, img[:4, :4])
try:
    atomic_imwrite({str(tmp_path / 'big.png')!r}, img)
except WriteError as e:
    print('WriteError', e)
'''
    r = run_py(code)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == (f'WriteError {tmp_path / "big.png"}: cannot '
                                'write: File too large')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['small.png']


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    target = tmp_path / 'data'
    target.mkdir()
    mine = temp_dir_beside(target)  # this process: alive
    assert mine.name.startswith(f'.data.tmp-{os.getpid()}-')
    pid = dead_pid()
    stale = tmp_path / f'.data.tmp-{pid}-abcd1234'
    stale.mkdir()
    other = tmp_path / f'.other.tmp-{pid}-abcd1234'
    other.mkdir()
    stale_file = tmp_path / f'.report.tmp{pid}.csv'
    stale_file.write_text('half')
    legacy = tmp_path / '.data.tmp-k2j4h5g6'  # before the pid was in names
    legacy.mkdir()
    removed, unknown = remove_stale_temps(tmp_path, 'data')
    assert removed == [stale] and unknown == [legacy]
    assert mine.is_dir() and other.is_dir() and stale_file.is_file()
    removed, _ = remove_stale_temps(tmp_path)
    assert set(removed) == {other, stale_file}


def test_a_swap_killed_halfway_gets_the_old_output_back(tmp_path):
    # Killed between swap_in_dir's two renames: DATA_ROOT is parked as .old.
    pid = dead_pid()
    parked = tmp_path / f'.data.tmp-{pid}-abcd1234.old'
    (parked / 'img_dir').mkdir(parents=True)
    new = tmp_path / f'.data.tmp-{pid}-abcd1234'
    new.mkdir()
    removed, _ = remove_stale_temps(tmp_path, 'data')
    assert set(removed) == {parked, new}
    assert sorted(p.name for p in tmp_path.iterdir()) == ['data']
    assert (tmp_path / 'data' / 'img_dir').is_dir()


def test_sigterm_is_an_interrupt_with_its_exit_code(capsys):
    with sigterm_as_interrupt():
        with pytest.raises(Interrupted) as e:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs between bytecodes
                pass
    assert e.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

    @tool_main
    def long_tool(signum: int) -> int:
        try:
            os.kill(os.getpid(), signum)
            for _ in range(1000):
                pass
        except KeyboardInterrupt as exc:
            exc.add_note('report of 3 images written')
            raise
        return 0

    assert long_tool(signal.SIGTERM) == 143
    assert capsys.readouterr().err == (
        'interrupted (SIGTERM): report of 3 images written\n')
    # Ctrl-C as in a terminal (a shell starts background jobs, and so
    # perhaps this test run, with SIGINT ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert long_tool(signal.SIGINT) == 130
    finally:
        signal.signal(signal.SIGINT, previous)
    assert capsys.readouterr().err.startswith('interrupted (SIGINT)')


def test_write_errors_carry_the_notes_of_what_was_kept(capsys):
    @tool_main
    def tool() -> int:
        err = WriteError('out/masks/a.png', 'cannot write: No space left on '
                         'device')
        err.add_note('report of the 2 image(s) done so far: out/report.csv')
        raise err

    assert tool() == 2
    assert capsys.readouterr().err == (
        'error: out/masks/a.png: cannot write: No space left on device; '
        'report of the 2 image(s) done so far: out/report.csv\n')
