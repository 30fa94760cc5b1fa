"""Merging two builds of one project for different CPUs into one wheel (delocate-merge's job).

Every member of either wheel is kept. A member both wheels hold must be the same bytes, unless it is
a binary both hold, which the backend fuses into one file with the architectures of both (Mach-O
universal files; formats without them cannot be merged). The tag is then computed from the fused
binaries, per architecture, by the platform policy, exactly as ``repair`` would; the output is
re-opened and checked before it gets its final name. Nothing here knows which format it is handling.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from .. import __version__
from ..errors import InvalidWheel, NotRepairable, PolicyViolation, UsageError
from ..formats import backend_named
from ..formats.base import Fuser
from ..options import RepairOptions
from ..wheel.archive import WheelArchive
from ..wheel.metadata import SIGNATURE_FILES, WheelMetadata, installed_path, retag
from ..wheel.writer import write_wheel
from .repair import analyze, analyze_scanned, check_analysis
from .sbom import merged_sbom, sbom_member
from .scan import ScannedBinary, scan_wheel


@dataclass(frozen=True)
class MergeResult:
    inputs: tuple[Path, Path]
    output: Path
    tags: tuple[str, ...]
    #: Members fused from a binary of each wheel.
    fused: tuple[str, ...]
    #: Members only the second wheel held, added to the first's.
    added: tuple[str, ...]
    warnings: tuple[str, ...]


def merge(first: Path, second: Path, out_dir: Path, options: RepairOptions | None = None) -> MergeResult:
    options = options or RepairOptions()
    with WheelArchive.open(first) as left, WheelArchive.open(second) as right:
        _same_project(left.metadata, right.metadata)
        fmt_left, scanned_left = scan_wheel(left)
        fmt_right, scanned_right = scan_wheel(right)
        fmt = _one_format(
            left.metadata, fmt_left, right.metadata, fmt_right, bool(scanned_left), bool(scanned_right)
        )
        managed = _managed(left.metadata)
        sbom = sbom_member(left.metadata)
        managed.add(sbom)  # one SBOM for the merged wheel, built from both (below)
        binaries_left = {s.member for s in scanned_left}
        binaries_right = {s.member for s in scanned_right}
        right_members = set(right.members)
        fused: dict[str, bytes] = {}
        for member in left.members:
            if member in managed or member.endswith("/") or member not in right_members:
                continue
            if _same_member(left, right, member):
                continue
            if member not in binaries_left or member not in binaries_right or fmt is None:
                raise NotRepairable(
                    f"{member} differs between the two wheels and is not a binary both hold, so it "
                    f"cannot be fused; the wheels must come from the same sources",
                    subject=second.name,
                )
            backend = backend_named(fmt)
            if not isinstance(backend, Fuser):
                raise UsageError(
                    f"{member}: {fmt} binaries cannot be fused; only macOS wheels hold universal files",
                    subject=second.name,
                )
            fused[member] = backend.fuse(left.read(member), right.read(member), member)
        left_members = set(left.members)
        added = {
            m: right.read(m)
            for m in right.members
            if m not in managed and not m.endswith("/") and m not in left_members
        }
        modes = {m: _mode(right, m) for m in added}
        documents = [a.read(sbom) for a in (left, right) if sbom in a.members]

        scanned = _merged_scan(left.metadata, fmt, scanned_left, scanned_right, fused)
        tags, warnings = _tags(left, right, fmt, scanned, options)
        new_name, tag_lines = retag(left.metadata, tags)
        replaced: dict[str, bytes] = {}
        if documents:  # one SBOM, from both wheels', naming the merged wheel
            merged = merged_sbom(
                left.metadata, new_name, documents,
                tool_version=__version__, members=set(left.members) | set(added), written={**fused, **added},
            )  # fmt: skip
            if sbom in left.members:
                replaced[sbom] = merged
            else:
                added[sbom] = merged
                modes[sbom] = 0o644
        output = _writable(out_dir, first) / new_name
        if any(output.resolve() == p.resolve() for p in (first, second)):
            raise UsageError(
                f"the merged wheel {new_name} would overwrite an input wheel", subject=str(out_dir)
            )
        with tempfile.TemporaryDirectory(prefix=".wheelrepair-", dir=out_dir) as staging:
            staged = Path(staging) / new_name
            write_wheel(left, staged, replace={**fused, **replaced}, add=added, wheel_tags=tag_lines, modes=modes)
            warnings += _check(staged, options)
            os.replace(staged, output)
    return MergeResult(
        (first, second), output, tags, tuple(sorted(fused)), tuple(sorted(added)), tuple(warnings)
    )


def _same_project(left: WheelMetadata, right: WheelMetadata) -> None:
    """Both wheels must be one release of one project for one Python: only the platform may differ."""
    for label, mine, theirs in (
        ("name", left.name, right.name),
        ("version", left.version, right.version),
        ("build tag", left.build, right.build),
        ("Python and ABI tags", _interpreter(left), _interpreter(right)),
        ("dist-info directory", left.dist_info, right.dist_info),
    ):
        if mine != theirs:
            raise UsageError(
                f"cannot merge with {right.filename}: {label} differs ({mine} and {theirs})",
                subject=left.filename,
            )


def _interpreter(meta: WheelMetadata) -> str:
    return "-".join(meta.filename[: -len(".whl")].split("-")[-3:-1])


def _one_format(
    left: WheelMetadata, fmt_left: str | None, right: WheelMetadata, fmt_right: str | None, *held: bool
) -> str | None:
    if held[0] and held[1] and fmt_left != fmt_right:
        raise UsageError(
            f"cannot merge with {right.filename}: one holds {fmt_left} binaries, the other {fmt_right}",
            subject=left.filename,
        )
    return fmt_left if held[0] else fmt_right if held[1] else None


def _managed(meta: WheelMetadata) -> set[str]:
    """Members the writer regenerates (RECORD and its signatures) or retags (WHEEL)."""
    return {meta.record_path, meta.wheel_path, *(f"{meta.dist_info}/{s}" for s in SIGNATURE_FILES)}


def _same_member(left: WheelArchive, right: WheelArchive, member: str) -> bool:
    a, b = left.zipinfo(member), right.zipinfo(member)
    if a.file_size != b.file_size:
        return False
    return left.read(member) == right.read(member)


def _mode(archive: WheelArchive, member: str) -> int:
    mode = stat.S_IMODE(archive.zipinfo(member).external_attr >> 16)
    return mode or 0o644


def _merged_scan(
    meta: WheelMetadata,
    fmt: str | None,
    left: list[ScannedBinary],
    right: list[ScannedBinary],
    fused: Mapping[str, bytes],
) -> list[ScannedBinary]:
    if fmt is None:
        return []
    backend = backend_named(fmt)
    out = [s for s in left if s.member not in fused]
    seen = {s.member for s in left}
    out += [s for s in right if s.member not in seen]
    for member, data in fused.items():
        out.append(
            ScannedBinary(member, installed_path(member, meta), fmt, backend.read(data, member), len(data))
        )
    return out


def _tags(
    left: WheelArchive,
    right: WheelArchive,
    fmt: str | None,
    scanned: list[ScannedBinary],
    options: RepairOptions,
) -> tuple[tuple[str, ...], list[str]]:
    """The platform tags the merged binaries allow, judged from both wheels' tags as floors."""
    union = tuple(dict.fromkeys((*left.metadata.platform_tags, *right.metadata.platform_tags)))
    if fmt is None or not scanned:
        return union, []
    name, _lines = retag(left.metadata, union)
    meta = replace(left.metadata, filename=name)
    judged = RepairOptions(exclude=options.exclude, require_archs=options.require_archs)
    analysis = analyze_scanned(left.path, meta, fmt, scanned, judged, allow_host=False)
    verdict = analysis.verdict
    if verdict.error or verdict.tag is None:
        raise (UsageError if verdict.usage_error else PolicyViolation)(
            f"the merged binaries allow no tag: {verdict.error or 'no policy fits'}", subject=left.path.name
        )
    return verdict.tags or (verdict.tag,), list(verdict.warnings)


def _check(staged: Path, options: RepairOptions) -> list[str]:
    """Re-read the written wheel. Unresolved libraries are reported, not fatal: thin wheels that were
    not repaired yet merge into a wheel that ``repair`` then completes."""
    try:
        with WheelArchive.open(staged) as archive:
            archive.verify_record()
            analysis = analyze(archive, RepairOptions(exclude=options.exclude), allow_host=False)
            problems = check_analysis(analysis)
    except InvalidWheel as err:  # pragma: no cover - the writer's own output
        raise NotRepairable(f"the merged wheel is invalid: {err}") from None
    if problems:
        return [f"the merged wheel is not self-contained yet, repair it next: {problems[0]}"]
    return []


def _writable(out_dir: Path, first: Path) -> Path:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".wheelrepair-probe-"):
            pass
    except OSError as err:
        raise UsageError(f"cannot write to {out_dir}: {err.strerror or err}", subject=first.name) from None
    return out_dir
