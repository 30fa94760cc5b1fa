"""The macOS platform: what the OS provides, and the ``macosx_X_Y_arch`` tag a set of Mach-O files allows.

A tag promises two things: every binary holds each architecture of the tag's arch set, and none needs
a newer macOS than X.Y. Apple silicon only exists from macOS 11, so an arm64 slice needing 11.0 or less
never raises a tag. From macOS 11 on, pip only knows ``macosx_X_0`` tags, so versions are rounded to
the major release.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import ClassVar

from ..formats.macho.resolver import is_system
from ..model import Binary, Reason, Rejection, Verdict
from .base import PolicyInfo

#: The architectures each tag suffix promises.
ARCH_SETS: dict[str, frozenset[str]] = {
    "x86_64": frozenset({"x86_64"}),
    "arm64": frozenset({"arm64"}),
    "universal2": frozenset({"x86_64", "arm64"}),
    "intel": frozenset({"i386", "x86_64"}),
    "universal": frozenset({"i386", "x86_64"}),
    "i386": frozenset({"i386"}),
    "ppc": frozenset({"ppc"}),
    "ppc64": frozenset({"ppc64"}),
    "fat": frozenset({"i386", "ppc"}),
    "fat3": frozenset({"i386", "ppc", "x86_64"}),
    "fat64": frozenset({"ppc64", "x86_64"}),
}
_APPLE_SILICON = (11, 0)
_TAG = re.compile(r"^macosx_(\d+)_(\d+)_([a-z0-9_]+)$")

Version = tuple[int, int]


@dataclass(frozen=True)
class MacTag:
    version: Version
    arch: str

    @classmethod
    def parse(cls, tag: str) -> MacTag | None:
        match = _TAG.match(tag)
        if match is None or match.group(3) not in ARCH_SETS:
            return None
        return cls((int(match.group(1)), int(match.group(2))), match.group(3))

    @property
    def archs(self) -> frozenset[str]:
        return ARCH_SETS[self.arch]

    def __str__(self) -> str:
        return f"macosx_{self.version[0]}_{self.version[1]}_{self.arch}"


def tag_version(version: Sequence[int]) -> Version:
    """The version a wheel tag can express for an OS requirement: 10.x as is, 11+ as X.0."""
    major, minor = _pair(version)
    return (major, minor) if major < 11 else (major, 0)


def _show(version: Sequence[int]) -> str:
    return ".".join(str(v) for v in (tuple(version) + (0,))[:2])


def _floor(arch: str) -> Version:
    """The lowest macOS an architecture exists on: requirements at or below it cost nothing."""
    return _APPLE_SILICON if arch.startswith("arm64") else (0, 0)


class MacOSPlatform:
    name: ClassVar[str] = "macos"

    def provides(self, name: str, requester: Binary) -> bool:
        return is_system(name)

    def removable(self, name: str, requester: Binary) -> bool:
        return False  # the interpreter's library is provided here, not forbidden

    def verdict(
        self,
        binaries: Sequence[tuple[str, Binary]],
        wheel_tags: Sequence[str],
        requested: str | None = None,
        vendored: Collection[str] = (),
    ) -> Verdict:
        wanted = MacTag.parse(requested) if requested else None
        if requested and wanted is None:
            return Verdict(
                self.name, None, error=f"--plat {requested} is not a macosx_X_Y_<arch> tag", usage_error=True
            )
        current = next((t for t in map(MacTag.parse, wheel_tags) if t is not None), None)
        target = wanted or current or _infer(binaries)
        if target is None:
            return Verdict(
                self.name, None, error="cannot tell the macOS architectures from the wheel or its binaries"
            )
        base = max(target.version, _APPLE_SILICON) if target.arch == "arm64" else target.version

        missing = _missing_archs(binaries, target)
        need, forced_by, exact = _needed_version(binaries, target.archs)
        warnings: list[str] = []
        if wanted is None and base != target.version:
            warnings.append(f"{target} cannot be installed on any Mac: arm64 needs macOS 11.0")
        final = MacTag(max(base, need), target.arch)
        rejected: tuple[Rejection, ...] = ()
        error = None
        if need > base:
            reason = Reason(forced_by, f"requires macOS {_show(exact)}")
            rejected = (Rejection(str(MacTag(base, target.arch)), (reason,)),)
            if wanted is not None:
                error = (
                    f"{forced_by} requires macOS {_show(exact)}, newer than {wanted} (--plat) allows; "
                    f"use --plat {final} or rebuild it for macOS {_show(base)}"
                )
            else:
                warnings.append(
                    f"{MacTag(base, target.arch)} raised to {final}: {forced_by} requires macOS {_show(exact)}"
                )
        warnings += _inexpressible(binaries, final)
        if missing:
            rejected += (Rejection(str(final), tuple(missing)),)
            error = "; ".join(f"{r.binary} {r.detail}" for r in missing)
        if error is not None:
            return Verdict(self.name, None, rejected=rejected, warnings=tuple(warnings), error=error)
        return Verdict(self.name, str(final), (str(final),), rejected, tuple(warnings))

    def policies(self) -> Sequence[PolicyInfo]:
        rows = [
            ("macosx_10_9_x86_64", "Intel Macs, macOS 10.9 (Mavericks) and later"),
            ("macosx_10_13_x86_64", "Intel Macs, macOS 10.13 and later"),
            ("macosx_11_0_arm64", "Apple silicon, macOS 11 (Big Sur) and later"),
            ("macosx_14_0_arm64", "Apple silicon, macOS 14 and later"),
            ("macosx_10_9_universal2", "x86_64 (macOS 10.9+) and arm64 (macOS 11+) in fat binaries"),
            ("macosx_10_6_intel", "i386 and x86_64 in fat binaries (legacy)"),
        ]
        return [PolicyInfo(tag, (), self.name, summary) for tag, summary in rows]


def _slices(binary: Binary) -> tuple[Binary, ...]:
    return binary.slices or (binary,)


def _missing_archs(binaries: Sequence[tuple[str, Binary]], target: MacTag) -> list[Reason]:
    reasons = []
    for path, binary in binaries:
        lacking = sorted(target.archs - {s.archs[0] for s in _slices(binary)})
        if lacking:
            reasons.append(Reason(path, f"lacks {' and '.join(lacking)} required by {target.arch}"))
    return reasons


def _needed_version(
    binaries: Sequence[tuple[str, Binary]], archs: frozenset[str]
) -> tuple[Version, str, Version]:
    """The tag version the binaries force, the binary forcing it, and its exact requirement."""
    need: Version = (0, 0)
    exact: Version = (0, 0)
    forced_by = ""
    for path, binary in binaries:
        for item in _slices(binary):
            arch = item.archs[0]
            if arch not in archs or item.min_os is None:
                continue
            version = _pair(item.min_os)
            rounded = tag_version(version)
            if rounded > _floor(arch) and (rounded, version) > (need, exact):
                need, exact, forced_by = rounded, version, path
    return need, forced_by, exact


def _inexpressible(binaries: Sequence[tuple[str, Binary]], tag: MacTag) -> list[str]:
    """Warnings for binaries needing a minor release the tag cannot name (tags for macOS 11+ are X_0):
    pip will install them on the .0 release, where they fail to load."""
    out = []
    for path, binary in binaries:
        for item in _slices(binary):
            arch = item.archs[0]
            if arch in tag.archs and item.min_os is not None:
                version = _pair(item.min_os)
                if version > max(tag.version, _floor(arch)):
                    out.append(
                        f"{path} requires macOS {_show(version)}; no {tag.arch} wheel tag can say more than {tag}"
                    )
                    break
    return out


def _pair(version: Sequence[int]) -> Version:
    major, minor = (tuple(version) + (0, 0))[:2]
    return (major, minor)


def _infer(binaries: Sequence[tuple[str, Binary]]) -> MacTag | None:
    """A tag for a wheel that carries none: the architectures every binary holds, the lowest version."""
    common: frozenset[str] | None = None
    for _path, binary in binaries:
        archs = frozenset(s.archs[0] for s in _slices(binary))
        common = archs if common is None else common & archs
    if not common:
        return None
    for suffix in ("universal2", "intel", "arm64", "x86_64", "i386"):
        if ARCH_SETS[suffix] <= common:
            return MacTag((11, 0) if suffix == "arm64" else (10, 9), suffix)
    return None
