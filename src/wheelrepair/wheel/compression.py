"""Deflate and inflate for zip members, with the fastest implementation that is installed.

Chosen by measurement (benchmarks/bench_deflate.py: scipy 1.17.1's 83 MB of ELF members, one core):

- compressing a whole member at once: libdeflate (the ``deflate`` package) at level 6 is ~3x faster
  than zlib at level 6 and 1.5% smaller; it has no streaming API, so it only takes members of at most
  ``CHUNK`` bytes, which are held in memory anyway;
- compressing a larger member in chunks, on all cores: zlib-ng (``zlib-ng``), ~3x faster than zlib at
  the same level, ~2.5% larger; unlike libdeflate and ISA-L it takes a preset dictionary and a sync
  flush, which is what lets independent chunks form one stream (see ``compress_chunk``);
- inflating front to back (whole members, and ``stream.MemberBytes``' first pass): ISA-L (``isal``),
  ~1.35x zlib-ng; its decompressor cannot be copied, so where checkpoints are needed (a reader
  coming back to a range the first pass did not keep) zlib-ng inflates, ~1.7x zlib.

Without those packages everything falls back to the standard library's zlib, which produces
the same format (only slower, and at level 6 a little larger than libdeflate).
"""

from __future__ import annotations

import zlib
from types import ModuleType
from typing import Any, Protocol

#: Bytes of input per compression task: members up to this size are compressed whole, larger ones in
#: chunks of this size. Also the memory each worker holds (its input plus at most as much output).
CHUNK = 8 << 20
#: Bytes of input per task for members larger than ``CHUNK``, compressed in pieces: small enough
#: that the cores stay evenly busy to the end of a member; the output is as small as with 8 MiB
#: pieces (scipy's libscipy_openblas.so, zlib-ng 6: 7,588,756 bytes in 2 MiB pieces, 7,588,609
#: in 8 MiB).
PIECE = 2 << 20
#: Deflate's window: each chunk is primed with this much of the input that precedes it.
WINDOW = 32 * 1024
#: zlib's default, and what auditwheel writes.
DEFAULT_LEVEL = 6


