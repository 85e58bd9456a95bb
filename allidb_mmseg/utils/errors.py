"""The one error type of this package, and how every tool prints it."""
from __future__ import annotations

import functools
import sys
from typing import Callable, Optional

__all__ = ['AllidbError', 'report_error', 'tool_main', 'first_line']

EXIT_USAGE = 2


class AllidbError(Exception):
    """Bad input, or an output that cannot be made, in one line.

    ``str()`` is ``<file>: <problem>`` (or just the problem while the file is
    not known yet: a caller may set ``path`` later). Every tool prints it as
    ``error: <file>: <problem>`` and exits with 2, through :func:`tool_main`.

    Args:
        path: the file or option at fault; given alone, it is the whole
            message (for messages that already name their file).
        problem: what is wrong with it.
    """

    def __init__(self, path: object, problem: Optional[str] = None) -> None:
        if problem is None:
            self.path, self.problem = None, str(path)
        else:
            self.path, self.problem = str(path), str(problem)
        super().__init__(self.problem)

    def __str__(self) -> str:
        return f'{self.path}: {self.problem}' if self.path else self.problem


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type's name."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def report_error(err: AllidbError) -> int:
    """Print ``error: <file>: <problem>`` on stderr; return the exit code 2."""
    print(f'error: {err}', file=sys.stderr)
    return EXIT_USAGE


def tool_main(func: Callable[..., Optional[int]]) -> Callable[..., int]:
    """Wrap a tool's ``main(argv)`` so an :class:`AllidbError` becomes one line
    on stderr and exit code 2, never a traceback."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs) -> int:
        try:
            return int(func(*args, **kwargs) or 0)
        except AllidbError as err:
            return report_error(err)
    return wrapper
