"""The macOS platform: what the OS provides, and the ``macosx_X_Y_arch`` tags a set of Mach-O files allows.

A wheel's tags promise, per architecture, that every binary loads there and needs no newer macOS than
the tag's X.Y. Each architecture is judged on its own slices: a universal2 wheel whose x86_64 slices
need 10.9 and arm64 slices 12.0 is ``macosx_10_9_x86_64.macosx_12_0_arm64``, not
``macosx_12_0_universal2`` (which would drop Intel Macs on 10.9-11). Apple silicon only exists from
macOS 11, so an arm64 slice needing 11.0 or less never raises a tag. From macOS 11 on, pip only knows
``macosx_X_0`` tags, so versions are rounded to the major release.

Architectures: a binary nothing in the wheel loads (an extension, an executable, a library loaded by
ctypes) must hold every architecture of the tags; a library needs the architectures of the slices that
load it. ``--require-archs`` asks every Mach-O file for the architectures it names.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from ..formats.macho.resolver import archs_needing, is_system
from ..model import Action, Binary, DependencyGraph, Reason, Rejection, Verdict
from .base import Context, PolicyInfo

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
#: Architecture names ``--require-archs`` accepts (as Apple's tools print them).
KNOWN_ARCHS = frozenset({"i386", "x86_64", "x86_64h", "arm64", "arm64e", "arm64_32", "arm", "ppc", "ppc64"})
#: The order tags are written in when each architecture gets its own (delocate's order).
_ARCH_ORDER = ("i386", "x86_64", "arm64", "ppc", "ppc64")
_APPLE_SILICON = (11, 0)
_TAG = re.compile(r"^macosx_(\d+)_(\d+)_([a-z0-9_]+)$")
_VERSION = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.\d+)?$")

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


def parse_tags(text: str) -> list[MacTag] | None:
    """A tag or a compressed tag set (``macosx_10_9_x86_64.macosx_12_0_arm64``); None if any part is
    not a macOS tag."""
    tags = [MacTag.parse(part) for part in text.split(".")]
    return None if not tags or any(t is None for t in tags) else [t for t in tags if t is not None]


def parse_version(text: str) -> Version | None:
    """``"10.9"``, ``"12"`` or ``"13.1"`` as (major, minor); None if it is not a version."""
    match = _VERSION.match(text.strip())
    return None if match is None else (int(match.group(1)), int(match.group(2) or 0))


def parse_archs(text: str) -> frozenset[str] | None:
    """``--require-archs``: ``intel``, ``universal2``, or architectures separated by commas or spaces."""
    names = [n for n in re.split(r"[,\s]+", text.strip()) if n]
    out: set[str] = set()
    for name in names:
        if name in ("intel", "universal2"):
            out |= ARCH_SETS[name]
        elif name in KNOWN_ARCHS:
            out.add(name)
        else:
            return None
    return frozenset(out) or None


def tag_version(version: Sequence[int]) -> Version:
    """The version a wheel tag can express for an OS requirement: 10.x as is, 11+ as X.0."""
    major, minor = _pair(version)
    return (major, minor) if major < 11 else (major, 0)


def _show(version: Sequence[int]) -> str:
    return ".".join(str(v) for v in (tuple(version) + (0,))[:2])


def _floor(arch: str) -> Version:
    """The lowest macOS an architecture exists on: requirements at or below it cost nothing."""
    return _APPLE_SILICON if arch.startswith("arm64") else (0, 0)


def _joined(tags: Sequence[MacTag]) -> str:
    return ".".join(str(t) for t in tags)


@dataclass(frozen=True)
class _Need:
    """What one architecture's slices need: the tag version, the exact version, and who needs it."""

    version: Version = (0, 0)
    exact: Version = (0, 0)
    binary: str = ""


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
        context: Context | None = None,
    ) -> Verdict:
        context = context or Context()
        wanted = parse_tags(requested) if requested else None
        if requested and wanted is None:
            return _usage(f"--plat {requested} is not a macosx_X_Y_<arch> tag")
        current = [t for t in map(MacTag.parse, wheel_tags) if t is not None]
        inferred = _infer(binaries)
        targets = wanted or current or ([inferred] if inferred else [])
        if not targets:
            return Verdict(
                self.name, None, error="cannot tell the macOS architectures from the wheel or its binaries"
            )
        deployment: Version | None = None
        if context.deployment_target and wanted is None:
            deployment = parse_version(context.deployment_target)
            if deployment is None:
                return _usage(
                    f"MACOSX_DEPLOYMENT_TARGET={context.deployment_target!r} is not a macOS version"
                )
        required: frozenset[str] | None = None
        if context.require_archs:
            required = parse_archs(context.require_archs)
            if required is None:
                return _usage(
                    f"--require-archs {context.require_archs!r}: expected intel, universal2 or "
                    f"architectures from {', '.join(sorted(KNOWN_ARCHS))}"
                )

        warnings: list[str] = []
        floors = _floors(targets)
        if wanted is None:
            warnings += [
                f"{t} cannot be installed on any Mac: arm64 needs macOS 11.0"
                for t in targets
                if "arm64" in t.archs and t.version < _APPLE_SILICON and t.archs == {"arm64"}
            ]
        if deployment is not None:
            # as delocate 0.12+: the target replaces the wheel's own minimum
            floors = {arch: max(tag_version(deployment), _floor(arch)) for arch in floors}
        needs = _needs(binaries, frozenset(floors))
        final = {arch: max(floors[arch], needs[arch].version) for arch in floors}
        tags = _pack(final, [t.arch for t in targets])

        rejected: list[Rejection] = []
        errors: list[str] = []
        raised = [arch for arch in floors if needs[arch].version > floors[arch]]
        if raised:
            before = _joined(_pack(floors, [t.arch for t in targets]))
            reasons = tuple(
                Reason(needs[a].binary, f"requires macOS {_show(needs[a].exact)} ({a})") for a in raised
            )
            rejected.append(Rejection(before, reasons))
            top = max(raised, key=lambda a: needs[a].exact)
            need = needs[top]
            if wanted is not None:
                errors.append(
                    # The tag comes from --plat or, for check, from the wheel's own name.
                    f"{need.binary} requires macOS {_show(need.exact)} ({top}), newer than "
                    f"{requested} allows; tag it {_joined(tags)} (repair does, or --plat) or rebuild "
                    f"it for macOS {_show(floors[top])}"
                )
            else:
                warnings.append(
                    f"{before} raised to {_joined(tags)}: {need.binary} requires macOS {_show(need.exact)}"
                )
        if deployment is not None:
            errors += _above_target(binaries, frozenset(floors), deployment)
        else:
            warnings += _inexpressible(binaries, final)
        missing = _missing_archs(binaries, final, _joined(tags), context.graph)
        if missing:
            rejected.append(Rejection(_joined(tags), tuple(missing)))
            errors.append("; ".join(f"{r.binary} {r.detail}" for r in missing))
        if required is not None:
            errors += _lacking_required(binaries, required, context.require_archs or "")
        if errors:
            return Verdict(
                self.name, None, rejected=tuple(rejected), warnings=tuple(warnings), error=errors[0]
            )
        names = tuple(str(t) for t in tags)
        return Verdict(self.name, ".".join(names), names, tuple(rejected), tuple(warnings))

    def policies(self) -> Sequence[PolicyInfo]:
        rows = [
            ("macosx_10_9_x86_64", "Intel Macs, macOS 10.9 (Mavericks) and later"),
            ("macosx_10_13_x86_64", "Intel Macs, macOS 10.13 and later"),
            ("macosx_11_0_arm64", "Apple silicon, macOS 11 (Big Sur) and later"),
            ("macosx_14_0_arm64", "Apple silicon, macOS 14 and later"),
            ("macosx_10_9_universal2", "x86_64 (macOS 10.9+) and arm64 (macOS 11+) in fat binaries"),
            (
                "macosx_10_9_x86_64.macosx_12_0_arm64",
                "fat binaries whose slices need different minimums (x86_64 10.9+, arm64 12+)",
            ),
            ("macosx_10_6_intel", "i386 and x86_64 in fat binaries (legacy)"),
        ]
        return [PolicyInfo(tag, (), self.name, summary) for tag, summary in rows]


