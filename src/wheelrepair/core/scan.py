"""Find the binaries in a wheel by their magic bytes (never by file name) and parse each through its
backend; for ``check``, hash every member against RECORD in the same pass. Members are read one at a
time, so memory is bounded by the largest binary, not the wheel."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, cast

from .. import progress
from ..errors import InvalidBinary, InvalidWheel, malformed_binary
from ..formats import backend_for, backend_named
from ..formats.base import WHEEL_ROOT, Backend, ByteSource
from ..model import Binary
from ..policy import format_for_tag
from ..wheel.archive import LocalHeader, WheelArchive
from ..wheel.metadata import installed_path
from ..wheel.stream import MemberBytes, member_bytes

if TYPE_CHECKING:
    from concurrent.futures import Future

_HEAD = 64
#: Below this many bytes of members, starting worker processes costs more than it saves.
_PARALLEL_BYTES = 24 << 20
_MAX_WORKERS = 4
#: A worker task is one member of at least this many bytes, or small members up to this many
#: bytes or _TASK_MEMBERS members together (each is sniffed, and parsed only if it is a binary).
#: Each task costs a round trip through the parent (which is busy importing the analysis while
#: the workers run): torch's scan took 0.57-0.60 s in 205 tasks of at most 1 MiB or 128 members,
#: 0.49-0.50 s in 54 of at most 4 MiB or 1,024 (best of 7, alternated).
_TASK_BYTES = 4 << 20
_TASK_MEMBERS = 1024
_READING = "reading binaries"
#: The archive being scanned while worker processes are forked (see _parse_share).
_inherited: WheelArchive | None = None
#: Members at least this large are read lazily by backends that can: an ELF reader stops inflating
#: at the end of the dynamic segment, usually well before the end of the file, and no hash of the
#: whole member is computed (torch's 135 other ELF files: 0.45-0.55 s to parse with a 4 MiB cut,
#: 0.38-0.40 s with this one; scipy's: 0.17-0.19 s, 0.13-0.14 s). Below it, reading whole costs the same.
_LAZY_BYTES = 256 << 10


@dataclass(frozen=True)
class ScannedBinary:
    member: str
    #: Path relative to site-packages after install (None for .data/scripts and the like).
    installed: str | None
    format: str
    binary: Binary
    size: int

    @cached_property
    def location(self) -> PurePosixPath:
        # Asked once per binary by each walk of the graph and each report: a path object each time
        # was 408 of them for torch's output check alone.
        return WHEEL_ROOT / (self.installed or self.member)


def wheel_format(platform_tags: Sequence[str], found: Sequence[str]) -> str | None:
    """The binary format a wheel is for: from its platform tag, else from what it holds most of."""
    for tag in platform_tags:
        fmt = format_for_tag(tag)
        if fmt is not None:
            return fmt
    counts = Counter(found)
    return counts.most_common(1)[0][0] if counts else None


def scan_wheel(archive: WheelArchive) -> tuple[str | None, list[ScannedBinary]]:
    """Every binary of the wheel's own format, parsed; binaries of other formats are ignored (a Linux
    wheel may ship a Windows DLL as data). Large wheels are sniffed and parsed on several cores."""
    with start_scan(archive) as scanning:
        return scanning.result()


class ScanInProgress:
    """A scan begun by ``start_scan``. For a large wheel the worker processes are at work as soon as
    it exists, so the caller can import and prepare the analysis meanwhile (the modules the analysis
    needs cost ~0.03 s to import, then spent beside the workers instead of before them); a small
    wheel is scanned when ``result`` is first asked for. Close it (it is a context manager) to stop
    workers whose result is no longer wanted."""

    def __init__(self, archive: WheelArchive, verify: bool = False) -> None:
        self.archive = archive
        self._verify = verify
        self._fmt = wheel_format(archive.metadata.platform_tags, [])
        self._done: tuple[str | None, list[ScannedBinary]] | None = None
        self._parallel: _ParallelScan | None = None
        workers = min(os.cpu_count() or 1, _MAX_WORKERS)
        total = archive.total_size
        if self._fmt is not None and workers >= 2 and total >= _PARALLEL_BYTES:
            self._parallel = _ParallelScan(archive, self._fmt, workers, verify)

    @property
    def format(self) -> str | None:
        """The binary format the wheel's tags say (None until the scan finds out, if they do not)."""
        return self._fmt

    def result(self) -> tuple[str | None, list[ScannedBinary]]:
        if self._done is None:
            self._done = self._finish()
        return self._done

    def _finish(self) -> tuple[str | None, list[ScannedBinary]]:
        archive, fmt = self.archive, self._fmt
        if self._parallel is not None:
            try:
                scanned = self._parallel.collect()
            finally:
                self.close()
            return fmt, scanned
        if self._verify:
            archive.verify_record()
        if fmt is None:
            # The tag does not say: the format is what the wheel holds most of, known only once
            # every member is sniffed.
            candidates = list(_sniff(archive, archive.members))
            fmt = wheel_format((), [b.format for _, b in candidates])
            if fmt is None:
                return fmt, []
            found = [m for m, b in candidates if b.format == fmt and _analysed(archive, m, b)]
            return fmt, _parse_serially(archive, fmt, found)
        found = [m for m, b in _sniff(archive, archive.members) if b.format == fmt and _analysed(archive, m, b)]
        return fmt, _parse_serially(archive, fmt, found)

    def close(self) -> None:
        if self._parallel is not None:
            self._parallel.close()
            self._parallel = None

    def __enter__(self) -> ScanInProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_scan(archive: WheelArchive, verify: bool = False) -> ScanInProgress:
    """Begin ``scan_wheel``'s work on the open ``archive``; its ``result`` is what that returns.
    ``verify``: also check every member against its RECORD hash (``check``), on the same workers:
    torch's 12,248 members are 1.8 s of inflating and hashing on one core."""
    return ScanInProgress(archive, verify)


