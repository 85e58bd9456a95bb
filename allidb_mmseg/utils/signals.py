"""Ctrl-C and SIGTERM end a tool the same way: cleanly, in one line.

A scheduler or ``kill PID`` sends SIGTERM, a user at a terminal sends SIGINT
(Ctrl-C). Python turns only SIGINT into an exception; SIGTERM would end the
process on the spot, with no ``finally`` blocks, so a tool could not write the
report of the work done so far. :func:`sigterm_as_interrupt` makes SIGTERM
raise :class:`Interrupted` (a ``KeyboardInterrupt``) instead, so both signals
run the same clean-up, and :func:`report_interrupt` prints the one line and
returns the conventional exit code (128 + signal number: 130 and 143).
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Iterator

__all__ = ['Interrupted', 'sigterm_as_interrupt', 'interrupt_exit_code',
           'report_interrupt']


class Interrupted(KeyboardInterrupt):
    """A signal (SIGTERM) delivered as an exception, like Ctrl-C's.

    Args:
        signum: the signal's number.
    """

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


def interrupt_exit_code(exc: BaseException) -> int:
    """128 + the signal number: 130 for Ctrl-C (SIGINT), 143 for SIGTERM."""
    return 128 + getattr(exc, 'signum', signal.SIGINT)


def report_interrupt(exc: KeyboardInterrupt) -> int:
    """Print ``interrupted (SIGNAL)[: notes]`` on stderr; return the exit code.

    Notes added to the exception on its way up (``exc.add_note``) say what
    was kept, e.g. where the report of the images done so far is.
    """
    name = signal.Signals(getattr(exc, 'signum', signal.SIGINT)).name
    notes = '; '.join(getattr(exc, '__notes__', []))
    print(f'interrupted ({name}){": " + notes if notes else ""}', file=sys.stderr)
    return interrupt_exit_code(exc)
