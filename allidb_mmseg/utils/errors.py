"""The one error type of this package, and how every tool prints it."""
from __future__ import annotations

import contextlib
import functools
import sys
import warnings
from typing import Callable, Iterator, Optional

from .signals import report_interrupt, sigterm_as_interrupt

__all__ = ['AllidbError', 'AllidbWarning', 'tool_main', 'first_line', 'one_line_errors']

EXIT_USAGE = 2


class AllidbError(Exception):
    """Bad input, or an output that cannot be made, in one line.

    ``str()`` is ``<file>: <problem>``, or just the problem while ``path`` is
    None (a caller may set it later). Tools print it through :func:`tool_main`.

    Args:
        path: the file or option at fault; given alone, the whole message.
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


class AllidbWarning(UserWarning):
    """Something a user should know that does not stop the work (a skipped
    input, a fallback taken); every tool prints it as ``warning: <message>``."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type's name."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@contextlib.contextmanager
def one_line_errors(path: object, what: str) -> Iterator[None]:
    """Raise an exception of the block as ``AllidbError(path, '<what>: <its first line>')``
    (it as the cause); an :class:`AllidbError` passes unchanged."""
    try:
        yield
    except AllidbError:
        raise
    except Exception as e:
        raise AllidbError(path, f'{what}: {first_line(e)}') from e


def tool_main(func: Callable[..., Optional[int]]) -> Callable[..., int]:
    """Wrap a tool's ``main(argv)``: one line on stderr, never a traceback.

    - :class:`AllidbError`: ``error: <file>: <problem>``, exit code 2; notes
      added on its way up (``err.add_note``) follow on the same line.
    - Ctrl-C and SIGTERM: ``interrupted (SIGINT|SIGTERM)``, exit code 130 or
      143 (:mod:`.signals`); ``finally`` blocks run first, so reports of the
      work done so far are written.
    - :class:`AllidbWarning`: ``warning: <message>``, and the work goes on.
    """
    @functools.wraps(func)
    def wrapper(*args, **kwargs) -> int:
        with warnings.catch_warnings(), sigterm_as_interrupt():
            original = warnings.showwarning

            def show(message, category, *rest, **kw):
                if issubclass(category, AllidbWarning):
                    print(f'warning: {message}', file=sys.stderr)
                else:
                    original(message, category, *rest, **kw)
            warnings.showwarning = show
            warnings.simplefilter('always', AllidbWarning)
            try:
                return int(func(*args, **kwargs) or 0)
            except AllidbError as err:
                notes = ''.join(f'; {n}' for n in getattr(err, '__notes__', []))
                print(f'error: {err}{notes}', file=sys.stderr)
                return EXIT_USAGE
            except KeyboardInterrupt as exc:
                return report_interrupt(exc)
    return wrapper
