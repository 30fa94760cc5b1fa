"""The pipeline: open -> scan -> resolve -> judge -> plan -> apply -> write -> verify.

``analyze`` answers show and check; ``repair`` applies a plan and proves the output self-contained
before it is given its final name. Nothing here knows which binary format it is handling.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import (
    PARSE_ERRORS,
    InvalidBinary,
    InvalidWheel,
    MissingDependency,
    NotRepairable,
    OutputError,
    PolicyViolation,
    UsageError,
    WheelRepairError,
    malformed_binary,
)
from ..formats import backend_named
from ..formats.base import Backend, Resolver, SearchContext
from ..model import Action, Binary, Dependency, DependencyGraph, RepairPlan, Verdict
from ..options import RepairOptions
from ..policy import platform_for_format
from ..policy.base import Platform
from ..wheel.archive import WheelArchive
from ..wheel.metadata import WheelMetadata, installed_path, retag
from ..wheel.writer import write_wheel
from .exclude import GlobSet
from .graph import build_graph
from .plan import PlanInputs, plan_repair
from .scan import ScannedBinary, scan_wheel

log = logging.getLogger("wheelrepair")


@dataclass(frozen=True)
class Analysis:
    wheel: Path
    metadata: WheelMetadata
    format: str | None
    scanned: tuple[ScannedBinary, ...]
    graph: DependencyGraph
    verdict: Verdict
    options: RepairOptions

    @property
    def platform(self) -> str | None:
        return self.verdict.platform or None

    def problems(self) -> tuple[str, ...]:
        """Why this wheel would fail to load or carries a false tag (empty when fine)."""
        return tuple(_problem(self.metadata.filename, d) for d in _unresolved(self.graph))


@dataclass(frozen=True)
class RepairResult:
    analysis: Analysis
    plan: RepairPlan | None
    output: Path
    changed: bool
    #: The platform tags written into the output's name and WHEEL file.
    tags: tuple[str, ...] = ()


def libs_dir_for(metadata: WheelMetadata, options: RepairOptions) -> str:
    """``--lib-sdir`` as a wheel-relative directory ("" for the wheel root), or ``<dist>.libs``."""
    if options.lib_sdir is None:
        return f"{metadata.name}.libs"
    normalized = posixpath.normpath(options.lib_sdir.replace("\\", "/").strip("/") or ".")
    if normalized.startswith("..") or posixpath.isabs(options.lib_sdir):
        raise UsageError(f"--lib-sdir {options.lib_sdir!r} must be a directory inside the wheel")
    return "" if normalized == "." else normalized


def analyze(archive: WheelArchive, options: RepairOptions, *, allow_host: bool = True) -> Analysis:
    fmt, scanned = scan_wheel(archive)
    return analyze_scanned(archive.path, archive.metadata, fmt, scanned, options, allow_host=allow_host)


def analyze_scanned(
    path: Path,
    metadata: WheelMetadata,
    fmt: str | None,
    scanned: list[ScannedBinary],
    options: RepairOptions,
    *,
    allow_host: bool = True,
) -> Analysis:
    if fmt is None or not scanned:
        empty = DependencyGraph((), {}, ())
        verdict = Verdict(platform="", tag=None)
        return Analysis(path, metadata, fmt, tuple(scanned), empty, verdict, options)
    backend = backend_named(fmt)
    platform = platform_for_format(fmt)
    resolver = backend.resolver(_context(scanned, backend, options, allow_host))
    wheel_only = backend.resolver(_context(scanned, backend, options, allow_host=False))
    graph = build_graph(scanned, resolver, platform, GlobSet.of(options.exclude), wheel_only)
    verdict = judge(graph, platform, metadata, options.plat)
    return Analysis(path, metadata, fmt, tuple(scanned), graph, verdict, options)


def judge(graph: DependencyGraph, platform: Platform, metadata: WheelMetadata, plat: str | None) -> Verdict:
    """The policy's verdict over every binary the repaired wheel will hold."""
    binaries: list[tuple[str, Binary]] = [(k, graph.nodes[k].binary) for k in graph.roots]
    binaries += [(k, graph.nodes[k].binary) for k in graph.vendored]
    return platform.verdict(binaries, metadata.platform_tags, plat, vendored=graph.vendored)


