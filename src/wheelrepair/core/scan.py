"""Find the binaries in a wheel by their magic bytes (never by file name) and parse each through its
backend. Members are read one at a time, so memory is bounded by the largest binary, not the wheel."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import cast

from .. import progress
from ..errors import InvalidBinary, InvalidWheel, malformed_binary
from ..formats import backend_for, backend_named
from ..formats.base import WHEEL_ROOT, Backend, ByteSource
from ..model import Binary
from ..policy import format_for_tag
from ..wheel.archive import WheelArchive
from ..wheel.metadata import installed_path
from ..wheel.stream import member_bytes

_HEAD = 64
#: Below this many bytes of binaries, starting worker processes costs more than it saves.
_PARALLEL_BYTES = 24 << 20
_MAX_WORKERS = 4
_READING = "reading binaries"
#: The archive being scanned while worker processes are forked (see _parse_share).
_inherited: WheelArchive | None = None
#: Members at least this large are read lazily by backends that can.
_LAZY_BYTES = 4 << 20


@dataclass(frozen=True)
class ScannedBinary:
    member: str
    #: Path relative to site-packages after install (None for .data/scripts and the like).
    installed: str | None
    format: str
    binary: Binary
    size: int

    @property
    def location(self) -> PurePosixPath:
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
    wheel may ship a Windows DLL as data). Large wheels are parsed on several cores."""
    candidates: list[tuple[str, Backend]] = []
    for member in archive.members:
        if archive.size(member) < _HEAD // 4:
            continue
        backend = backend_for(archive.head(member, _HEAD))
        if backend is not None:
            candidates.append((member, backend))
    fmt = wheel_format(archive.metadata.platform_tags, [b.format for _, b in candidates])
    members = [
        member
        for member, backend in candidates
        if backend.format == fmt
        and not (backend.site_packages_only and installed_path(member, archive.metadata) is None)
    ]
    if fmt is None or not members:
        return fmt, []
    total = sum(archive.size(m) for m in members)
    workers = min(os.cpu_count() or 1, _MAX_WORKERS, len(members))
    if workers < 2 or total < _PARALLEL_BYTES:
        with progress.task(_READING, total) as advance:
            return fmt, _parse_members(archive, fmt, members, advance)
    return fmt, _parse_in_parallel(archive, fmt, members, workers, total)


def _parse_in_parallel(
    archive: WheelArchive, fmt: str, members: list[str], workers: int, total: int
) -> list[ScannedBinary]:
    shares: list[list[str]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for member in sorted(members, key=archive.size, reverse=True):
        lightest = loads.index(min(loads))
        shares[lightest].append(member)
        loads[lightest] += archive.size(member)
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
    global _inherited
    _inherited = archive
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_parse_share, str(archive.path), fmt, share, archive.identity) for share in shares]
            # Only once the workers are forked: a progress display runs a thread of its own.
            with progress.task(_READING, total) as advance:
                for future, load in zip(futures, loads):
                    future.result()
                    advance(load)
            parts = [future.result() for future in futures]
    finally:
        _inherited = None
    by_member = {item.member: item for part in parts for item in part}
    return [by_member[m] for m in members]


def _parse_share(
    path: str, fmt: str, members: list[str], identity: tuple[int, int, int, int]
) -> list[ScannedBinary]:
    # A forked worker inherits the open, validated archive: reading it again would cost a second
    # parse of the central directory and RECORD per worker (0.3 s for torch). Its stored and
    # deflated members are read with os.pread only, which no shared file position disturbs.
    inherited = _inherited
    if (
        inherited is not None
        and os.fspath(inherited.path) == path
        and all(inherited.zipinfo(m).compress_type in (0, 8) for m in members)
    ):
        return _parse_members(inherited, fmt, members)
    with WheelArchive.open(path) as archive:
        # Workers reopen the wheel by name: it must still be the file the parent validated.
        if archive.identity != identity:
            raise InvalidWheel("was replaced while it was being read", subject=archive.path.name)
        return _parse_members(archive, fmt, members)


def _parse_members(
    archive: WheelArchive, fmt: str, members: list[str], advance: progress.Advance | None = None
) -> list[ScannedBinary]:
    backend = backend_named(fmt)
    scanned: list[ScannedBinary] = []
    for member in members:
        # Large members go to lazy readers as an on-demand view, so memory holds what the reader
        # touches (headers, dynamic section, string tables), not the whole library. Their RECORD
        # hash is checked by `check` (which verifies every member) rather than here.
        lazy = backend.lazy and archive.size(member) >= _LAZY_BYTES
        data: bytes | ByteSource = member_bytes(archive, member) if lazy else archive.read(member)
        try:
            # A lazy backend's ``read`` takes any ByteSource (see Backend.lazy).
            with malformed_binary(member):
                binary = backend.read(cast(bytes, data), member)
        except InvalidBinary as err:
            raise InvalidBinary(str(err), subject=archive.path.name) from None
        scanned.append(
            ScannedBinary(member, installed_path(member, archive.metadata), fmt, binary, len(data))
        )
        if advance is not None:
            advance(len(data))
    return scanned


def backend_of(fmt: str) -> Backend:
    return backend_named(fmt)
