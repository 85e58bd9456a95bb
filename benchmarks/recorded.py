"""A benchmark data set written once, recorded with its spec, and reused."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

from allidb_mmseg.utils import AllidbError, atomic_write_json, swap_in_dir, temp_dir_beside

__all__ = ['DATASET_FILE', 'recorded_dataset']

DATASET_FILE = 'dataset.json'


def recorded_dataset(root: Path, spec: dict, what: str,
                     build: Callable[[Path], dict[str, Any]]) -> dict:
    """``root/dataset.json`` when it records ``spec``; else ``build(tmp)`` into a
    temporary folder beside ``root``, recorded (``spec`` plus what ``build``
    returns) and swapped in. Another spec, or a non-empty folder without a
    record, is refused in one line."""
    record = root / DATASET_FILE
    if record.is_file():
        have = json.loads(record.read_text())
        if have.get('spec') != spec:
            raise AllidbError(root, f'holds another {what} ({have.get("spec")}); '
                              'use another folder')
        return have
    if root.exists() and any(root.iterdir()):
        raise AllidbError(root, f'exists, is not empty and holds no {DATASET_FILE}')
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(root)
    try:
        out = dict(spec=spec, **build(tmp))
        atomic_write_json(tmp / DATASET_FILE, out)
        swap_in_dir(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