def _analysed(archive: WheelArchive, member: str, backend: Backend) -> bool:
    """False for a file of a non-site-packages scheme (``.data/data``...) where the backend's
    loader cannot reach vendored libraries from (``Backend.site_packages_only``): it is data."""
    return not (backend.site_packages_only and installed_path(member, archive.metadata) is None)


def _sniff(archive: WheelArchive, members: Iterable[str]) -> Iterator[tuple[str, Backend]]:
    for member in members:
        if archive.size(member) < _HEAD // 4:
            continue
        backend = backend_for(archive.head(member, _HEAD))
        if backend is not None:
            yield member, backend


def _parse_serially(archive: WheelArchive, fmt: str, found: list[str]) -> list[ScannedBinary]:
    total = sum(archive.size(m) for m in found)
    with progress.task(_READING, total) as advance:
        return _parse_members(archive, fmt, found, advance)


class _ParallelScan:
    """Sniff and parse every member on worker processes, large members first, so the longest
    parse starts at once and the sniffing of thousands of small members is shared by the cores."""

    def __init__(self, archive: WheelArchive, fmt: str, workers: int, verify: bool) -> None:
        # Imported here: multiprocessing costs more start-up time than a small wheel takes to scan.
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
        self._archive = archive
        path = str(archive.path)
        self._sizes = sizes = archive.sizes
        large = sorted((m for m, size in sizes.items() if size >= _TASK_BYTES), key=sizes.__getitem__, reverse=True)
        chosen = set(large)
        members = large + [m for m in archive.members if m not in chosen]
        backend_named(fmt)  # imported once here, not once per forked worker (other formats: if met)
        global _inherited
        _inherited = archive
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        self._tasks: list[tuple[list[str], Future[_Share]]] = []
        try:
            # The first submit forks the workers (all of them, with the fork start method): the
            # archive they inherit is open and validated.
            for share in _tasks(sizes, members):
                task = self._pool.submit(_parse_share, path, fmt, share, archive.identity, verify)
                self._tasks.append((share, task))
        except BaseException:
            self.close()
            raise
        finally:
            _inherited = None

    def collect(self) -> list[ScannedBinary]:
        archive, sizes = self._archive, self._sizes
        by_member: dict[str, ScannedBinary] = {}
        # Only now, once the workers are forked: a progress display runs a thread of its own.
        with progress.task(_READING, archive.total_size) as advance:
            for share, future in self._tasks:
                scanned, headers = future.result()
                by_member.update((item.member, item) for item in scanned)
                archive.learn_local_headers(headers)
                advance(sum(sizes[m] for m in share))
        return [by_member[m] for m in archive.members if m in by_member]

    def close(self) -> None:
        """Stop the workers: what has not started is cancelled, what runs is waited for. Always
        waited for, even once every result is in: a pool left to shut down on its own (5-10 ms
        saved) races the interpreter's exit, whose hook then writes to the pool's closed wake-up
        pipe and prints a traceback (Python 3.11, seen on `check` of a wheel with a changed
        member)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _tasks(sizes: Mapping[str, int], members: Iterable[str]) -> Iterator[list[str]]:
    """``members`` (large ones first) as worker tasks: a large member alone, so it starts at once;
    small ones together, so thousands of them cost tens of round trips to the workers, not
    thousands. Most small members are not binaries and cost only their sniff."""
    batch: list[str] = []
    batch_bytes = 0
    for member in members:
        size = sizes[member]
        if size >= _TASK_BYTES:
            yield [member]
            continue
        batch.append(member)
        batch_bytes += size
        if batch_bytes >= _TASK_BYTES or len(batch) >= _TASK_MEMBERS:
            yield batch
            batch, batch_bytes = [], 0
    if batch:
        yield batch


#: A worker's answer: the binaries it parsed, and the local headers it read on the way, which the
#: parent keeps so that a repair's raw copy of 12,000 members needs no read of its own for them.
_Share = tuple[list[ScannedBinary], list[LocalHeader]]


def _parse_share(
    path: str,
    fmt: str,
    members: list[str],
    identity: tuple[int, int, int, int],
    verify: bool = False,
) -> _Share:
    # A forked worker inherits the open, validated archive: reading it again would cost a second
    # parse of the central directory and RECORD per worker (0.3 s for torch). Its stored and
    # deflated members are read with os.pread only, which no shared file position disturbs.
    inherited = _inherited
    if (
        inherited is not None
        and os.fspath(inherited.path) == path
        and all(inherited.zipinfo(m).compress_type in (0, 8) for m in members)
    ):
        return _sniff_and_parse(inherited, fmt, members, verify), inherited.local_headers(members)
    with WheelArchive.open(path) as archive:
        # Workers reopen the wheel by name: it must still be the file the parent validated.
        if archive.identity != identity:
            raise InvalidWheel("was replaced while it was being read", subject=archive.path.name)
        return _sniff_and_parse(archive, fmt, members, verify), archive.local_headers(members)


def _sniff_and_parse(archive: WheelArchive, fmt: str, members: list[str], verify: bool = False) -> list[ScannedBinary]:
    found = [m for m, b in _sniff(archive, members) if b.format == fmt and _analysed(archive, m, b)]
    if verify:
        # First: a member whose bytes were changed is reported as that, not as a malformed binary.
        # Binaries read lazily are hashed by the inflate that parses them (see _parse_members).
        lazy = set(_lazily_read(archive, fmt, found))
        archive.verify_record(m for m in members if m not in lazy)
    return _parse_members(archive, fmt, found, verify=verify)


def _lazily_read(archive: WheelArchive, fmt: str, members: Iterable[str]) -> Iterator[str]:
    """The members a parse reads as an on-demand view rather than whole."""
    if backend_named(fmt).lazy:
        yield from (m for m in members if archive.size(m) >= _LAZY_BYTES)


def _parse_members(
    archive: WheelArchive,
    fmt: str,
    members: list[str],
    advance: progress.Advance | None = None,
    verify: bool = False,
) -> list[ScannedBinary]:
    """``verify``: also check each member read lazily against its RECORD hash, hashed as it is
    inflated (``check``: libtorch_cpu.so costs one inflate, not one to parse and one to hash)."""
    backend = backend_named(fmt)
    lazy_members = set(_lazily_read(archive, fmt, members))
    scanned: list[ScannedBinary] = []
    for member in members:
        # Members past a few pages go to lazy readers as an on-demand view, so memory holds what
        # the reader touches (headers, dynamic section, string tables), not the whole library.
        # Their RECORD hash is checked by `check` (which verifies every member), and by a repair
        # for the members it edits, rather than here.
        view = member_bytes(archive, member) if member in lazy_members else None
        algorithm = archive.record_algorithm(member) if verify and view is not None else None
        if view is not None and algorithm is not None:
            view.hash_as_read(algorithm)
        data: bytes | ByteSource = view if view is not None else archive.read(member)
        try:
            # A lazy backend's ``read`` takes any ByteSource (see Backend.lazy).
            with malformed_binary(member):
                binary = backend.read(cast(bytes, data), member)
        except InvalidBinary as err:
            if view is not None and algorithm is not None:
                _check_hash(archive, member, view, algorithm)  # a changed member says so first
            raise InvalidBinary(str(err), subject=archive.path.name) from None
        if view is not None and algorithm is not None:
            _check_hash(archive, member, view, algorithm)
        scanned.append(
            ScannedBinary(member, installed_path(member, archive.metadata), fmt, binary, len(data))
        )
        if advance is not None:
            advance(len(data))
    return scanned


def _check_hash(archive: WheelArchive, member: str, view: MemberBytes, algorithm: str) -> None:
    with archive.reading(member):
        digest = view.digest()
    if digest is None:
        archive.verify_record([member])
    else:
        archive.check_digest(member, algorithm, digest)


def backend_of(fmt: str) -> Backend:
    return backend_named(fmt)
