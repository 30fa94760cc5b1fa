"""The registry of platform families: which ``Platform`` judges binaries of which format."""

from __future__ import annotations

from .base import Platform

_FORMAT_TO_PLATFORM = {"elf": "linux", "macho": "macos", "pe": "windows"}


def platform_for_format(fmt: str) -> Platform:
    return platform_named(_FORMAT_TO_PLATFORM[fmt])


def platform_named(name: str) -> Platform:
    if name == "linux":
        from .manylinux import LinuxPlatform

        return LinuxPlatform()
    if name == "macos":
        from .macos import MacOSPlatform

        return MacOSPlatform()
    if name == "windows":
        from .windows import WindowsPlatform

        return WindowsPlatform()
    raise KeyError(name)
