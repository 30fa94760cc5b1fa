"""Random access to one compressed zip member with bounded memory.

A deflate stream cannot be entered in the middle, so reading byte N means decompressing everything
before it. ``MemberBytes`` decompresses forward once, discarding what nobody asked for, and keeps a
copy of the decompressor every few MiB: a later read of an earlier range restarts from the nearest
copy instead of from the start. Binary readers use it like ``bytes`` (``len``, slicing, ``find``),
so a 500 MB library costs its headers in memory, not 500 MB.
"""

from __future__ import annotations

import os
import zlib
from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

from .compression import Inflater, inflater

if TYPE_CHECKING:
    from .archive import WheelArchive

_IN_CHUNK = 1 << 16
_BLOCK = 1 << 16
#: Distance (in decompressed bytes) between saved decompressor states.
_CHECKPOINT_EVERY = 4 << 20


@dataclass
class _Checkpoint:
    out_pos: int
    in_pos: int
    state: Inflater


class MemberBytes:
    """A read-only, bytes-like view of a zip member (STORED or DEFLATED), loaded on demand."""

    def __init__(self, fd: int, data_offset: int, compress_type: int, compressed: int, size: int) -> None:
        self._fd = fd
        self._start = data_offset
        self._method = compress_type
        self._compressed = compressed
        self._size = size
        self._blocks: dict[int, bytes] = {}
        if compress_type not in (0, 8):
            raise ValueError(f"unsupported compression method {compress_type}")
        self._checkpoints = [_Checkpoint(0, 0, inflater())] if compress_type == 8 else []
        self._restart(0)

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, key: int) -> int: ...

    @overload
    def __getitem__(self, key: slice) -> bytes: ...

    def __getitem__(self, key: int | slice) -> int | bytes:
        if isinstance(key, int):
            index = key + self._size if key < 0 else key
            if not 0 <= index < self._size:
                raise IndexError("index out of range")
            return self.read_at(index, 1)[0]
        start, stop, step = key.indices(self._size)
        data = self.read_at(start, max(0, stop - start))
        return data if step == 1 else data[::step]

    def find(self, sub: bytes, start: int = 0, end: int | None = None) -> int:
        end = self._size if end is None else min(end, self._size)
        pos = max(0, start)
        while pos < end:
            upto = min(end, (pos // _BLOCK + 1) * _BLOCK + len(sub) - 1)
            chunk = self.read_at(pos, upto - pos)
            found = chunk.find(sub)
            if found >= 0:
                return pos + found
            pos = upto - len(sub) + 1 if upto < end else end
        return -1

    def read_at(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (fewer at the end of the member)."""
        end = min(self._size, offset + length)
        if offset >= end:
            return b""
        parts = []
        for block in range(offset // _BLOCK, (end - 1) // _BLOCK + 1):
            data = self._block(block)
            lo = max(offset, block * _BLOCK) - block * _BLOCK
            hi = min(end, (block + 1) * _BLOCK) - block * _BLOCK
            parts.append(data[lo:hi])
        return b"".join(parts)

    def _block(self, index: int) -> bytes:
        cached = self._blocks.get(index)
        if cached is not None:
            return cached
        start = index * _BLOCK
        data = self._produce(start, min(self._size, start + _BLOCK))
        self._blocks[index] = data
        return data

    # -- decompression -------------------------------------------------------------------------

    def _restart(self, out_pos: int) -> None:
        if self._method == 0:
            self._out_pos = out_pos
            return
        i = bisect_right([c.out_pos for c in self._checkpoints], out_pos) - 1
        checkpoint = self._checkpoints[i]
        self._state = checkpoint.state.copy()
        self._out_pos = checkpoint.out_pos
        self._in_pos = checkpoint.in_pos
        self._pending = b""

    def _produce(self, start: int, end: int) -> bytes:
        if self._method == 0:
            return os.pread(self._fd, end - start, self._start + start)
        if start < self._out_pos or self._checkpoint_between(self._out_pos, start):
            self._restart(start)
        out = bytearray()
        while self._out_pos < end:
            chunk = self._next_output()
            if not chunk:
                raise ValueError("compressed data ends early")
            chunk_start = self._out_pos
            self._out_pos += len(chunk)
            lo = max(start, chunk_start)
            hi = min(end, self._out_pos)
            if lo < hi:
                out += chunk[lo - chunk_start : hi - chunk_start]
        return bytes(out)

    def _checkpoint_between(self, low: int, high: int) -> bool:
        i = bisect_right([c.out_pos for c in self._checkpoints], high) - 1
        return self._checkpoints[i].out_pos > low

    def _next_output(self) -> bytes:
        while True:
            if not self._pending:
                if self._in_pos >= self._compressed:
                    try:
                        return self._state.flush()
                    except zlib.error as err:
                        raise ValueError(f"corrupt compressed data ({err})") from None
                self._maybe_checkpoint()
                want = min(_IN_CHUNK, self._compressed - self._in_pos)
                self._pending = os.pread(self._fd, want, self._start + self._in_pos)
                self._in_pos += len(self._pending)
                if not self._pending:
                    return b""
            try:
                out = self._state.decompress(self._pending, _BLOCK)
            except zlib.error as err:
                # Readers see a ValueError, the error bad input raises anywhere in a bytes-like.
                raise ValueError(f"corrupt compressed data ({err})") from None
            self._pending = self._state.unconsumed_tail
            if out:
                return out

    def _maybe_checkpoint(self) -> None:
        """Save the decompressor between input chunks, where it holds no unconsumed input."""
        last = self._checkpoints[-1]
        if self._out_pos - last.out_pos >= _CHECKPOINT_EVERY and self._out_pos > last.out_pos:
            self._checkpoints.append(_Checkpoint(self._out_pos, self._in_pos, self._state.copy()))


def member_bytes(archive: WheelArchive, member: str) -> MemberBytes:
    """A lazily decompressed, bytes-like view of ``member``."""
    info = archive.zipinfo(member)
    offset, compressed = archive.raw_span(member)
    return MemberBytes(archive.fileno(), offset, info.compress_type, compressed, info.file_size)
