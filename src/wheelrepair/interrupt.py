"""Ctrl-C (SIGINT) and SIGTERM as one exception that unwinds like any other.

Python's default for SIGTERM is to die on the spot, leaving a half-written wheel's temporary files in
the output directory; SIGINT's ``KeyboardInterrupt`` is caught by click and printed as "Aborted!".
Both become ``Interrupted``: every ``finally`` and ``with`` on the way up removes what it created,
and the CLI exits with the shell's convention, 128 + the signal number (130, 143).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Interrupted(BaseException):
    """A signal asked us to stop. A BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` on the way up swallows it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    def __reduce__(self) -> tuple[type[Interrupted], tuple[int]]:
        # -j workers send exceptions back pickled; the default would pass the name, not the number.
        return (Interrupted, (self.signum,))

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


#: The signals that stop a run cleanly.
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _raise(signum: int, frame: FrameType | None) -> None:
    # Once is enough: a second signal during cleanup must not cut the cleanup short.
    for other in SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    raise Interrupted(signum)


def install() -> None:
    """Route SIGINT and SIGTERM to ``Interrupted`` (main thread only; elsewhere a no-op). Worker
    processes forked after this inherit it, so they clean up too when the parent stops them."""
    try:
        for signum in SIGNALS:
            signal.signal(signum, _raise)
    except ValueError:  # not the main thread: signals cannot be handled here
        pass


#: In a worker process: how many tasks are under way (they unwind on a signal; an idle worker exits).
_busy = 0
#: The signal a worker got while busy: it exits once its task has unwound, taking no further task.
_stopping: int | None = None


def _worker_signal(signum: int, frame: FrameType | None) -> None:
    global _stopping
    if _busy:
        _stopping = signum
        _raise(signum, frame)
    os._exit(128 + signum)  # idle: nothing to clean up, and no traceback from the pool's loop


def install_worker() -> None:
    """Initializer of ``-j`` worker processes: a signal unwinds the task under way (removing its
    temporary files); an idle worker just exits."""
    for signum in SIGNALS:
        signal.signal(signum, _worker_signal)


@contextmanager
def task() -> Iterator[None]:
    """Marks a worker's task as under way, for ``install_worker``'s handler."""
    global _busy
    _busy += 1
    try:
        yield
    finally:
        _busy -= 1
        if _stopping is not None:
            os._exit(128 + _stopping)
