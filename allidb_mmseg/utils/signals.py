"""Ctrl-C and SIGTERM end a tool the same way: cleanly, in one line.

Python turns only SIGINT into an exception; SIGTERM (a scheduler, ``kill PID``)
would end the process with no ``finally`` blocks, so a tool could not write the
report of the work done so far. :func:`sigterm_as_interrupt` makes SIGTERM
raise :class:`Interrupted` (a ``KeyboardInterrupt``) instead.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Iterator

__all__ = ['Interrupted', 'sigterm_as_interrupt', 'report_interrupt']


class Interrupted(KeyboardInterrupt):
    """A signal (SIGTERM) delivered as an exception, like Ctrl-C's; ``signum`` is its number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While active, SIGTERM raises :class:`Interrupted` in the main thread.

    Outside the main thread (where Python cannot install handlers) this does
    nothing. The previous handler is restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def report_interrupt(exc: KeyboardInterrupt) -> int:
    """Print ``interrupted (SIGNAL)[: notes]`` on stderr; return the exit code
    128 + the signal number (130 for Ctrl-C, 143 for SIGTERM).

    Notes added to the exception on its way up (``exc.add_note``) say what
    was kept, e.g. where the report of the images done so far is.
    """
    signum = getattr(exc, 'signum', signal.SIGINT)
    notes = '; '.join(getattr(exc, '__notes__', []))
    print(f'interrupted ({signal.Signals(signum).name}){": " + notes if notes else ""}',
          file=sys.stderr)
    return 128 + signum
