"""Replace a file by an edited copy of itself: copy, patch the copy, rename it into place, so the
file is never seen half-written and keeps its permissions."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

_CHUNK = 1 << 20


def rewrite_file(
    target: Path,
    writes: Sequence[tuple[int, bytes]],
    *,
    keep: int | None = None,
    append_at: int = 0,
    append: bytes = b"",
) -> None:
    """Copy the first ``keep`` bytes of ``target`` (all when None), overwrite ``writes`` in the copy,
    put ``append`` at ``append_at`` (zero-filled up to it), then rename the copy over ``target``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with open(fd, "r+b") as out, open(target, "rb") as src:
            info = os.fstat(src.fileno())
            size = info.st_size if keep is None else keep
            _copy(src, out, size)
            for offset, chunk in writes:
                out.seek(offset)
                out.write(chunk)
            if append:
                out.seek(size)
                out.write(bytes(max(append_at - size, 0)))
                out.write(append)
            out.flush()
            if hasattr(os, "fchmod"):
                os.fchmod(out.fileno(), stat.S_IMODE(info.st_mode))
        if not hasattr(os, "fchmod"):
            os.chmod(tmp, stat.S_IMODE(info.st_mode))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _copy(src: BinaryIO, out: BinaryIO, size: int) -> None:
    # In the kernel where possible (and as a copy-on-write clone on file systems that have them).
    if hasattr(os, "copy_file_range"):
        done = 0
        with contextlib.suppress(OSError):
            while done < size:
                step = os.copy_file_range(src.fileno(), out.fileno(), size - done)
                if not step:
                    break
                done += step
        if done == size:
            return
    src.seek(0)
    out.seek(0)
    remaining = size
    while remaining:
        chunk = src.read(min(remaining, _CHUNK))
        if not chunk:
            break
        out.write(chunk)
        remaining -= len(chunk)
