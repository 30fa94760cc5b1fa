"""The pipeline: open -> scan -> resolve -> judge -> plan -> apply -> write -> verify.

``analyze`` answers show and check; ``repair`` applies a plan and proves the output self-contained
before it is given its final name. Nothing here knows which binary format it is handling.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import mmap
import os
import posixpath
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from dataclasses import replace as evolve
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, cast, overload

from .. import __version__
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
from ..formats import backend_named, preload_editing
from ..formats.base import Backend, ByteSource, Resolver, SearchContext
from ..model import INCLUDED, Action, Binary, Dependency, DependencyGraph, RepairPlan, Verdict
from ..options import RepairOptions
from ..policy import platform_for_format, runpath_only, tag_adopter
from ..policy.base import Context, Platform
from ..wheel.archive import WheelArchive
from ..wheel.metadata import WheelMetadata, installed_path, retag, validate_filename
from ..wheel.packages import namespace_inits
from ..wheel.requires import add_requirement
from .exclude import GlobSet
from .graph import build_graph
from .providers import Provider, ProviderIndex, check_requirements, load_providers, used_providers
from .scan import ScanInProgress, ScannedBinary, scan_wheel
from .stack import stack_findings

if TYPE_CHECKING:
    from ..wheel.prefill import Prefill
    from ..wheel.writer import Content
    from .scripts import ScriptMove

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
    #: The libraries other wheels provide (``--provider``), as the walk saw them.
    providers: ProviderIndex = field(default_factory=ProviderIndex.empty)
    #: Providers the wheel links to but whose METADATA requirement is absent or excludes them.
    requirement_problems: tuple[str, ...] = ()

    @property
    def platform(self) -> str | None:
        return self.verdict.platform or None

    def problems(self) -> tuple[str, ...]:
        """Why this wheel would fail to load or carries a false tag (empty when fine)."""
        return tuple(_problem(self.metadata.filename, d) for d in _unresolved(self.graph))

    def provider(self, name: str) -> Provider | None:
        return self.providers.named(name)


@dataclass(frozen=True)
class RepairResult:
    analysis: Analysis
    plan: RepairPlan | None
    output: Path
    changed: bool
    #: The platform tags written into the output's name and WHEEL file.
    tags: tuple[str, ...] = ()
    #: Requires-Dist values --add-requires wrote into METADATA.
    added_requires: tuple[str, ...] = ()
    #: Executables moved out of ``<dist>.data/scripts`` (a launcher took their place).
    moved_scripts: tuple[ScriptMove, ...] = ()
    #: The SBOM member this repair wrote (None when it vendored nothing).
    sbom: str | None = None
    #: ``--dedupe``: (member dropped, identical member kept).
    dropped: tuple[tuple[str, str], ...] = ()


def libs_dir_for(metadata: WheelMetadata, options: RepairOptions) -> str:
    """``--lib-sdir`` as a wheel-relative directory ("" for the wheel root), or ``<dist>.libs``."""
    if options.lib_sdir is None:
        return f"{metadata.name}.libs"
    normalized = posixpath.normpath(options.lib_sdir.replace("\\", "/").strip("/") or ".")
    if normalized.startswith("..") or posixpath.isabs(options.lib_sdir):
        raise UsageError(f"--lib-sdir {options.lib_sdir!r} must be a directory inside the wheel")
    return "" if normalized == "." else normalized


def analyze(
    archive: WheelArchive,
    options: RepairOptions,
    *,
    allow_host: bool = True,
    seen_host: Callable[[str], None] | None = None,
    scanning: ScanInProgress | None = None,
) -> Analysis:
    """``seen_host`` is told every host library the walk parsed (repair hashes them meanwhile);
    ``scanning`` is the scan of ``archive`` if it was started already (``start_scan``)."""
    fmt, scanned = scanning.result() if scanning is not None else scan_wheel(archive)
    analysis = analyze_scanned(
        archive.path, archive.metadata, fmt, scanned, options, allow_host=allow_host, seen_host=seen_host
    )
    return _with_requirements(analysis, lambda: _metadata_bytes(archive))


def _with_requirements(analysis: Analysis, metadata: Callable[[], bytes]) -> Analysis:
    """Check the METADATA (read by ``metadata()``, if needed) declares every provider the wheel
    links to (the wheel layer's side)."""
    used = used_providers(analysis.graph, analysis.providers)
    if not used:
        return analysis
    text = metadata().decode("utf-8", "replace")
    found = check_requirements(analysis.metadata.filename, text, used, analysis.providers)
    return evolve(analysis, requirement_problems=found.problems)


def _metadata_bytes(archive: WheelArchive) -> bytes:
    try:
        return archive.read(f"{archive.metadata.dist_info}/METADATA")
    except KeyError:
        return b""


def analyze_scanned(
    path: Path,
    metadata: WheelMetadata,
    fmt: str | None,
    scanned: list[ScannedBinary],
    options: RepairOptions,
    *,
    allow_host: bool = True,
    seen_host: Callable[[str], None] | None = None,
) -> Analysis:
    if fmt is None or not scanned:
        empty = DependencyGraph((), {}, ())
        verdict = Verdict(platform="", tag=None)
        return Analysis(path, metadata, fmt, tuple(scanned), empty, verdict, options)
    backend = backend_named(fmt)
    platform = platform_for_format(fmt, skip_checks(options))
    adopt = tag_adopter(metadata.platform_tags)
    if adopt is not None:
        scanned = [dataclasses.replace(s, binary=adopt(s.binary)) for s in scanned]
    providers = provider_index(options, fmt, scanned)
    resolver = backend.resolver(_context(scanned, backend, options, allow_host, providers, seen_host, adopt))
    wheel_only = backend.resolver(_context(scanned, backend, options, False, providers, adopt=adopt))
    excluded = GlobSet.of(options.exclude)
    for name in options.include:
        if excluded.matches(name):
            raise UsageError(f"--include {name} is also excluded by --exclude; pass only one of them")
    graph = build_graph(
        scanned, resolver, platform, excluded, wheel_only, providers, include=options.include
    )
    verdict = judge(graph, platform, metadata, options.plat, options)
    findings = stack_findings(graph) + _weak_missing(graph)
    if findings:
        verdict = dataclasses.replace(verdict, warnings=verdict.warnings + findings)
    return Analysis(path, metadata, fmt, tuple(scanned), graph, verdict, options, providers)


def provider_index(
    options: RepairOptions, fmt: str, scanned: tuple[ScannedBinary, ...] | list[ScannedBinary]
) -> ProviderIndex:
    if not options.provider:
        return ProviderIndex.empty()
    providers = load_providers(options.provider, options.provider_path)
    own = [s.installed for s in scanned if s.installed is not None]
    return ProviderIndex.build(providers, fmt, own)


def judge(
    graph: DependencyGraph,
    platform: Platform,
    metadata: WheelMetadata,
    plat: str | None,
    options: RepairOptions | None = None,
) -> Verdict:
    """The policy's verdict over every binary the repaired wheel will hold. ``options`` adds the
    user's requirements beyond ``--plat`` (``check`` judges the wheel's own tags without them)."""
    binaries: list[tuple[str, Binary]] = [(k, graph.nodes[k].binary) for k in graph.roots]
    binaries += [(k, graph.nodes[k].binary) for k in graph.vendored]
    context = Context(
        graph=graph,
        deployment_target=options.deployment_target if options else None,
        require_archs=options.require_archs if options else None,
    )
    return platform.verdict(binaries, metadata.platform_tags, plat, vendored=graph.vendored, context=context)


def skip_checks(options: RepairOptions) -> tuple[str, ...]:
    """Optional policy checks the options turn off."""
    return ("isa",) if options.disable_isa_ext_check else ()


def _context(
    scanned: tuple[ScannedBinary, ...] | list[ScannedBinary],
    backend: Backend,
    options: RepairOptions,
    allow_host: bool,
    providers: ProviderIndex | None = None,
    seen_host: Callable[[str], None] | None = None,
    adopt: Callable[[Binary], Binary] | None = None,
) -> SearchContext:
    wheel_files = {
        item.installed: (item.member, item.binary) for item in scanned if item.installed is not None
    }
    owners: dict[str, str] = {}
    if providers:
        # Provider files sit in the same site-packages; the wheel's own file wins a shared path.
        for installed, entry in providers.wheel_files.items():
            if installed not in wheel_files:
                wheel_files[installed] = entry
                owners[installed] = providers.owners[installed]
    return SearchContext(
        wheel_files=wheel_files,
        lib_path=tuple(os.path.abspath(p) for p in options.lib_path),
        read_host=_host_reader(backend, seen_host, adopt),
        allow_host=allow_host,
        providers=owners,
    )


def _host_reader(
    backend: Backend, seen: Callable[[str], None] | None = None, adopt: Callable[[Binary], Binary] | None = None
) -> _HostReader:
    return _HostReader(backend, seen, adopt)


class _HostReader:
    """Parses host libraries once each; files that are not binaries of the format read as None.
    ``adopt`` adjusts each parsed file to the wheel's target (``policy.tag_adopter``)."""

    def __init__(
        self,
        backend: Backend,
        seen: Callable[[str], None] | None = None,
        adopt: Callable[[Binary], Binary] | None = None,
    ) -> None:
        self._backend = backend
        self._seen = seen
        self._adopt = adopt
        self.read = lru_cache(maxsize=None)(self._read)

    def __call__(self, path: str) -> Binary | None:
        return self.read(os.path.realpath(path))

    def _read(self, path: str) -> Binary | None:
        binary = self._parse(path)
        if binary is not None and self._seen is not None:
            self._seen(path)
        if binary is not None and self._adopt is not None:
            binary = self._adopt(binary)
        return binary

    def _parse(self, path: str) -> Binary | None:
        try:
            with open(path, "rb") as fh:
                if not self._backend.sniff(fh.read(64)):
                    return None
                if self._backend.lazy and os.fstat(fh.fileno()).st_size:
                    # Mapped, not read: the parse touches the headers and tables it needs, not
                    # the 25 MB of code of a BLAS (what it keeps holds no reference to the map).
                    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                        return self._backend.read(cast(bytes, mapped), path)  # mmap has len, slicing, find
                fh.seek(0)
                data = fh.read()
            return self._backend.read(data, path)
        except (OSError, InvalidBinary):
            return None
        except PARSE_ERRORS:
            # A damaged host file is not the library the loader would take either.
            return None


def _weak_missing(graph: DependencyGraph) -> tuple[str, ...]:
    """A weak dependency (Mach-O LC_LOAD_WEAK_DYLIB) that is nowhere to be found does not stop the
    load, so repair leaves it; but where the user's machine has it, it is loaded from there, outside
    the wheel: said once per name."""
    found: dict[str, str] = {}
    for dep in graph.edges:
        if dep.action is Action.MISSING and dep.weak:
            found.setdefault(dep.name, dep.needed_by)
    return tuple(
        f"{user}: weak dependency {name} not found, left as is "
        "(the loader skips it when absent, and loads the user's own copy when present)"
        for name, user in found.items()
    )


def _unresolved(graph: DependencyGraph) -> list[Dependency]:
    return [e for e in graph.edges if e.action is Action.MISSING and not e.weak]


def _problem(wheel: str, dep: Dependency) -> str:
    where = f"in {', '.join(dep.searched)}" if dep.searched else "(the loader searches no directory for it)"
    if dep.needed_by == INCLUDED:
        return f"{wheel}: --include {dep.name} not found {where}; pass --lib-path DIR"
    note = f" ({dep.note})" if dep.note else ""
    return (
        f"{wheel}: {dep.name} (needed by {dep.needed_by}) not found {where}{note}; "
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
        elif dep.action is Action.PROVIDED and not dep.reachable and dep.path is not None:
            where = posixpath.dirname(dep.path)
            problems.append(
                f"{name}: {dep.name} (needed by {dep.needed_by}) is in {dep.provider} ({where}), but "
                "the loader's search path does not reach it; run wheelrepair repair --provider"
            )
    problems += analysis.requirement_problems
    problems += [f"{name}: {finding}" for finding in stack_findings(analysis.graph)]
    platform = platform_for_format(analysis.format, skip_checks(analysis.options))
    for tag in analysis.metadata.platform_tags:
        verdict = judge(analysis.graph, platform, analysis.metadata, tag)
        if verdict.error:
            problems.append(f"{name}: {verdict.error}")
    return tuple(problems)


def repair(path: Path, out_dir: Path, options: RepairOptions, scanning: ScanInProgress | None = None) -> RepairResult:
    """Repair the wheel at ``path``; ``scanning`` is its scan if it was started already, on the
    archive it holds (which the caller closes)."""
    # The writing side is imported here: `show` and `check` never need it (~15 ms of every start).
    from ..wheel.writer import DeflateAhead, sync_dir, sync_file, write_wheel
    from .apply import apply_plan
    from .naming import HashAhead, memoized_sha256
    from .owners import prefetch as owners_prefetch
    from .plan import PlanInputs, plan_repair
    from .sbom import sbom_for_repair
    from .scripts import apply_moves, script_moves
    from .scripts import modes as script_modes
    from .sizes import dedupe

    opened = contextlib.nullcontext(scanning.archive) if scanning is not None else WheelArchive.open(path)
    with opened as archive, HashAhead() as hashing, _EarlyOutput(out_dir, archive, scanning is not None) as early:
        if scanning is not None:
            preload_editing(scanning.format)
        analysis = analyze(archive, options, seen_host=hashing.start, scanning=scanning)
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
        # The SBOM names the package that installed each vendored library (the plan vendors what the
        # graph does, in its order): the query runs while the plan is made and binaries are edited.
        owners_prefetch(analysis.graph.vendored)
        metadata_files, added_requires = _requirement_files(analysis, archive, options)
        backend = backend_named(analysis.format)
        resolver = backend.resolver(
            _context(
                analysis.scanned, backend, options, True, analysis.providers,
                adopt=tag_adopter(archive.metadata.platform_tags),
            )
        )
        libs_dir = libs_dir_for(archive.metadata, options)
        # The package layout as the import system sees it: an __init__.py that only declares a
        # namespace does not make a regular package (its code may belong to another distribution).
        package_members = _PackageMembers(
            archive.members,
            lambda: namespace_inits(
                archive.members,
                lambda m: installed_path(m, archive.metadata),
                archive.read,
                options.namespace_pkg,
            ),
        )
        users = sorted(
            {
                e.needed_by
                for e in analysis.graph.edges
                if e.action is Action.VENDOR and e.needed_by in archive.members
            }
            # --include libraries are for every binary of the wheel (see plan._loaded_by_name_only).
            | (set(analysis.graph.roots) if options.include else set())
        )
        if options.lib_sdir is None:
            libs_dir = backend.libs_dir(libs_dir, users, package_members)
        copy_dirs = backend.extra_libs_dirs(libs_dir, users, package_members)
        moves = (
            script_moves(analysis.graph, archive.metadata, archive.members) if backend.script_launcher else ()
        )
        installed = {s.member: s.installed or s.member for s in analysis.scanned}
        installed.update({m.member: m.dest for m in moves})  # plan search paths from the new place
        hash_file = memoized_sha256(hashing)
        plan = plan_repair(
            PlanInputs(
                wheel=name,
                graph=analysis.graph,
                verdict=verdict,
                libs_dir=libs_dir,
                members=package_members,
                installed=installed,
                no_mangle=GlobSet.of(options.no_mangle),
                strip=options.strip,
                runpath_only=runpath_only(verdict.tag),
            ),
            backend,
            resolver,
            archive.read,
            hash_file,
        )
        owners_prefetch(v.source for v in plan.vendored)  # nothing new unless the plan differs
        if metadata_files:
            plan = evolve(plan, files={**plan.files, **metadata_files})
        if copy_dirs and plan.vendored:
            log.info(
                "vendored DLLs are also copied beside extensions in %s",
                ", ".join(d or "." for d in copy_dirs),
            )
            plan = dataclasses.replace(plan, copy_dirs=copy_dirs)
        # --only-plat: the requested tag and its alias; a macOS tag may be a compressed set
        # (macosx_10_9_x86_64.macosx_12_0_arm64), which --only-plat keeps whole
        if options.only_plat:
            tags = verdict.requested_tags or tuple(verdict.tag.split("."))
        else:
            tags = verdict.tags or (verdict.tag,)
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
        dropped = tuple(dedupe(archive, analysis.graph)) if options.dedupe else ()
        if plan.changes_nothing and new_name == name and not dropped and not archive.stale_record:
            if output.resolve() != Path(path).resolve():
                with _writing(out_dir, name, archive.identity[2]):
                    _copy_atomically(archive, output, early.take_prefill())
            return RepairResult(analysis, plan, output, changed=False, tags=tuple(tags))
        with tempfile.TemporaryDirectory(prefix="wheelrepair-") as scratch, DeflateAhead(
            options.zip_compression_level
        ) as ahead:
            with _writing(Path(scratch).parent, name, 0, scratch=True):
                applied = apply_plan(plan, archive, backend, Path(scratch), ahead, _scanned_binary(analysis, plan))
                replace, add = apply_moves(moves, applied.replace, applied.add, archive.read)
            removed = frozenset(member for member, _ in dropped)
            for member in removed:
                replace.pop(member, None)
            modes = script_modes(moves, lambda m: (archive.zipinfo(m).external_attr >> 16) & 0o7777)
            sbom = sbom_for_repair(
                plan, analysis.graph, archive.metadata, new_name, archive.members, archive.read,
                _as_written({**replace, **add}), __version__, hash_file, applied.digests(),
            )  # fmt: skip
            if sbom is not None:
                (replace if sbom[0] in archive.members else add)[sbom[0]] = sbom[1]
                if sbom[0] in add:
                    modes[sbom[0]] = 0o644
            # An upper bound: the input plus every new member uncompressed.
            need = archive.identity[2] + sum(_content_size(c) for c in (*replace.values(), *add.values()))
            with _writing(out_dir, name, need), early.staging_dir() as staging:
                # Staged beside the output (same file system, so the final rename is atomic) under
                # its real name, so the check below reads exactly the wheel users will get.
                staged = staging / new_name
                written = {**replace, **add}
                # The check's resolution of the output runs while the writer waits for compression
                # (the metadata it expects is compared with the written one before it is used).
                expected = evolve(
                    archive.metadata,
                    filename=new_name,
                    tags=validate_filename(new_name)[3],
                    wheel_tags=tuple(tag_lines),
                )
                with ThreadPoolExecutor(max_workers=1) as checker:
                    checked = checker.submit(
                        _output_analysis,
                        staged, expected, analysis, written, backend, options, verdict, removed, applied.parsed,
                    )  # fmt: skip
                    write_wheel(
                        archive,
                        staged,
                        replace=replace,
                        add=add,
                        wheel_tags=tag_lines,
                        modes=modes,
                        level=options.zip_compression_level,
                        remove=removed,
                        sync=False,
                        prefill=early.take_prefill(),
                    )
                    # The output reaches the disk while it is checked, and before it gets its final
                    # name (prefilled, only what differs from the input is left to flush).
                    with ThreadPoolExecutor(max_workers=1) as flusher:
                        flushed = flusher.submit(sync_file, staged)
                        _verify(checked.result(), lambda: _output_metadata(archive, written))
                        flushed.result()
                if archive.changed_on_disk():
                    raise InvalidWheel(
                        "was deleted or replaced while it was being repaired; nothing was written",
                        subject=str(path),
                    )
                os.replace(staged, output)
                sync_dir(out_dir)
        return RepairResult(
            analysis,
            plan,
            output,
            changed=True,
            tags=tuple(tags),
            added_requires=added_requires,
            moved_scripts=moves,
            sbom=sbom[0] if sbom else None,
            dropped=dropped,
        )


class _PackageMembers(Sequence[str]):
    """The members less the namespace ``__init__.py`` files, found (by reading every
    ``__init__.py``: scipy has 200) only if a backend or the plan looks at the list."""

    def __init__(self, members: Sequence[str], shared: Callable[[], frozenset[str]]) -> None:
        self._members = members
        self._shared = shared
        self._kept: list[str] | None = None

    def _list(self) -> list[str]:
        if self._kept is None:
            shared = self._shared()
            self._kept = [m for m in self._members if m not in shared]
        return self._kept

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._list()[index]

    def __len__(self) -> int:
        return len(self._list())


def _first_reason(verdict: Verdict) -> str:
    for rejection in verdict.rejected:
        for reason in rejection.reasons:
            return f": {reason.binary}: {reason.detail}"
    return ""


def _verify(after: Analysis, metadata: Callable[[], bytes]) -> None:
    """Fail unless ``after``, the output's binaries resolved with only its own contents (see
    ``_output_analysis``), passes the test ``check`` applies; ``metadata`` reads its METADATA.
    The written file itself was read back by the writer where it says what it holds (its central
    directory, end records, WHEEL and RECORD), so this costs what the repair changed, not the
    wheel's size."""
    problems = check_analysis(_with_requirements(after, metadata))
    if problems:
        raise NotRepairable(f"the repaired wheel would not be self-contained: {problems[0]}")


def _output_metadata(archive: WheelArchive, written: Mapping[str, Content]) -> bytes:
    """The output's METADATA: as written if the repair replaced it, else the input's."""
    member = f"{archive.metadata.dist_info}/METADATA"
    content = written.get(member)
    if content is None:
        return _metadata_bytes(archive)
    data = _as_written({member: content})[member]
    return data if isinstance(data, bytes) else data.read_bytes()


def _output_analysis(
    staged: Path,
    metadata: WheelMetadata,
    before: Analysis,
    written: Mapping[str, Content],
    backend: Backend,
    options: RepairOptions,
    verdict: Verdict,
    removed: frozenset[str],
    parsed: Mapping[str, Binary] | None,
) -> Analysis:
    """The output's binaries resolved against the output alone, as ``check`` resolves them."""
    from ..wheel.writer import Deflated

    fmt = before.format
    assert fmt is not None
    scanned = [s for s in before.scanned if s.member not in written and s.member not in removed]
    for member, content in written.items():
        if parsed and member in parsed and isinstance(content, Deflated):
            size = len(content.data)
            scanned.append(ScannedBinary(member, installed_path(member, metadata), fmt, parsed[member], size))
            continue
        with _written_bytes(content, backend) as data:
            if not backend.sniff(bytes(data[:64])):
                continue
            with malformed_binary(f"{metadata.filename}: {member}"):
                binary = backend.read(cast(bytes, data), member)
            size = len(data)
        scanned.append(ScannedBinary(member, installed_path(member, metadata), fmt, binary, size))
    check_options = RepairOptions(
        plat=verdict.tag, exclude=options.exclude, disable_isa_ext_check=options.disable_isa_ext_check
    )
    check_options = evolve(check_options, provider=options.provider, provider_path=options.provider_path)
    return analyze_scanned(staged, metadata, fmt, scanned, check_options, allow_host=False)


def _requirement_files(
    analysis: Analysis, archive: WheelArchive, options: RepairOptions
) -> tuple[dict[str, bytes], tuple[str, ...]]:
    """Refuse a wheel that links to a provider it does not declare (unless --add-requires, which
    returns the METADATA with the declaration added) or declares at versions that exclude it."""
    used = used_providers(analysis.graph, analysis.providers)
    if not used:
        return {}, ()
    data = _metadata_bytes(archive)
    name = archive.metadata.filename
    found = check_requirements(name, data.decode("utf-8", "replace"), used, analysis.providers)
    refusals = found.unsatisfied if options.add_requires else found.unsatisfied + found.undeclared
    if refusals:
        raise NotRepairable(refusals[0].split(": ", 1)[1], subject=name)
    if not found.missing:
        return {}, ()
    for requirement in found.missing:
        data = add_requirement(data, requirement)
        log.info("%s: added Requires-Dist: %s", name, requirement)
    return {f"{archive.metadata.dist_info}/METADATA": data}, found.missing


@contextmanager
def _written_bytes(content: Content, backend: Backend) -> Iterator[bytes | ByteSource]:
    """What repair wrote, for the check: a lazy reader gets the file mapped, not read, so memory
    holds the pages it touches (headers, dynamic section), not the whole library."""
    from ..wheel.writer import Deflated

    if isinstance(content, Deflated):
        yield content.data
        return
    if isinstance(content, bytes):
        yield content
        return
    path = Path(content)
    if not backend.lazy or path.stat().st_size == 0:
        yield path.read_bytes()
        return
    with open(path, "rb") as stream, mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        yield cast(ByteSource, mapped)  # mmap has len, slicing and find


def _copy_atomically(archive: WheelArchive, dest: Path, prefill: Prefill | None = None) -> None:
    """Copy the open input (not whatever its path names now) to ``dest`` through a temporary file
    of its own, so concurrent runs never write into the same file; ``prefill`` is that copy begun."""
    size = archive.identity[2]
    fd, offset = prefill.take() if prefill is not None else (-1, 0)
    if prefill is not None and fd >= 0:
        temp = os.fspath(prefill.path)  # the input's first ``offset`` bytes are there already
    else:
        fd, temp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        while offset < size:
            chunk = os.pread(archive.fileno(), min(1 << 20, size - offset), offset)
            if not chunk:
                raise InvalidWheel("was truncated while it was being copied", subject=str(archive.path))
            view = memoryview(chunk)
            while view:
                written = os.pwrite(fd, view, offset)
                view, offset = view[written:], offset + written
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


class _EarlyOutput:
    """The output directory made ready before the analysis: the private staging directory and, in
    it, a ``Prefill`` of the input, copied while the scan runs (only once the scan's workers are
    forked: a thread must not be running when they are). If the repair fails, everything made
    here goes again, the output directory too when this created it."""

    def __init__(self, out_dir: Path, archive: WheelArchive, start: bool) -> None:
        from ..wheel import prefill

        self._out_dir = out_dir
        self._archive = archive
        self._wanted = start and prefill.MIN_SIZE <= archive.identity[2] <= prefill.MAX_SIZE
        self._created: list[Path] = []
        self._staging: Path | None = None
        self._prefill: Prefill | None = None

    def __enter__(self) -> _EarlyOutput:
        if not self._wanted:
            return self
        from ..wheel.prefill import Prefill

        try:
            missing = [d for d in (self._out_dir, *self._out_dir.parents) if not d.exists()]
            self._out_dir.mkdir(parents=True, exist_ok=True)
            self._created = missing
            self._staging = Path(tempfile.mkdtemp(prefix=".wheelrepair-", dir=self._out_dir))
        except OSError:
            self._remove_created()
            return self  # the writer reports the problem, in its own words, when it gets there
        self._prefill = Prefill.start(self._archive.fileno(), self._archive.identity[2], self._staging)
        return self

    def take_prefill(self) -> Prefill | None:
        prefill, self._prefill = self._prefill, None
        return prefill

    def staging_dir(self) -> contextlib.AbstractContextManager[Path]:
        return contextlib.nullcontext(self._staging) if self._staging is not None else _staging_dir(self._out_dir)

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if self._prefill is not None:
            self._prefill.discard()
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
        if kind is not None:
            self._remove_created()

    def _remove_created(self) -> None:
        for directory in self._created:  # innermost first; one that holds anything stays
            with contextlib.suppress(OSError):
                directory.rmdir()


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


def _content_size(content: Content) -> int:
    from ..wheel.writer import Deflated

    if isinstance(content, Deflated):
        return len(content.data)
    return len(content) if isinstance(content, bytes) else os.stat(content).st_size


def _as_written(contents: Mapping[str, Content]) -> dict[str, Path | bytes]:
    """The contents as bytes or files, for readers that know no ``Deflated``."""
    from ..wheel.writer import Deflated

    return {
        m: c.data if isinstance(c, Deflated) else c if isinstance(c, bytes) else Path(c)
        for m, c in contents.items()
    }


def _scanned_binary(analysis: Analysis, plan: RepairPlan) -> Callable[[str], Binary | None]:
    """The binary the first pass parsed for an edit target (a member, or a vendored library's
    destination), so an edit need not parse it again."""
    by_dest = {v.dest: v.source for v in plan.vendored}
    graph = analysis.graph

    def current(target: str) -> Binary | None:
        node = graph.nodes.get(target)
        if node is None and target in by_dest:
            node = graph.nodes.get(by_dest[target])
        return node.binary if node is not None else None

    return current


def vendored_summary(plan: RepairPlan) -> list[Mapping[str, str]]:
    return [{"name": v.name, "source": v.source, "dest": v.dest} for v in plan.vendored]


__all__ = ["Analysis", "RepairResult", "analyze", "check_analysis", "repair", "Resolver"]
