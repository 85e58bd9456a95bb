"""Console-script front ends of the tools (argparse, then one call of the package).

Each module holds ``parse_args(argv)`` and ``main(argv)``, installed as an
``allidb-*`` command and imported by ``tools/<same path>.py``. Heavy
dependencies (torch, mmseg, mmengine, onnxruntime) are imported inside
``main``, under :func:`command`, so that an install without them gets one line
saying what to install instead of a traceback.
"""
from __future__ import annotations

import functools
import sys
from typing import Callable, Optional

from ..utils.errors import EXIT_USAGE, tool_main

__all__ = ['command', 'missing_dependency']

EXTRA = {'onnxruntime': 'runtime', 'onnx': 'train'}  # default: the training stack


def missing_dependency(exc: ModuleNotFoundError) -> Optional[str]:
    """The one-line message for a dependency that is not installed; None for
    a module of this package (a bug, shown as a traceback) or without a name."""
    root = (exc.name or '').split('.')[0]  # what one installs: mmcv, not mmcv.ops
    if not root or root == 'allidb_mmseg':
        return None
    if root == 'benchmarks':  # research code: a checkout's `make install` only
        hint = 'run `make install` in a checkout, then `. .venv/bin/activate`'
    else:
        hint = (f'install it with `pip install "allidb_mmseg[{EXTRA.get(root, "train")}]"` '
                '(in a checkout: `make install`, then `. .venv/bin/activate`)')
    return f'error: {root}: not installed for {sys.executable}; {hint}'


def command(func: Callable[..., Optional[int]]) -> Callable[..., int]:
    """Wrap a tool's ``main(argv)``: :func:`~allidb_mmseg.utils.tool_main`, and
    a dependency that is not installed as one line on stderr, exit code 2."""
    wrapped = tool_main(func)

    @functools.wraps(func)
    def wrapper(*args, **kwargs) -> int:
        try:
            return wrapped(*args, **kwargs)
        except ModuleNotFoundError as exc:
            if (line := missing_dependency(exc)) is None:
                raise
            print(line, file=sys.stderr)
            return EXIT_USAGE
    return wrapper