def _context(
    scanned: tuple[ScannedBinary, ...] | list[ScannedBinary],
    backend: Backend,
    options: RepairOptions,
    allow_host: bool,
) -> SearchContext:
    wheel_files = {
        item.installed: (item.member, item.binary) for item in scanned if item.installed is not None
    }
    return SearchContext(
        wheel_files=wheel_files,
        lib_path=tuple(os.path.abspath(p) for p in options.lib_path),
        read_host=_host_reader(backend),
        allow_host=allow_host,
    )


def _host_reader(backend: Backend) -> _HostReader:
    return _HostReader(backend)


class _HostReader:
    """Parses host libraries once each; files that are not binaries of the format read as None."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self.read = lru_cache(maxsize=None)(self._read)

    def __call__(self, path: str) -> Binary | None:
        return self.read(os.path.realpath(path))

    def _read(self, path: str) -> Binary | None:
        try:
            with open(path, "rb") as fh:
                if not self._backend.sniff(fh.read(64)):
                    return None
                fh.seek(0)
                data = fh.read()
            return self._backend.read(data, path)
        except (OSError, InvalidBinary):
            return None
        except PARSE_ERRORS:
            # A damaged host file is not the library the loader would take either.
            return None


def _unresolved(graph: DependencyGraph) -> list[Dependency]:
    return [e for e in graph.edges if e.action is Action.MISSING and not e.weak]


def _problem(wheel: str, dep: Dependency) -> str:
    where = ", ".join(dep.searched) if dep.searched else "nowhere the loader looks"
    return (
        f"{wheel}: {dep.name} (needed by {dep.needed_by}) not found in {where}; "
        f"pass --lib-path DIR or --exclude {os.path.basename(dep.name)}"
    )


def check_analysis(analysis: Analysis) -> tuple[str, ...]:
    """Problems that make ``check`` fail: unresolved dependencies, libraries the wheel expects from
    outside that the platform does not provide, and platform tags the binaries do not honour."""
    problems = list(analysis.problems())
    if analysis.format is None:
        return tuple(problems)
    name = analysis.metadata.filename
    for dep in analysis.graph.edges:
        if dep.action is Action.VENDOR:
            problems.append(f"{name}: {dep.name} (needed by {dep.needed_by}) is not in the wheel")
        elif dep.action is Action.REMOVE:
            problems.append(f"{name}: {dep.needed_by} links {dep.name}, which its platform tag forbids")
    platform = platform_for_format(analysis.format)
    for tag in analysis.metadata.platform_tags:
        verdict = judge(analysis.graph, platform, analysis.metadata, tag)
        if verdict.error:
            problems.append(f"{name}: {verdict.error}")
    return tuple(problems)


def repair(path: Path, out_dir: Path, options: RepairOptions) -> RepairResult:
    with WheelArchive.open(path) as archive:
        analysis = analyze(archive, options)
        name = archive.metadata.filename
        if analysis.format is None or not analysis.scanned:
            raise NotRepairable("holds no binaries for its platform: nothing to repair", subject=name)
        missing = _unresolved(analysis.graph)
        if missing:
            raise MissingDependency(_problem(name, missing[0]).split(": ", 1)[1], subject=name)
        verdict = analysis.verdict
        if verdict.error:
            raise (UsageError if verdict.usage_error else PolicyViolation)(verdict.error, subject=name)
        if verdict.tag is None:
            reason = _first_reason(verdict)
            raise PolicyViolation(f"no {verdict.platform} policy fits{reason}", subject=name)
        backend = backend_named(analysis.format)
        resolver = backend.resolver(_context(analysis.scanned, backend, options, True))
        libs_dir = libs_dir_for(archive.metadata, options)
        if options.lib_sdir is None:
            users = sorted(
                {
                    e.needed_by
                    for e in analysis.graph.edges
                    if e.action is Action.VENDOR and e.needed_by in archive.members
                }
            )
            libs_dir = backend.libs_dir(libs_dir, users, archive.members)
        plan = plan_repair(
            PlanInputs(
                wheel=name,
                graph=analysis.graph,
                verdict=verdict,
                libs_dir=libs_dir,
                members=archive.members,
                installed={s.member: s.installed or s.member for s in analysis.scanned},
                no_mangle=GlobSet.of(options.no_mangle),
                strip=options.strip,
            ),
            backend,
            resolver,
            archive.read,
        )
        tags = (verdict.tag,) if options.only_plat else verdict.tags or (verdict.tag,)
        new_name, tag_lines = retag(archive.metadata, tags)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".wheelrepair-probe-"):
                pass  # writable: fail here, in one line, not halfway through writing
        except OSError as err:
            raise UsageError(f"cannot write to {out_dir}: {err.strerror or err}", subject=name) from None
        output = out_dir / new_name
        if output.is_dir():
            raise UsageError(f"the output path {output} is a directory", subject=name)
        if plan.changes_nothing and new_name == name:
            if output.resolve() != Path(path).resolve():
                with _writing(out_dir, name, archive.identity[2]):
                    _copy_atomically(archive, output)
            return RepairResult(analysis, plan, output, changed=False, tags=tuple(tags))
        with tempfile.TemporaryDirectory(prefix="wheelrepair-") as scratch:
            with _writing(Path(scratch).parent, name, 0, scratch=True):
                replace, add = _apply(plan, archive, backend, Path(scratch))
            # An upper bound: the input plus every new member uncompressed.
            need = archive.identity[2] + sum(_content_size(c) for c in (*replace.values(), *add.values()))
            with _writing(out_dir, name, need), _staging_dir(out_dir) as staging:
                # Staged beside the output (same file system, so the final rename is atomic) under
                # its real name, so the check below reads exactly the wheel users will get.
                staged = staging / new_name
                write_wheel(archive, staged, replace=replace, add=add, wheel_tags=tag_lines)
                _verify(staged, analysis, {**replace, **add}, backend, options, verdict)
                if archive.changed_on_disk():
                    raise InvalidWheel(
                        "was deleted or replaced while it was being repaired; nothing was written",
                        subject=str(path),
                    )
                os.replace(staged, output)
        return RepairResult(analysis, plan, output, changed=True, tags=tuple(tags))


def _first_reason(verdict: Verdict) -> str:
    for rejection in verdict.rejected:
        for reason in rejection.reasons:
            return f": {reason.binary}: {reason.detail}"
    return ""


def _apply(
    plan: RepairPlan, archive: WheelArchive, backend: Backend, scratch: Path
) -> tuple[dict[str, Path | bytes], dict[str, Path | bytes]]:
    replace: dict[str, Path | bytes] = {}
    add: dict[str, Path | bytes] = {}
    sources = {v.dest: v.source for v in plan.vendored}
    for index, (target, edit) in enumerate(sorted(plan.edits.items())):
        work = scratch / f"{index}-{os.path.basename(target)}"
        if target in sources:
            shutil.copyfile(sources[target], work)
        else:
            with archive.open_member(target) as src, open(work, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        if not edit.is_empty:
            with malformed_binary(f"{archive.metadata.filename}: {target}"):
                backend.rewrite(work, edit)
                backend.finalize(work)
        (add if target in sources else replace)[target] = work
    for vendored in plan.vendored:
        add.setdefault(vendored.dest, Path(vendored.source))
    for member, content in plan.files.items():
        (replace if member in archive.members else add)[member] = content
    return replace, add


def _verify(
    staged: Path,
    before: Analysis,
    written: Mapping[str, Path | bytes],
    backend: Backend,
    options: RepairOptions,
    verdict: Verdict,
) -> None:
    """Re-resolve the output with only its own contents: the same test ``check`` applies. Binaries
    that repair did not touch are taken from the first scan; the rest are parsed from what was
    written, so the check costs what the repair changed, not the wheel's size."""
    fmt = before.format
    assert fmt is not None
    with WheelArchive.open(staged) as archive:
        metadata = archive.metadata
        scanned = [s for s in before.scanned if s.member not in written]
        for member, content in written.items():
            data = content if isinstance(content, bytes) else content.read_bytes()
            if not backend.sniff(data[:64]):
                continue
            with malformed_binary(f"{metadata.filename}: {member}"):
                binary = backend.read(data, member)
            scanned.append(ScannedBinary(member, installed_path(member, metadata), fmt, binary, len(data)))
        check_options = RepairOptions(plat=verdict.tag, exclude=options.exclude)
        after = analyze_scanned(staged, metadata, fmt, scanned, check_options, allow_host=False)
        problems = check_analysis(after)
    if problems:
        raise NotRepairable(f"the repaired wheel would not be self-contained: {problems[0]}")