def _usage(message: str) -> Verdict:
    return Verdict(MacOSPlatform.name, None, error=message, usage_error=True)


def _floors(targets: Sequence[MacTag]) -> dict[str, Version]:
    """Per architecture, the lowest macOS any of the tags claims for it (never below its first release)."""
    floors: dict[str, Version] = {}
    for tag in targets:
        for arch in tag.archs:
            floors[arch] = min(floors.get(arch, tag.version), tag.version)
    return {arch: max(version, _floor(arch)) for arch, version in floors.items()}


def _pack(final: Mapping[str, Version], preferred: Sequence[str]) -> list[MacTag]:
    """The fewest tags that say exactly ``final``: one fat suffix when one version fits every
    architecture (arm64's 11.0 floor included), else one tag per architecture."""
    archs = frozenset(final)
    for suffix in (*preferred, "universal2", "intel"):
        if ARCH_SETS[suffix] != archs:
            continue
        others = [final[a] for a in archs if _floor(a) == (0, 0)]
        version = max(others) if others else max(final.values())
        if all(max(version, _floor(a)) == final[a] for a in archs):
            return [MacTag(version, suffix)]
    order = {arch: k for k, arch in enumerate(_ARCH_ORDER)}
    return [MacTag(final[a], a) for a in sorted(archs, key=lambda a: (order.get(a, len(order)), a))]


def _slices(binary: Binary) -> tuple[Binary, ...]:
    return binary.slices or (binary,)


