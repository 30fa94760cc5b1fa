"""Replace a file by an edited copy of itself: copy, patch the copy, rename it into place, so the
file is never seen half-written and keeps its permissions. ``patched`` applies the same edit to bytes
in memory (a member edited on its way from the input wheel to the output, never on disk)."""

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


def patched(
    data: bytes | bytearray | memoryview,
    writes: Sequence[tuple[int, bytes]],
    *,
    keep: int | None = None,
    append_at: int = 0,
    append: bytes = b"",
) -> bytes:
    """``rewrite_file``'s edit applied to ``data``: the same bytes the edited file would hold."""
    size = len(data) if keep is None else keep
    view = memoryview(data)[:size]
    spans = sorted(writes)
    if all(a[0] + len(a[1]) <= b[0] for a, b in zip(spans, spans[1:])) and (
        not spans or spans[-1][0] + len(spans[-1][1]) <= size
    ):
        # The usual edit: a few disjoint patches inside the file, joined with its bytes in one copy.
        pieces: list[bytes | memoryview] = []
        pos = 0
        for offset, chunk in spans:
            pieces += [view[pos:offset], chunk]
            pos = offset + len(chunk)
        pieces.append(view[pos:])
        if append:
            pieces += [bytes(max(append_at - size, 0)), append]
        return b"".join(pieces)
    out = bytearray(view)
    for offset, chunk in writes:
        _put(out, offset, chunk)
    if append:
        _put(out, size, bytes(max(append_at - size, 0)) + append)
    return bytes(out)


def _put(out: bytearray, offset: int, chunk: bytes) -> None:
    # As a write past the end of a file does: the gap reads as zeros.
    end = offset + len(chunk)
    if end > len(out):
        out.extend(bytes(end - len(out)))
    out[offset:end] = chunk
