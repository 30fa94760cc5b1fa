"""Entering a deflate stream part way gives exactly the member's bytes, or nothing: never bytes that
depend on the history the entry did not see, and never bytes from the wrong offset."""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.wheels import make_wheel
from wheelrepair.formats.elf.reader import read_elf
from wheelrepair.wheel import compression, deflate_entry, stream
from wheelrepair.wheel.archive import WheelArchive
from wheelrepair.wheel.deflate_entry import Entry, block_starts, find_entry, read_proven
from wheelrepair.wheel.stream import member_bytes


def _mixed(size: int, seed: int) -> bytes:
    """Text-like runs (dynamic blocks), incompressible runs (stored blocks) and zero runs."""
    rng = random.Random(seed)
    words = [bytes(rng.choice(b"abcdefghijklmnop_\0\x7f") for _ in range(rng.randint(2, 14))) for _ in range(3000)]
    parts: list[bytes] = []
    total = 0
    while total < size:
        kind = rng.random()
        if kind < 0.7:
            part = b" ".join(rng.choice(words) for _ in range(rng.randint(2_000, 60_000)))
        elif kind < 0.9:
            part = rng.randbytes(rng.randint(10_000, 200_000))
        else:
            part = bytes(rng.randint(1_000, 100_000))
        parts.append(part)
        total += len(part)
    return b"".join(parts)[:size]


def _zlib(level: int) -> Callable[[bytes], bytes]:
    def run(data: bytes) -> bytes:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush()

    return run


def _in_pieces(data: bytes) -> bytes:
    """The stream our writer makes of a large member: sync-flushed pieces (empty stored blocks)."""
    piece = 1 << 20
    out = []
    for start in range(0, len(data), piece):
        window = data[max(0, start - compression.WINDOW) : start]
        out.append(compression.compress_chunk(data[start : start + piece], 6, window, start + piece >= len(data)))
    return b"".join(out)


COMPRESSORS = {
    "zlib-6": _zlib(6),
    "zlib-1": _zlib(1),
    "zlib-9": _zlib(9),
    "whole-member": lambda data: compression.compress_whole(data, 6),
    "sync-flushed-pieces": _in_pieces,
}


def _reader(compressed: bytes) -> deflate_entry.Reader:
    return lambda offset, length: compressed[offset : offset + length]


def _enter(data: bytes, compressed: bytes, start: int, length: int) -> tuple[Entry | None, bytes | None]:
    """The entry found for reading ``length`` bytes at ``start``, and what it read (None: refused)."""
    read = _reader(compressed)
    entry = find_entry(read, len(compressed), len(data), start - deflate_entry.MARGIN)
    if entry is None:
        return None, None
    return entry, read_proven(read, len(compressed), entry, start, start + length)


@pytest.mark.parametrize("compressor", sorted(COMPRESSORS))
def test_bytes_read_through_an_entry_are_the_member_bytes(compressor: str) -> None:
    data = _mixed(12 << 20, seed=3)
    compressed = COMPRESSORS[compressor](data)
    assert zlib.decompress(compressed, -15) == data
    read = _reader(compressed)
    rng = random.Random(5)
    proven = 0
    for _ in range(6):
        start = rng.randrange(4 << 20, len(data) - 70_000)
        entry = find_entry(read, len(compressed), len(data), start - deflate_entry.MARGIN)
        assert entry is not None
        assert entry.offset <= start - deflate_entry.MARGIN
        got = read_proven(read, len(compressed), entry, start, start + 65_536)
        if got is not None:
            assert got == data[start : start + 65_536]
            proven += 1
    # Zero runs copy themselves at distance 1 and text washes out the made-up history quickly:
    # nearly every read is proven, and none is wrong.
    assert proven >= 4


