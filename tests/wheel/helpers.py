"""Builders for wheels no build backend would write: the hostile and broken inputs of the archive tests."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Union

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
