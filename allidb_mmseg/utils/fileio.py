"""Writing outputs so that nothing half-written ever carries a final name.

Every file is written to a hidden temporary name beside its target (same
file system, so the rename is atomic), checked, flushed to disk and renamed.
Folders are built beside their target and swapped in the same way. An
existing output is replaced only when the caller says so (``--force``).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence, Union

from .errors import AllidbError

__all__ = ['refuse_existing', 'atomic_write', 'atomic_write_bytes',
           'atomic_write_text', 'atomic_write_json', 'atomic_imwrite',
           'temp_dir_beside', 'swap_in_dir']

PathLike = Union[str, os.PathLike]


def refuse_existing(path: PathLike, force: bool) -> None:
    """Raise unless ``path`` is free or ``force`` allows replacing it."""
    if not force and (os.path.exists(path) or os.path.islink(path)):
        raise AllidbError(path, 'exists (use --force to overwrite)')


def _temp_name(path: Path) -> Path:
    # Same folder (a rename is atomic only within one file system) and the
    # same suffix (cv2.imwrite and savefig pick the encoder from it).
    return path.with_name(f'.{path.stem}.tmp{os.getpid()}{path.suffix}')


def atomic_write(path: PathLike, write: Callable[[Path], Any],
                 min_bytes: int = 1) -> None:
    """Call ``write(tmp)`` to make a temporary file, check it, rename it to ``path``.

    Args:
        path: the final name; its folder is created when missing.
        write: writes the whole file at the path it is given.
        min_bytes: the smallest size a correct file can have; a shorter
            result (a full disk) raises OSError and leaves ``path`` alone.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        write(tmp)
        with open(tmp, 'rb') as f:
            size = os.fstat(f.fileno()).st_size
            if size < min_bytes:
                raise OSError(f'{path}: write incomplete ({size} bytes; '
                              'is the disk full?)')
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
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


def atomic_imwrite(path: PathLike, img: Any, params: Sequence[int] = ()) -> None:
    """``cv2.imwrite`` through a temporary file; raise if encoding fails.

    ``params`` go to ``cv2.imwrite`` (e.g. ``[cv2.IMWRITE_JPEG_QUALITY, 80]``).
    """
    import cv2

    def write(tmp: Path) -> None:
        if not cv2.imwrite(str(tmp), img, list(params)):
            raise OSError(f'{path}: could not write image')
    atomic_write(path, write)


def temp_dir_beside(target: PathLike, tag: str = 'tmp') -> Path:
    """A new, empty folder next to ``target``, to build it in and rename.

    ``mkdtemp`` makes it private (0700); the finished output gets the mode
    any new folder gets under the umask.
    """
    target = Path(target)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{target.name}.{tag}-',
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