def test_every_stored_block_keeps_its_byte_alignment() -> None:
    """Stored blocks pad to the member's byte boundaries: an entry at any bit of a byte must see
    them where the member has them (the lead-in blocks, not a shift of the bytes)."""
    data = _mixed(6 << 20, seed=11)
    compressed = _zlib(6)(data)
    read = _reader(compressed)
    starts = block_starts(compressed[1 << 20 : (1 << 20) + (256 << 10)])
    shifts_seen: set[int] = set()
    for bit in starts:
        position = (1 << 20) * 8 + bit
        if position & 7 in shifts_seen:
            continue
        length = deflate_entry._length_to_end(read, len(compressed), position)
        if length is None:
            continue  # a header-shaped accident, not a block
        entry = Entry(position, len(data) - length)
        got = read_proven(read, len(compressed), entry, len(data) - 300_000, len(data))
        assert got == data[-300_000:]
        shifts_seen.add(position & 7)
    assert len(shifts_seen) >= 4


def test_block_starts_finds_the_blocks_a_sync_flush_begins() -> None:
    """A sync-flushed piece begins a new block on a byte boundary: a known real block start."""
    data = _mixed(5 << 20, seed=2)
    stream_bytes = _in_pieces(data)
    offset, checked = 0, 0
    for start in range(0, len(data) - (1 << 20), 1 << 20):
        window = data[max(0, start - compression.WINDOW) : start]
        offset += len(compression.compress_chunk(data[start : start + (1 << 20)], 6, window, False))
        if (stream_bytes[offset] >> 1) & 3 != 2:
            continue  # this piece begins with a stored or fixed block, which the search does not seek
        assert 8 * 1000 in block_starts(stream_bytes[offset - 1000 : offset + 3000])
        checked += 1
    assert checked >= 2


def test_bytes_copied_from_before_the_entry_are_refused() -> None:
    """A long repetition of one random stretch is all copies: entered in the middle, every byte
    is a copy of history the entry never saw, so none may be returned."""
    rng = random.Random(9)
    stretch = rng.randbytes(20_000)
    data = stretch * 400
    compressed = _zlib(6)(data)
    read = _reader(compressed)
    start = len(data) // 2
    entry = find_entry(read, len(compressed), len(data), start - deflate_entry.MARGIN)
    assert entry is not None and entry.offset > 0
    assert read_proven(read, len(compressed), entry, start, start + 4096) is None


def test_a_stream_that_does_not_end_where_it_should_gives_no_entry() -> None:
    data = _mixed(6 << 20, seed=4)
    compressed = _zlib(6)(data)
    target = len(data) - (1 << 20)
    # Cut short: no block inflates to the member's end.
    short = compressed[: len(compressed) - 1000]
    assert find_entry(_reader(short), len(short), len(data), target) is None
    # Trailing bytes after the stream's end.
    padded = compressed + b"\0" * 16
    assert find_entry(_reader(padded), len(padded), len(data), target) is None


def test_data_that_does_not_compress_is_entered_at_a_stored_block() -> None:
    """zlib writes such data as stored blocks, which have no Huffman header to find."""
    data = random.Random(1).randbytes(3 << 20)
    start = len(data) // 2
    entry, got = _enter(data, _zlib(6)(data), start, 200_000)
    assert entry is not None and entry.stored
    assert got == data[start : start + 200_000]


def test_stored_data_that_looks_like_stored_headers_is_not_entered_there() -> None:
    """Stored data appears verbatim in the stream: planted length fields (8 KiB, then its
    complement) inside it must not be taken for blocks, nor use up the search."""
    rng = random.Random(8)
    fake = (8192).to_bytes(2, "little") + (0xFFFF ^ 8192).to_bytes(2, "little")
    data = b"".join(rng.randbytes(2000) + fake for _ in range(1500))
    start = len(data) // 2
    entry, got = _enter(data, _zlib(6)(data), start, 100_000)
    assert entry is not None and entry.stored
    assert got == data[start : start + 100_000]