class Inflater(Protocol):
    """The part of ``zlib.Decompress`` the readers use (zlib-ng's object has the same face)."""

    @property
    def unconsumed_tail(self) -> bytes: ...

    @property
    def unused_data(self) -> bytes: ...

    @property
    def eof(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...

    def flush(self, length: int = ...) -> bytes: ...

    def copy(self) -> Inflater: ...


def _load_zlib_ng() -> ModuleType | None:
    try:
        from zlib_ng import zlib_ng
    except ImportError:
        return None
    return zlib_ng


def _load_isal() -> ModuleType | None:
    try:
        from isal import isal_zlib
    except ImportError:
        return None
    return isal_zlib


def _load_libdeflate() -> Any:
    try:
        import deflate
    except ImportError:
        return None
    return deflate


_zlib_ng = _load_zlib_ng()
_libdeflate = _load_libdeflate()
_isal = _load_isal()
#: The zlib-compatible module for streaming work: zlib-ng when installed, else the standard library.
_stream: Any = _zlib_ng if _zlib_ng is not None else zlib
_zlib_ng_error: type[Exception] = _zlib_ng.error if _zlib_ng is not None else zlib.error
_isal_error: type[Exception] = _isal.error if _isal is not None else zlib.error


def implementations() -> dict[str, str]:
    """Which library does which job here (for ``--version``-like reports and the benchmarks)."""
    stream = "zlib-ng" if _zlib_ng is not None else "zlib"
    return {
        "inflate": stream,
        "inflate-forward": "isal" if _isal is not None else stream,
        "deflate-chunked": stream,
        "deflate-whole": "libdeflate" if _libdeflate else stream,
    }


def inflater() -> Inflater:
    """A decompressor for a raw deflate stream (zip method 8). Corrupt data raises ``zlib.error``
    whichever library inflates, so callers catch one exception type."""
    state = _stream.decompressobj(-zlib.MAX_WBITS)
    return state if _stream is zlib else _Inflater(state)


def forward_inflater() -> Inflater:
    """The fastest decompressor for a raw deflate stream read front to back. Its ``copy`` may
    raise ``NotImplementedError`` (ISA-L's state cannot be copied): see ``forward_copies``."""
    if _isal is None:
        return inflater()
    return _Inflater(_isal.decompressobj(-zlib.MAX_WBITS), _isal_error)


def forward_copies() -> bool:
    """Whether ``forward_inflater()``'s state can be copied (only without ISA-L)."""
    return _isal is None


class _Inflater:
    """A zlib-compatible decompressor (zlib-ng's, ISA-L's) with its errors raised as the standard
    ``zlib.error``."""

    __slots__ = ("_state", "_error")

    def __init__(self, state: Any, error: type[Exception] = _zlib_ng_error) -> None:
        self._state = state
        self._error = error

    @property
    def unconsumed_tail(self) -> bytes:
        return bytes(self._state.unconsumed_tail)

    @property
    def unused_data(self) -> bytes:
        return bytes(self._state.unused_data)

    @property
    def eof(self) -> bool:
        return bool(self._state.eof)

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        try:
            return bytes(self._state.decompress(data, max_length))
        except self._error as err:
            raise zlib.error(str(err)) from None

    def flush(self, length: int = zlib.DEF_BUF_SIZE) -> bytes:
        try:
            return bytes(self._state.flush(length))
        except self._error as err:
            raise zlib.error(str(err)) from None

    def copy(self) -> _Inflater:
        if not hasattr(self._state, "copy"):
            raise NotImplementedError("this decompressor cannot be copied")
        return _Inflater(self._state.copy(), self._error)


def crc32(data: bytes | memoryview, value: int = 0) -> int:
    return int(_stream.crc32(data, value))


def compress_whole(data: bytes | memoryview, level: int) -> bytes:
    """``data`` as one complete raw deflate stream."""
    if _libdeflate is not None:
        return bytes(_libdeflate.deflate_compress(data, level))
    compressor = _stream.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return bytes(compressor.compress(data) + compressor.flush())


def streamed_level(level: int) -> int:
    """The zlib-ng level for a member streamed in chunks at ``level``: at levels up to 6 zlib-ng
    writes 2.5-3% more than zlib at the same level (libtorch_cpu.so: 1.031 of zlib 6; 7 and 8:
    1.014; 9: 0.992), and at the default the output must be no larger than auditwheel's zlib 6.
    Level 9 is about as fast as zlib 6 (27-32 MB/s against 33-37, one core), and chunks still
    run on every core; below the default the trade-off is the user's. The standard library's zlib
    (without zlib-ng) is auditwheel's own and keeps the level."""
    return level if level < DEFAULT_LEVEL or _stream is zlib else 9


def compress_chunk(data: bytes | memoryview, level: int, window: bytes | memoryview, last: bool) -> bytes:
    """One piece of a stream compressed in independent chunks (pigz's technique).

    The compressor is primed with ``window``, the 32 KiB of input before ``data``, so matches may
    reach back into the previous chunk as if one compressor had seen it all. A chunk that is not the
    last ends with a sync flush: the current block is closed and an empty stored block brings the
    output to a byte boundary, with no final-block bit. The concatenation of the chunks in order is
    therefore one valid deflate stream, and each chunk can be compressed on its own core.
    """
    if window:
        compressor = _stream.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 8, zlib.Z_DEFAULT_STRATEGY, window)
    else:
        compressor = _stream.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = compressor.compress(data)
    return bytes(head + compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH))


def primed_inflater(history: bytes) -> Inflater:
    """The fastest decompressor for a raw deflate stream entered part way through, with ``history``
    (at most 32 KiB) standing in for the output before the entry (see ``deflate_entry``)."""
    if _isal is not None:
        return _Inflater(_isal.decompressobj(-zlib.MAX_WBITS, zdict=history), _isal_error)
    state = _stream.decompressobj(-zlib.MAX_WBITS, zdict=history)
    return state if _stream is zlib else _Inflater(state)
