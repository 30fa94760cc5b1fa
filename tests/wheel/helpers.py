"""Builders for wheels no build backend would write (the hostile and broken inputs of the archive
tests), and a probe of the writer's early copies."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Union

import pytest

from wheelrepair.wheel import writer as writer_module

Entry = tuple[Union[zipfile.ZipInfo, str], bytes]

WHEEL_TEXT = b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
#: The date of entries given by name: a zip written now and one written two seconds later must be
#: byte for byte the same (the fuzz strategies draw values around the fields' own, the DOS time too).
ENTRY_DATE = (2024, 1, 1, 0, 0, 0)


def record_line_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def zip_wheel(
    path: Path,
    entries: Iterable[Entry],
    *,
    dist_info: str = "demo-1.0.dist-info",
    wheel: bytes | None = WHEEL_TEXT,
    record: bytes | None = None,
    record_extra: str = "",
    claimed: dict[str, bytes] | None = None,
) -> Path:
    """Write a zip at ``path`` with ``entries`` plus a dist-info whose RECORD lists them (unless
    ``record`` is given; ``claimed`` makes RECORD describe other contents for some members): the way
    to build wheels a build backend never would."""
    claimed = claimed or {}
    entries = list(entries)
    if wheel is not None:
        entries.append((f"{dist_info}/WHEEL", wheel))
    if record is None:
        lines = ""
        for info, data in entries:
            name = info if isinstance(info, str) else info.filename
            if name.endswith("/"):
                continue
            described = claimed.get(name, data)
            lines += f"{name},{record_line_hash(described)},{len(described)}\n"
        record = (lines + record_extra + f"{dist_info}/RECORD,,\n").encode()
    entries.append((f"{dist_info}/RECORD", record))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries:
            zf.writestr(info if isinstance(info, zipfile.ZipInfo) else _named(info), data)
    return path


def _named(name: str) -> zipfile.ZipInfo:
    """The entry ``ZipFile.writestr`` makes for a bare name (deflated; rw------- for a file,
    rwxrwxr-x and the MS-DOS directory bit for a directory), dated ``ENTRY_DATE``."""
    info = zipfile.ZipInfo(name, date_time=ENTRY_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o40775 << 16 | 0x10) if name.endswith("/") else 0o600 << 16
    return info


def record_early_copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The members whose data the writer finds already copied to their place by ``_EarlyCopies``,
    in the order it reaches them. The writer asks only once the walk has claimed what it will (the
    walk is started, unless it still waits for the output to move), so the answer is certain."""
    placed: list[str] = []
    place = writer_module._EarlyCopies.place

    def place_after_the_walk(self: writer_module._EarlyCopies, member: str) -> int | None:
        if not self.waiting:
            self.claimed.wait()
        where = place(self, member)
        if where is not None:
            placed.append(member)
        return where

    monkeypatch.setattr(writer_module._EarlyCopies, "place", place_after_the_walk)
    return placed
