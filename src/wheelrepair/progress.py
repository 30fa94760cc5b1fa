"""Progress of long work (scan, write), reported to whoever listens: silence unless the CLI installs a
reporter (render.py draws one with rich on a terminal). The layers below only say how far they are."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol

#: Work on fewer bytes than this (a small wheel) finishes too fast for a progress bar to help.
MIN_BYTES = 64 * 1024 * 1024

Advance = Callable[[int], None]


class Reporter(Protocol):
    def start(self, description: str, total: int) -> Advance: ...

    def finish(self, description: str) -> None: ...


class _Silent:
    def start(self, description: str, total: int) -> Advance:
        return _ignore

    def finish(self, description: str) -> None:
        pass


def _ignore(count: int) -> None:
    pass


_reporter: Reporter = _Silent()


@contextlib.contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Send progress to ``reporter`` for the duration of the block."""
    global _reporter
    previous, _reporter = _reporter, reporter
    try:
        yield
    finally:
        _reporter = previous


class Task:
    """One unit of work in progress; ``finish`` may be called more than once."""

    def __init__(self, reporter: Reporter | None, description: str, total: int) -> None:
        self._reporter = reporter
        self._description = description
        self.advance: Advance = reporter.start(description, total) if reporter is not None else _ignore

    def finish(self) -> None:
        if self._reporter is not None:
            self._reporter.finish(self._description)
            self._reporter, self.advance = None, _ignore


def start(description: str, total: int) -> Task:
    """Begin work on ``total`` bytes; call ``advance`` with each step's bytes, then ``finish``. Work
    on less than MIN_BYTES is never reported: it is over before a bar would help."""
    return Task(_reporter if total >= MIN_BYTES else None, description, total)


@contextlib.contextmanager
def task(description: str, total: int) -> Iterator[Advance]:
    """``start`` as a context manager yielding ``advance``."""
    work = start(description, total)
    try:
        yield work.advance
    finally:
        work.finish()