def _copy_atomically(archive: WheelArchive, dest: Path) -> None:
    """Copy the open input (not whatever its path names now) to ``dest`` through a temporary file
    of its own, so concurrent runs never write into the same file."""
    fd, temp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        offset, size = 0, archive.identity[2]
        while offset < size:
            chunk = os.pread(archive.fileno(), min(1 << 20, size - offset), offset)
            if not chunk:
                raise InvalidWheel("was truncated while it was being copied", subject=str(archive.path))
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
            offset += len(chunk)
        os.fchmod(fd, 0o644)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        if archive.changed_on_disk():
            raise InvalidWheel("was deleted or replaced while it was being copied", subject=str(archive.path))
        os.replace(temp, dest)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


@contextlib.contextmanager
def _staging_dir(out_dir: Path) -> Iterator[Path]:
    """A private directory in ``out_dir``, removed however the block ends (even if ``out_dir``
    itself was deleted meanwhile, which TemporaryDirectory before Python 3.10 cannot survive)."""
    staging = Path(tempfile.mkdtemp(prefix=".wheelrepair-", dir=out_dir))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


_NO_SPACE = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NOT_PERMITTED = {errno.EACCES, errno.EPERM, errno.EROFS}


@contextlib.contextmanager
def _writing(directory: Path, name: str, need: int, *, scratch: bool = False) -> Iterator[None]:
    """Turn a failed write into one line naming ``directory``. By the time an error gets here the
    blocks inside have removed their temporary files, so the free space reported is real."""
    try:
        yield
    except OSError as err:
        raise _write_error(err, directory, name, need, scratch) from None


