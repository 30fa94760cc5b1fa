"""Random access to one compressed zip member with bounded memory.

A deflate stream cannot be entered in the middle, so reading byte N means decompressing everything
before it. ``MemberBytes`` decompresses forward once, discarding what nobody asked for, and keeps a
copy of the decompressor every few MiB: a later read of an earlier range restarts from the nearest
copy instead of from the start. Binary readers use it like ``bytes`` (``len``, slicing, ``find``),
so a 500 MB library costs its headers in memory, not 500 MB.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

from . import compression, deflate_entry
from .compression import Inflater

if TYPE_CHECKING:
    from .archive import WheelArchive

_IN_CHUNK = 1 << 16
_BLOCK = 1 << 16
#: Output requested per call while inflating towards a block further on.
_SKIP = 1 << 20
#: Blocks below this offset are kept once inflated (see ``MemberBytes._produce``).
RETAIN = 32 << 20
#: Distance (in decompressed bytes) between saved decompressor states.
_CHECKPOINT_EVERY = 4 << 20
#: A read at least this far beyond the inflated front enters the stream part way instead
#: (``deflate_entry``), when what follows the read is small beside the gap before it.
_ENTRY_JUMP = 32 << 20
#: Decompressed bytes read through an entry at once: readers look around what they asked for
#: (the ELF reader reads the dynamic segment, which may straddle blocks), and each entry costs
#: the inflate from the entry block to the bytes.
_ENTRY_SPAN = 4 * _BLOCK
#: Reads through an entry per view. Each inflates from the entry block, so a reader walking on
#: block by block past the first span would cost the stretch again and again; from here on the
#: view inflates forward instead (the ELF reader needs one read).
_ENTRY_READS = 4


@dataclass
class _Checkpoint:
    out_pos: int
    in_pos: int
    #: None: a fresh decompressor at the start of the stream.
    state: Inflater | None


class MemberBytes:
    """A read-only, bytes-like view of a zip member (STORED or DEFLATED), loaded on demand."""

    def __init__(self, fd: int, data_offset: int, compress_type: int, compressed: int, size: int) -> None:
        self._fd = fd
        self._start = data_offset
        self._method = compress_type
        self._compressed = compressed
        self._size = size
        self._blocks: dict[int, bytes] = {}
        self._acc = bytearray()
        self._acc_block = -1
        if compress_type not in (0, 8):
            raise ValueError(f"unsupported compression method {compress_type}")
        # Forward first, with the fastest decompressor (ISA-L, which cannot be copied): ELF readers
        # only go forward past RETAIN. A reader that comes back to an earlier range beyond it gets
        # a second, copyable decompressor that leaves checkpoints (see _restart).
        self._forward = not compression.forward_copies()
        self._checkpoints = [_Checkpoint(0, 0, None)] if compress_type == 8 else []
        self._hasher: hashlib._Hash | None = None
        self._hashed = 0
        #: Where the stream was entered part way (see _enter_ahead); False once finding one failed.
        self._entry: deflate_entry.Entry | bool | None = None
        self._entry_reads = 0
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
        end = min(self._size, start + _BLOCK)
        if self._method == 0:
            data = os.pread(self._fd, end - start, self._start + start)
            self._blocks[index] = data
            return data
        if not self._enter_ahead(start):
            self._produce(index, start, end)
        return self._blocks[index]

    def _enter_ahead(self, start: int) -> bool:
        """Read the blocks from ``start`` on through an entry into the stream near them, instead of
        inflating everything before them; False (and the caller inflates forward) when the jump is
        short, the member is being hashed (which needs every byte anyway), no entry is found or
        this view has used its reads through one."""
        gap = start - self._out_pos
        if (
            self._entry is False
            or self._entry_reads >= _ENTRY_READS
            or self._hasher is not None
            or gap < _ENTRY_JUMP
            or self._size - start > gap // 2
        ):
            return False
        read = self._read_compressed
        entry = self._entry
        if entry is None:
            target = max(0, start - deflate_entry.MARGIN)
            entry = deflate_entry.find_entry(read, self._compressed, self._size, target)
            self._entry = entry or False
        if not isinstance(entry, deflate_entry.Entry):
            return False
        end = min(self._size, start + _ENTRY_SPAN)
        self._entry_reads += 1
        data = deflate_entry.read_proven(read, self._compressed, entry, start, end)
        if data is None:
            return False
        for block_start in range(start, end, _BLOCK):
            self._blocks.setdefault(block_start // _BLOCK, data[block_start - start : block_start - start + _BLOCK])
        return True

    def _read_compressed(self, offset: int, length: int) -> bytes:
        length = min(length, self._compressed - offset)
        return os.pread(self._fd, length, self._start + offset) if length > 0 else b""

    def hash_as_read(self, algorithm: str) -> None:
        """Hash the content as it is inflated for the reader, so that a parse and a hash check share
        one inflate (``digest`` inflates and hashes what the reader left). Call before any read."""
        if self._method == 8 and self._out_pos == 0:
            self._hasher = hashlib.new(algorithm)

    def digest(self) -> bytes | None:
        """The digest of the whole content (see ``hash_as_read``); None if it was not hashed."""
        if self._hasher is None:
            return None
        if self._hashed < self._size:
            if self._out_pos != self._hashed:
                # A read jumped ahead through a snapshot: go back to the last byte hashed.
                self._restart(self._hashed)
            while self._out_pos < self._size:
                chunk = self._next_output(_SKIP)
                if not chunk:
                    raise ValueError("compressed data ends early")
                self._hash(self._out_pos, chunk)
                self._out_pos += len(chunk)
        return self._hasher.digest()

    def _hash(self, chunk_start: int, chunk: bytes) -> None:
        """Hash the part of ``chunk`` not hashed yet, if it continues what was."""
        if self._hasher is not None and chunk_start <= self._hashed < chunk_start + len(chunk):
            self._hasher.update(memoryview(chunk)[self._hashed - chunk_start :])
            self._hashed = chunk_start + len(chunk)

    # -- decompression -------------------------------------------------------------------------

    def _restart(self, out_pos: int) -> None:
        if self._method == 0:
            return
        i = bisect_right([c.out_pos for c in self._checkpoints], out_pos) - 1
        checkpoint = self._checkpoints[i]
        if checkpoint.state is not None:
            self._state = checkpoint.state.copy()
        elif self._forward:
            self._state = compression.forward_inflater()
        else:
            self._state = compression.inflater()
        self._out_pos = checkpoint.out_pos
        self._in_pos = checkpoint.in_pos
        self._pending = b""
        self._acc_block = -1

    def _produce(self, index: int, start: int, end: int) -> None:
        """Inflate forward until block ``index`` (``start``..``end``) is complete and cached.

        Output is requested only up to the end of the block that is wanted, so nothing past it is
        inflated and thrown away (which would force the next block to restart from a checkpoint).
        On the way, every block below ``RETAIN`` is kept: readers come back for the tables at the
        front of a file after reading one far behind them (ELF: the string and symbol tables after
        the dynamic segment).
        """
        if start < self._out_pos or self._checkpoint_between(self._out_pos, start):
            if self._forward and start >= RETAIN:
                # Back to a range the forward pass did not keep: from now on, leave checkpoints.
                self._forward = False
            self._restart(start)
        while self._out_pos < end:
            # Up to the wanted block in large steps; inside it, exactly to its end.
            limit = end - self._out_pos if self._out_pos >= start else min(_SKIP, start - self._out_pos)
            chunk = self._next_output(limit)
            if not chunk:
                raise ValueError("compressed data ends early")
            chunk_start = self._out_pos
            self._out_pos += len(chunk)
            self._hash(chunk_start, chunk)
            if chunk_start < RETAIN or self._out_pos > start:
                self._keep(chunk_start, chunk, index)

    def _keep(self, chunk_start: int, chunk: bytes, wanted: int) -> None:
        """Cache the blocks ``chunk`` completes that are wanted or below ``RETAIN``."""
        pos, chunk_end = chunk_start, chunk_start + len(chunk)
        view = memoryview(chunk)
        while pos < chunk_end:
            block = pos // _BLOCK
            block_start = block * _BLOCK
            block_end = min(self._size, block_start + _BLOCK)
            upto = min(chunk_end, block_end)
            if (block == wanted or block_start < RETAIN) and block not in self._blocks:
                piece = view[pos - chunk_start : upto - chunk_start]
                if pos == block_start:
                    self._acc = bytearray(piece)
                    self._acc_block = block
                elif self._acc_block == block and block_start + len(self._acc) == pos:
                    self._acc += piece
                else:
                    self._acc_block = -1  # entered mid-block after a restart: cannot complete it
                if self._acc_block == block and block_start + len(self._acc) == block_end:
                    self._blocks[block] = bytes(self._acc)
                    self._acc_block = -1
            pos = upto

    def _checkpoint_between(self, low: int, high: int) -> bool:
        i = bisect_right([c.out_pos for c in self._checkpoints], high) - 1
        return self._checkpoints[i].out_pos > low

    def _next_output(self, limit: int) -> bytes:
        """At most ``limit`` more bytes of output (fewer at the end of an input chunk)."""
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
                out = self._state.decompress(self._pending, limit)
            except zlib.error as err:
                # Readers see a ValueError, the error bad input raises anywhere in a bytes-like.
                raise ValueError(f"corrupt compressed data ({err})") from None
            self._pending = self._state.unconsumed_tail
            if out:
                return out
            if self._state.eof:
                return b""

    def _maybe_checkpoint(self) -> None:
        """Save the decompressor between input chunks, where it holds no unconsumed input."""
        if self._forward:
            return
        last = self._checkpoints[-1]
        if self._out_pos - last.out_pos >= _CHECKPOINT_EVERY and self._out_pos > last.out_pos:
            self._checkpoints.append(_Checkpoint(self._out_pos, self._in_pos, self._state.copy()))


def member_bytes(archive: WheelArchive, member: str) -> MemberBytes:
    """A lazily decompressed, bytes-like view of ``member``."""
    info = archive.zipinfo(member)
    offset, compressed = archive.raw_span(member)
    return MemberBytes(archive.fileno(), offset, info.compress_type, compressed, info.file_size)
