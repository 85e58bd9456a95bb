"""Writing outputs so that nothing half-written ever carries a final name.

Files are written to a hidden temporary name beside their target, checked,
flushed and renamed (atomic on one file system); folders are built beside
their target and swapped in.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from .errors import AllidbError, first_line

__all__ = ['refuse_existing', 'atomic_write', 'atomic_write_bytes',
           'atomic_write_text', 'atomic_write_json', 'atomic_imwrite',
           'temp_dir_beside', 'swap_in_dir', 'WriteError',
           'check_writable_dir', 'remove_stale_temps', 'onnx_sidecar_entry', 'map_nested']

PathLike = Union[str, os.PathLike]


class WriteError(AllidbError, OSError):
    """An output that could not be written (disk full, permissions, quota).

    Both an :class:`AllidbError` (tools print it in one line) and an
    ``OSError`` (code catching OS errors still does), with its ``errno``.
    """


def onnx_sidecar_entry(model: PathLike, key: str) -> Any:
    """``key`` of an exported ``.onnx`` model's JSON sidecar (``model.json``);
    None for another kind of file, a missing or unreadable sidecar (the model
    loader reports a bad one) or a missing key."""
    if Path(model).suffix != '.onnx':
        return None
    try:
        return json.loads(Path(model).with_suffix('.json').read_text(encoding='utf-8')).get(key)
    except (OSError, ValueError, AttributeError):
        return None


def refuse_existing(path: PathLike, force: bool) -> None:
    """The check of an output file before any work: raise unless ``path`` is
    free (or ``force`` allows replacing it) and its folder can be written
    (:func:`check_writable_dir`)."""
    if not force and (os.path.exists(path) or os.path.islink(path)):
        raise AllidbError(path, 'exists (use --force to overwrite)')
    check_writable_dir(Path(os.path.abspath(path)).parent)


def atomic_write(path: PathLike, write: Callable[[Path], Any], min_bytes: int = 1) -> None:
    """Call ``write(tmp)`` to make a temporary file, check it, rename it to ``path``.

    Args:
        path: the final name; its folder is created when missing.
        write: writes the whole file at the path it is given.
        min_bytes: the smallest size a correct file can have; a shorter
            result (a full disk) raises WriteError and leaves ``path`` alone.

    Raises:
        WriteError: the file could not be written; ``path`` is unchanged
            (an older file of that name is kept) and no temporary is left.
    """
    path = Path(path)
    # Same folder (a rename is atomic only within one file system) and the
    # same suffix (cv2.imwrite and savefig pick the encoder from it).
    tmp = path.with_name(f'.{path.stem}.tmp{os.getpid()}{path.suffix}')
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        with open(tmp, 'rb') as f:
            size = os.fstat(f.fileno()).st_size
            if size < min_bytes:
                raise WriteError(path, f'write incomplete ({size} bytes; '
                                 'is the disk full?)')
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except WriteError:
        raise
    except OSError as e:
        err = WriteError(path, f'cannot write: {e.strerror or first_line(e)}')
        err.errno = e.errno
        raise err from e
    finally:
        # Never hides the error above (a parent that is a file: ENOTDIR).
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data), min_bytes=len(data))


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` through a temporary file."""
    atomic_write_bytes(path, text.encode('utf-8'))