def _needs(binaries: Sequence[tuple[str, Binary]], archs: frozenset[str]) -> dict[str, _Need]:
    """Per architecture, the tag version its slices force and the slice forcing it."""
    needs = {arch: _Need() for arch in archs}
    for path, binary in binaries:
        for item in _slices(binary):
            arch = item.archs[0]
            if arch not in archs or item.min_os is None:
                continue
            version = _pair(item.min_os)
            rounded = tag_version(version)
            best = needs[arch]
            if rounded > _floor(arch) and (rounded, version) > (best.version, best.exact):
                needs[arch] = _Need(rounded, version, path)
    return needs


def _above_target(
    binaries: Sequence[tuple[str, Binary]], archs: frozenset[str], target: Version
) -> list[str]:
    """Refusals for slices needing a newer macOS than MACOSX_DEPLOYMENT_TARGET (arm64 counted from 11.0)."""
    worst: tuple[Version, str, str] | None = None
    count = 0
    for path, binary in binaries:
        for item in _slices(binary):
            arch = item.archs[0]
            if arch not in archs or item.min_os is None:
                continue
            version = _pair(item.min_os)
            if version > max(target, _floor(arch)):
                count += 1
                if worst is None or version > worst[0]:
                    worst = (version, path, arch)
    if worst is None:
        return []
    version, path, arch = worst
    more = f" (and {count - 1} more)" if count > 1 else ""
    return [
        f"{path} requires macOS {_show(version)} ({arch}), newer than MACOSX_DEPLOYMENT_TARGET="
        f"{_show(target)}{more}; set MACOSX_DEPLOYMENT_TARGET={_show(version)} to raise the wheel's minimum"
    ]


def _inexpressible(binaries: Sequence[tuple[str, Binary]], final: Mapping[str, Version]) -> list[str]:
    """Warnings for binaries needing a minor release the tag cannot name (tags for macOS 11+ are X_0):
    pip will install them on the .0 release, where they fail to load."""
    out = []
    for path, binary in binaries:
        for item in _slices(binary):
            arch = item.archs[0]
            if arch in final and item.min_os is not None:
                version = _pair(item.min_os)
                if version > max(final[arch], _floor(arch)):
                    out.append(
                        f"{path} requires macOS {_show(version)}; no {arch} wheel tag can say more than "
                        f"macOS {_show(final[arch])}"
                    )
                    break
    return out


def _required_archs(
    binaries: Sequence[tuple[str, Binary]], archs: frozenset[str], graph: DependencyGraph | None
) -> dict[str, frozenset[str]]:
    """Per binary, the architectures it must hold: all of ``archs`` for what nothing in the wheel
    loads, and for a library the architectures of the slices that load it (load chains followed)."""
    keys = {path for path, _ in binaries}
    if graph is None:
        return dict.fromkeys(keys, archs)
    incoming: dict[str, list[tuple[str, str]]] = {}
    for edge in graph.edges:
        if (
            edge.action in (Action.IN_WHEEL, Action.VENDOR)
            and edge.path in keys
            and edge.path != edge.needed_by
        ):
            incoming.setdefault(edge.path, []).append((edge.needed_by, edge.name))
    required = {key: archs for key in keys if key not in incoming}
    changed = True
    while changed:  # grows monotonically, so cycles settle
        changed = False
        for key, loaders in incoming.items():
            need = frozenset().union(
                *(
                    required.get(loader, frozenset()) & archs_needing(graph.nodes[loader].binary, name)
                    for loader, name in loaders
                    if loader in graph.nodes
                )
            )
            if not need <= required.get(key, frozenset()):
                required[key] = required.get(key, frozenset()) | need
                changed = True
    return required


def _missing_archs(
    binaries: Sequence[tuple[str, Binary]],
    final: Mapping[str, Version],
    tag: str,
    graph: DependencyGraph | None,
) -> list[Reason]:
    reasons = []
    required = _required_archs(binaries, frozenset(final), graph)
    for path, binary in binaries:
        lacking = sorted(required.get(path, frozenset()) - {s.archs[0] for s in _slices(binary)})
        if lacking:
            reasons.append(Reason(path, f"{_holds(binary)} lacks {' and '.join(lacking)} required by {tag}"))
    return reasons


def _holds(binary: Binary) -> str:
    """``(arm64, macOS 12.0)``: what a file offers, minimums included, for refusals."""
    parts = [
        f"{s.archs[0]} macOS {_show(s.min_os)}" if s.min_os is not None else s.archs[0]
        for s in _slices(binary)
    ]
    return f"({', '.join(parts)})"


def _lacking_required(
    binaries: Sequence[tuple[str, Binary]], required: frozenset[str], given: str
) -> list[str]:
    out = []
    for path, binary in binaries:
        lacking = sorted(required - {s.archs[0] for s in _slices(binary)})
        if lacking:
            out.append(f"{path} {_holds(binary)} lacks {' and '.join(lacking)} (--require-archs {given})")
    return ["; ".join(out)] if out else []


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