def _write_error(err: OSError, directory: Path, name: str, need: int, scratch: bool) -> WheelRepairError:
    where = f"the temporary directory {directory} (set TMPDIR elsewhere)" if scratch else str(directory)
    if scratch and err.filename and not os.fspath(err.filename).startswith(os.fspath(directory)):
        return OutputError(f"cannot read {err.filename}: {err.strerror or err}", subject=name)
    if err.errno in _NO_SPACE:
        try:
            free = f"{_mib(shutil.disk_usage(directory).free)} free"
        except OSError:
            free = "free space unknown"
        wanted = f"needs up to {_mib(need)}, " if need else ""
        return OutputError(f"no space left in {where}: the repaired wheel {wanted}{free}", subject=name)
    if err.errno in (errno.ENOENT, errno.ESTALE, errno.ENOTDIR) and not directory.is_dir():
        return OutputError(f"{where} disappeared while the repaired wheel was being written", subject=name)
    if err.errno in _NOT_PERMITTED:
        return UsageError(f"cannot write to {where}: {err.strerror}", subject=name)
    if err.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
        return UsageError(f"cannot replace {err.filename or where}: it is a directory", subject=name)
    target = f"{err.filename}: " if err.filename else ""
    return OutputError(f"cannot write to {where}: {target}{err.strerror or err}", subject=name)


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"


def _content_size(content: Path | bytes) -> int:
    return len(content) if isinstance(content, bytes) else content.stat().st_size


def vendored_summary(plan: RepairPlan) -> list[Mapping[str, str]]:
    return [{"name": v.name, "source": v.source, "dest": v.dest} for v in plan.vendored]


__all__ = ["Analysis", "RepairResult", "analyze", "check_analysis", "repair", "Resolver"]
