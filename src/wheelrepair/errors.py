"""The exception hierarchy: every failure a user can cause or meet is one of these.

The CLI turns a ``WheelRepairError`` into one line on stderr and its ``exit_code``; anything else is a
bug and gets a traceback.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import struct
from collections.abc import Iterator
from contextlib import contextmanager

#: Longest message a user is shown: hostile input can put a 64 KiB "file name" into a zip header,
#: and an error quoting it must still be one readable line.
MAX_MESSAGE = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` with control characters (newlines too) escaped and cut to ``limit`` characters."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


class WheelRepairError(Exception):
    """Base of every user-facing failure. ``str(err)`` is the one line the user sees."""

    exit_code = 2

    def __init__(self, message: str, *, subject: str | None = None) -> None:
        self.subject = subject
        super().__init__(one_line(f"{subject}: {message}" if subject else message))


class UsageError(WheelRepairError):
    """The command line or configuration is wrong (exit 2)."""

    exit_code = 2


class InvalidWheel(WheelRepairError):
    """The input is not a wheel we can safely read: bad zip, hostile paths, bad metadata (exit 2)."""

    exit_code = 2


class InvalidBinary(WheelRepairError):
    """A file looks like a binary of some format but cannot be parsed (exit 2)."""

    exit_code = 2


class OutputError(WheelRepairError):
    """The repaired wheel cannot be written: the disk is full, the output directory vanished (exit 1).
    Nothing is left behind: no partial wheel, no temporary file."""

    exit_code = 1


class NotRepairable(WheelRepairError):
    """The wheel is valid but cannot be made compliant or self-contained (exit 1)."""

    exit_code = 1


class MissingDependency(NotRepairable):
    """A needed library could not be found anywhere the loader (or --lib-path) would look (exit 1)."""


class PolicyViolation(NotRepairable):
    """The requested tag cannot be met (symbol versions, minimum OS, architectures) (exit 1)."""


class EditError(NotRepairable):
    """A binary cannot be edited as required (e.g. no room for new load commands) (exit 1)."""


#: What a binary reader's or editor's own code raises when a header field sends it out of bounds:
#: unpacking past the end, a count or offset out of range, a name that does not decode.
PARSE_ERRORS: tuple[type[BaseException], ...] = (
    struct.error,
    ValueError,
    IndexError,
    KeyError,
    OverflowError,
    ZeroDivisionError,
    RecursionError,
)


@contextmanager
def malformed_binary(subject: str) -> Iterator[None]:
    """Turn a reader's or editor's stray ``PARSE_ERRORS`` on ``subject`` into one ``InvalidBinary``
    line; readers raise ``InvalidBinary`` themselves for what they check, this is the net below.
    The traceback goes to the debug log (``-vv``) so a reader bug stays findable."""
    try:
        yield
    except PARSE_ERRORS as err:
        logging.getLogger("wheelrepair").debug("parse error in %s", subject, exc_info=True)
        raise InvalidBinary(f"malformed binary ({type(err).__name__}: {err})", subject=subject) from None


def require_regular_file(path: str | os.PathLike[str]) -> None:
    """UsageError unless ``path`` is a regular file: a FIFO would block on open and a device
    (``/dev/zero``) would be read without end."""
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        raise UsageError(f"cannot read: {err.strerror}", subject=os.fspath(path)) from None
    if not stat.S_ISREG(mode):
        raise UsageError("not a regular file", subject=os.fspath(path))
