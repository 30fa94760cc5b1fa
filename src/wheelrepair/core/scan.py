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
    members = [member for member, backend in candidates if backend.format == fmt]
    if fmt is None or not members:
        return fmt, []
    total = sum(archive.size(m) for m in members)
    workers = min(os.cpu_count() or 1, _MAX_WORKERS, len(members))
    if workers < 2 or total < _PARALLEL_BYTES:
        return fmt, _parse_members(archive, fmt, members)
    shares: list[list[str]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for member in sorted(members, key=archive.size, reverse=True):
        lightest = loads.index(min(loads))
        shares[lightest].append(member)
        loads[lightest] += archive.size(member)
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else None)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        parts = list(
            pool.map(
                _parse_share,
                [str(archive.path)] * workers,
                [fmt] * workers,
                shares,
                [archive.identity] * workers,
            )
        )
    by_member = {item.member: item for part in parts for item in part}
    return fmt, [by_member[m] for m in members]


def _parse_share(
    path: str, fmt: str, members: list[str], identity: tuple[int, int, int, int]
) -> list[ScannedBinary]:
    with WheelArchive.open(path) as archive:
        # Workers reopen the wheel by name: it must still be the file the parent validated.
        if archive.identity != identity:
            raise InvalidWheel("was replaced while it was being read", subject=archive.path.name)
        return _parse_members(archive, fmt, members)


def _parse_members(archive: WheelArchive, fmt: str, members: list[str]) -> list[ScannedBinary]:
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
    return scanned


def backend_of(fmt: str) -> Backend:
    return backend_named(fmt)
