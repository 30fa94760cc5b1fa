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
            zf.writestr(info, data)
    return path