@pytest.fixture(scope="module")
def large_library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A real shared library (gcc) with 48 MiB of read-only data before its dynamic segment, in a
    wheel: its dynamic segment is far into the member, as libtorch_cpu.so's is."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    work = tmp_path_factory.mktemp("large")
    (work / "blob.bin").write_bytes(_mixed(48 << 20, seed=6))
    (work / "blob.s").write_text('.section .rodata\n.globl blob\nblob:\n.incbin "blob.bin"\n.section .note.GNU-stack,"",@progbits\n')
    (work / "lib.c").write_text("extern const char blob[];\nconst char *big(void) { return blob; }\n")
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O2", "-o", "libbig.so", "lib.c", "blob.s", "-Wl,-rpath,/opt/build/lib", "-Wl,--no-as-needed", "-lm"],
        cwd=work,
        check=True,
    )
    library = (work / "libbig.so").read_bytes()
    wheel = make_wheel(work, {"pkg/libbig.so": library, "pkg/__init__.py": b""})
    return wheel, library


def test_a_library_read_through_an_entry_parses_as_when_read_whole(large_library: tuple[Path, bytes]) -> None:
    wheel, library = large_library
    whole = read_elf(library, "pkg/libbig.so")
    assert "/opt/build/lib" in whole.rpaths + whole.runpaths and "libm.so.6" in whole.needed
    with WheelArchive.open(wheel) as archive:
        view = member_bytes(archive, "pkg/libbig.so")
        assert read_elf(view, "pkg/libbig.so") == whole
        assert isinstance(view._entry, Entry)
        # Inflated from the front: only the headers and tables before the blob.
        assert view._out_pos < 8 << 20


def test_a_member_being_hashed_is_inflated_whole(large_library: tuple[Path, bytes]) -> None:
    wheel, library = large_library
    with WheelArchive.open(wheel) as archive:
        view = member_bytes(archive, "pkg/libbig.so")
        view.hash_as_read("sha256")
        assert read_elf(view, "pkg/libbig.so") == read_elf(library, "pkg/libbig.so")
        assert view._entry is None
        assert view.digest() == hashlib.sha256(library).digest()


def test_without_an_entry_the_reader_inflates_forward(
    large_library: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel, library = large_library
    monkeypatch.setattr(deflate_entry, "find_entry", lambda *args: None)
    with WheelArchive.open(wheel) as archive:
        view = member_bytes(archive, "pkg/libbig.so")
        assert read_elf(view, "pkg/libbig.so") == read_elf(library, "pkg/libbig.so")
        assert view._entry is False and view._out_pos > 48 << 20


def test_show_reports_the_same_whether_the_stream_is_entered_or_not(
    large_library: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole ``show`` report (the scan runs on worker processes for a wheel this large)."""
    from wheelrepair import inspect_wheel

    wheel, _ = large_library
    entered = inspect_wheel(wheel)
    monkeypatch.setattr(deflate_entry, "find_entry", lambda *args: None)
    assert inspect_wheel(wheel) == entered
    assert "/opt/build/lib" in str(entered)


def test_without_isal_the_entry_inflates_with_zlib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compression, "_isal", None)
    data = _mixed(8 << 20, seed=21)
    start = 6 << 20
    entry, got = _enter(data, _zlib(6)(data), start, 100_000)
    assert entry is not None and got == data[start : start + 100_000]


def test_a_reader_walking_on_past_the_entry_inflates_forward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each read through an entry inflates from the entry block: a reader that walks on block by
    block gets a few such reads, then the forward inflate (never one entry read per block)."""
    # Stored blocks: every byte after the entry is proven, so each read goes through it.
    data = random.Random(12).randbytes(16 << 20)
    wheel = make_wheel(tmp_path, {"pkg/big.bin": data})
    monkeypatch.setattr(stream, "_ENTRY_JUMP", 1 << 20)  # a 16 MiB member stands for a large one
    calls: list[int] = []
    proven = deflate_entry.read_proven

    def counted(*args: object) -> bytes | None:
        calls.append(1)
        return proven(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(deflate_entry, "read_proven", counted)
    step = 64 << 10
    with WheelArchive.open(wheel) as archive:
        view = member_bytes(archive, "pkg/big.bin")
        for start in range(12 << 20, (12 << 20) + 40 * step, step):
            assert view[start : start + step] == data[start : start + step]
        assert isinstance(view._entry, Entry)
    assert 1 <= len(calls) <= 4  # of 40 blocks walked