def atomic_write_json(path: PathLike, obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON (with a final newline) through a temporary file."""
    atomic_write_text(path, json.dumps(obj, indent=indent) + '\n')


def map_nested(value: Any, leaf: Callable[[Any], Any]) -> Any:
    """``value`` rebuilt for JSON: dicts as dicts, lists and tuples as lists, and
    ``leaf`` applied to everything else in them."""
    if isinstance(value, dict):
        return {k: map_nested(x, leaf) for k, x in value.items()}
    if isinstance(value, (list, tuple)):
        return [map_nested(x, leaf) for x in value]
    return leaf(value)


def atomic_imwrite(path: PathLike, img: Any, params: Sequence[int] = ()) -> None:
    """Encode ``img`` in memory (format from the suffix; ``params`` go to the
    encoder), then write it through a temporary file. In memory because
    ``cv2.imwrite`` may report success for a file the disk had no room for.

    Raises:
        WriteError: the image cannot be encoded or the file cannot be written.
    """
    import cv2

    try:
        ok, data = cv2.imencode(Path(path).suffix or '.png', img, list(params))
    except cv2.error as e:
        raise WriteError(path, f'could not encode the image: {first_line(e)}')
    if not ok:
        raise WriteError(path, 'could not encode the image')
    atomic_write_bytes(path, data.tobytes())


def temp_dir_beside(target: PathLike, tag: str = 'tmp') -> Path:
    """A new, empty folder next to ``target``, to build it in and rename.

    Named ``.<target name>.<tag>-<pid>-<random>``: the pid tells a later run
    whether its owner is alive (:func:`remove_stale_temps`). Its mode is that
    of any new folder under the umask, not mkdtemp's private 0700.
    """
    target = Path(target)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{target.name}.{tag}-{os.getpid()}-',
                                dir=target.parent))
    mask = os.umask(0)
    os.umask(mask)
    tmp.chmod(0o777 & ~mask)
    return tmp


def swap_in_dir(tmp: PathLike, target: PathLike) -> None:
    """Rename the finished folder ``tmp`` to ``target``.

    An existing ``target`` (folder, file or link) is moved aside first and
    deleted only after the new one is in place; if the rename fails, it is
    put back.
    """
    tmp, target = Path(tmp), Path(target)
    if not (target.exists() or target.is_symlink()):
        os.replace(tmp, target)
        return
    old = tmp.with_name(tmp.name + '.old')
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except OSError:
        os.replace(old, target)
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old)
    else:
        old.unlink()


# Temporary names of this module: files ``.<stem>.tmp<pid><suffix>``
# (atomic_write), folders ``.<name>.<tag>-<pid>-<random>`` (temp_dir_beside),
# and a replaced folder parked as ``<temp folder>.old`` (swap_in_dir).
_TEMP_FILE = re.compile(r'^\.(?P<name>.+)\.tmp(?P<pid>\d+)(\.[A-Za-z0-9]+)?$')
_TEMP_DIR = re.compile(r'^\.(?P<name>.+)\.[A-Za-z]+-(?P<pid>\d+)-[A-Za-z0-9_]+'
                       r'(?P<old>\.old)?$')
# Folders of temp_dir_beside before the pid was in the name: owner unknown.
_LEGACY_TEMP_DIR = re.compile(r'^\.(?P<name>.+)\.tmp-[A-Za-z0-9_]{8}(\.old)?$')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temps(folder: PathLike, name: Optional[str] = None
                       ) -> tuple[list[Path], list[Path]]:
    """Delete temporaries of this module that killed runs left in ``folder``.

    Only those whose owning process is gone count (the pid is in the name; on
    a file system shared between machines, run this where the writers run). A
    folder parked by :func:`swap_in_dir` (``*.old``) whose target is missing
    is the previous output: it is put back, not deleted.

    Args:
        folder: where to look (not recursive).
        name: only temporary folders of this output (e.g. the DATA_ROOT's
            folder name); None for every temporary file and folder.

    Returns:
        ``(removed, unknown)``: what was deleted or restored, and temporary
        folders of an older naming whose owner cannot be told (left alone).
    """
    folder = Path(folder)
    removed: list[Path] = []
    unknown: list[Path] = []
    if not folder.is_dir():
        return removed, unknown
    for entry in sorted(folder.iterdir()):
        m = (_TEMP_DIR if entry.is_dir() else _TEMP_FILE).match(entry.name)
        if m is None:
            legacy = _LEGACY_TEMP_DIR.match(entry.name)
            if legacy and entry.is_dir() and name in (None, legacy['name']):
                unknown.append(entry)
            continue
        if (name is not None and (entry.is_file() or m['name'] != name)
                or _alive(int(m['pid']))):
            continue
        target = folder / m['name']
        if entry.is_dir() and m['old'] and not target.exists():
            os.replace(entry, target)  # killed mid-swap: keep the old output
        elif entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        removed.append(entry)
    return removed, unknown


def check_writable_dir(path: PathLike, what: str = 'output folder') -> Path:
    """Fail early, in one line, when nothing can be written at ``path`` (returned as a Path).

    So that a tool does not train for an hour and then die on its first write.
    A missing folder is checked in its nearest existing parent. A probe is
    written and deleted: it sees what permission bits do not (read-only
    mounts, quotas, root's rights).

    Args:
        path: the folder the tool will write into.
        what: how the error names it ('output folder', '--work-dir', ...).

    Raises:
        AllidbError: ``path`` (or a parent) is a file, or cannot be written.
    """
    path = Path(path)
    probe_in = path
    while not probe_in.exists() and probe_in.parent != probe_in:
        probe_in = probe_in.parent
    if not probe_in.is_dir():
        raise AllidbError(path, f'{what}: {probe_in} is not a folder')
    try:
        os.rmdir(tempfile.mkdtemp(prefix='.write-check-', dir=probe_in))
    except OSError as e:
        where = '' if probe_in == path else f' (in {probe_in})'
        raise AllidbError(path, f'{what} is not writable{where}: '
                          f'{e.strerror or first_line(e)}') from e
    return path
