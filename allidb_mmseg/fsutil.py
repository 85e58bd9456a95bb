"""Filesystem helpers shared by the tools that build an output folder."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def temp_dir_beside(target: Path, tag: str = 'tmp') -> Path:
    """A new, empty folder next to ``target``, for building it and renaming.

    Beside the target (same filesystem) so that the final rename is atomic.
    ``mkdtemp`` creates it private (0700); the finished output should have
    the mode any new folder gets, so the umask's mode is applied.
    """
    tmp = Path(tempfile.mkdtemp(prefix=f'.{target.name}.{tag}-',
                                dir=target.parent))
    mask = os.umask(0)
    os.umask(mask)
    tmp.chmod(0o777 & ~mask)
    return tmp
