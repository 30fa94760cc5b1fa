"""The registry of platform families: which ``Platform`` judges binaries of which format."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from ..model import Binary
from . import android
from .base import Platform

_FORMAT_TO_PLATFORM = {"elf": "linux", "macho": "macos", "pe": "windows"}
#: Platform tag prefixes and the binary format their wheels hold.
_TAG_PREFIX_FORMAT = (
    ("macosx_", "macho"),
    ("win", "pe"),
    ("linux_", "elf"),
    ("manylinux", "elf"),
    ("musllinux", "elf"),
    ("android_", "elf"),
)


def platform_name(fmt: str) -> str:
    """``linux``, ``macos`` or ``windows`` for a binary format."""
    return _FORMAT_TO_PLATFORM[fmt]


def format_for_tag(tag: str) -> str | None:
    """The binary format a wheel with platform tag ``tag`` holds (None for ``any`` and unknown tags)."""
    return next((fmt for prefix, fmt in _TAG_PREFIX_FORMAT if tag.startswith(prefix)), None)


def platform_for_format(fmt: str, skip_checks: Collection[str] = ()) -> Platform:
    return platform_named(_FORMAT_TO_PLATFORM[fmt], skip_checks)


def platform_named(name: str, skip_checks: Collection[str] = ()) -> Platform:
    """The platform family ``name``; ``skip_checks`` names optional checks to turn off (Linux:
    ``"isa"``); families without such checks ignore it."""
    if name == "linux":
        from .manylinux import LinuxPlatform

        return LinuxPlatform(skip_checks)
    if name == "macos":
        from .macos import MacOSPlatform

        return MacOSPlatform()
    if name == "windows":
        from .windows import WindowsPlatform

        return WindowsPlatform()
    raise KeyError(name)


def tag_adopter(platform_tags: Sequence[str]) -> Callable[[Binary], Binary] | None:
    """What a wheel's tags say about its binaries beyond what the files say themselves, as a
    function applied to each parsed file (the wheel's and the host libraries read for it); None when
    the tags add nothing. An ``android_*`` tag: every file is built for bionic."""
    return android.adopt if android.wheel_is_android(platform_tags) else None


def runpath_only(tag: str | None) -> bool:
    """True when the loader of ``tag``'s platform follows DT_RUNPATH only (Android)."""
    return android.is_android_tag(tag)
