"""The exception hierarchy: every failure a user can cause or meet is one of these.

The CLI turns a ``WheelRepairError`` into one line on stderr and its ``exit_code``; anything else is a
bug and gets a traceback.
"""

from __future__ import annotations


class WheelRepairError(Exception):
    """Base of every user-facing failure. ``str(err)`` is the one line the user sees."""

    exit_code = 2

    def __init__(self, message: str, *, subject: str | None = None) -> None:
        self.subject = subject
        super().__init__(f"{subject}: {message}" if subject else message)


class UsageError(WheelRepairError):
    """The command line or configuration is wrong (exit 2)."""

    exit_code = 2


class InvalidWheel(WheelRepairError):
    """The input is not a wheel we can safely read: bad zip, hostile paths, bad metadata (exit 2)."""

    exit_code = 2


class InvalidBinary(WheelRepairError):
    """A file looks like a binary of some format but cannot be parsed (exit 2)."""

    exit_code = 2


class NotRepairable(WheelRepairError):
    """The wheel is valid but cannot be made compliant or self-contained (exit 1)."""

    exit_code = 1


class MissingDependency(NotRepairable):
    """A needed library could not be found anywhere the loader (or --lib-path) would look (exit 1)."""


class PolicyViolation(NotRepairable):
    """The requested tag cannot be met (symbol versions, minimum OS, architectures) (exit 1)."""


class EditError(NotRepairable):
    """A binary cannot be edited as required (e.g. no room for new load commands) (exit 1)."""
