"""Members written anew: chunked parallel deflate forms one valid stream, levels, and the stdlib fallback.

The content is a real shared library of this host (libpython, ~23 MB), the kind of member repair
compresses again."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
import zlib
from pathlib import Path

import pytest

from tests.wheel.test_writer import NAME, compressed_bytes
from wheelrepair.wheel import compression
from wheelrepair.wheel.archive import WheelArchive
from wheelrepair.wheel.stream import member_bytes
from wheelrepair.wheel.writer import HEAD_SHARE, DeflateAhead, write_wheel


def _real_library() -> Path:
    libdir = Path(sysconfig.get_config_var("LIBDIR") or "/usr/lib")
    for candidate in [libdir / str(sysconfig.get_config_var("INSTSONAME") or ""), Path("/usr/lib/x86_64-linux-gnu/libc.so.6")]:
        if candidate.is_file() and candidate.stat().st_size > 1 << 20:
            return candidate.resolve()
    pytest.skip("no shared library over 1 MiB found on this host")


def _zlib6(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def _unzip_test(wheel: Path) -> None:
    result = subprocess.run(["unzip", "-tq", str(wheel)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_member_deflated_in_chunks_is_one_valid_stream(
    demo_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = _real_library()
    data = library.read_bytes()
    monkeypatch.setattr(compression, "CHUNK", 256 * 1024)  # many chunks, so many sync flushes
    assert len(data) > 4 * compression.CHUNK
    with WheelArchive.open(demo_wheel) as source:
        out = write_wheel(source, tmp_path / NAME, add={"demo/libbig.so": library})
    raw = compressed_bytes(out, "demo/libbig.so")
    # One raw deflate stream: the standard library inflates it in one go and finds its end.
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    assert inflater.decompress(raw) == data
    assert inflater.eof and not inflater.unused_data
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        assert zlib.crc32(data) == zf.getinfo("demo/libbig.so").CRC
    _unzip_test(out)
    with WheelArchive.open(out) as result:
        result.verify_record()
        view = member_bytes(result, "demo/libbig.so")
        assert view[len(data) - 100 :] == data[-100:]
        assert view[:64] == data[:64]
    # Each chunk starts from the previous chunk's window: splitting costs (almost) nothing in size.
    assert len(raw) < len(_zlib6(data)) * 1.04


def test_members_compressed_ahead_do_not_depend_on_the_number_of_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same input gives the same wheel on a 1-, 2- or 8-core machine (reproducible builds run
    SOURCE_DATE_EPOCH repairs on whatever runner CI hands them)."""
    data = _real_library().read_bytes()
    monkeypatch.setattr(compression, "CHUNK", 1 << 20)
    monkeypatch.setattr(compression, "PIECE", 256 * 1024)
    streams = set()
    for workers in (1, 2, 8):
        with DeflateAhead(6, workers) as ahead:
            streams.add(b"".join(part.result() for part in ahead.deflate(data).compressed()))
    assert len(streams) == 1


@pytest.mark.parametrize(("level", "workers"), [(6, 4), (1, 4), (0, 4), (6, 2), (6, 1)])
def test_members_compressed_ahead_are_one_valid_stream_each(
    demo_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: int, workers: int
) -> None:
    """What repair hands the writer: edited libraries compressed (and hashed) on a pool before the
    write; a large one as zlib-ng pieces then one libdeflate stream, joined into one."""
    library = _real_library()
    data = library.read_bytes()
    monkeypatch.setattr(compression, "CHUNK", 1 << 20)
    monkeypatch.setattr(compression, "PIECE", 256 * 1024)
    small = data[: 100 * 1024]
    with DeflateAhead(level, workers) as ahead:
        big, little = ahead.deflate(data), ahead.deflate(small)
        pieces = -(-(len(data) // HEAD_SHARE) // compression.PIECE)
        assert len(big.compressed()) == (1 if level == 0 else 1 + pieces)
        assert big.sha256_hex() == hashlib.sha256(data).hexdigest()
        with WheelArchive.open(demo_wheel) as source:
            out = write_wheel(
                source, tmp_path / NAME, add={"demo/libbig.so": big, "demo/copy.so": big, "demo/small.so": little},
                level=level,
            )
            with pytest.raises(ValueError, match="level"):
                write_wheel(source, tmp_path / "mismatch.whl", add={"demo/x.so": big}, level=(level + 1) % 10)
    for member, content in (("demo/libbig.so", data), ("demo/copy.so", data), ("demo/small.so", small)):
        raw = compressed_bytes(out, member)
        if level == 0:
            assert raw == content
            continue
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        assert inflater.decompress(raw) == content
        assert inflater.eof and not inflater.unused_data
    assert sorted(f.name for f in tmp_path.iterdir()) == [NAME]  # the refused write left nothing
    _unzip_test(out)
    with WheelArchive.open(out) as result:
        result.verify_record()
        assert result.read("demo/libbig.so") == data
    if level == 6:
        # A fifth in zlib-ng pieces (tiny here), the rest libdeflate: about zlib's size.
        assert len(compressed_bytes(out, "demo/libbig.so")) <= len(_zlib6(data)) * 1.01


def test_levels_trade_size_for_speed_and_zero_stores(demo_wheel: Path, tmp_path: Path) -> None:
    library = _real_library()
    data = library.read_bytes()
    sizes = {}
    for level in (0, 1, 6, 9):
        (tmp_path / str(level)).mkdir()
        with WheelArchive.open(demo_wheel) as source:
            out = write_wheel(source, tmp_path / str(level) / NAME, add={"demo/lib.so": library}, level=level)
        with zipfile.ZipFile(out) as zf:
            info = zf.getinfo("demo/lib.so")
            assert zf.read(info) == data
            sizes[level] = info.compress_size
            expected = zipfile.ZIP_STORED if level == 0 else zipfile.ZIP_DEFLATED
            assert info.compress_type == expected
            # The other members written anew (RECORD) follow the level too.
            assert zf.getinfo("demo-1.0.dist-info/RECORD").compress_type == expected
        _unzip_test(out)
    assert sizes[0] == len(data)
    assert sizes[9] <= sizes[6] < sizes[1] < sizes[0]


def test_default_level_is_no_larger_than_zlib_level_6(demo_wheel: Path, tmp_path: Path) -> None:
    """auditwheel writes zlib level 6: members compressed whole are never larger than that here."""
    library = _real_library()
    data = library.read_bytes()[: compression.CHUNK]
    with WheelArchive.open(demo_wheel) as source:
        out = write_wheel(source, tmp_path / NAME, add={"demo/lib.so": data})
    assert len(compressed_bytes(out, "demo/lib.so")) <= len(_zlib6(data))


def test_a_large_member_compressed_ahead_is_no_larger_than_zlib_level_6() -> None:
    """A member over CHUNK is compressed ahead as a head in zlib-ng pieces and a libdeflate tail.
    zlib-ng writes 2-3% more than zlib on numpy's own OpenBLAS (libdeflate ~1% less): with a third
    of it in the head, the member (and numpy's repaired wheel) came out larger than auditwheel's."""
    from tests.fixtures.pypi import fetch_wheel

    with zipfile.ZipFile(fetch_wheel("numpy", ["manylinux_2_28_x86_64", "manylinux2014_x86_64"])) as numpy:
        (name,) = (n for n in numpy.namelist() if "/libscipy_openblas" in n)
        data = numpy.read(name)
    assert len(data) > 3 * compression.CHUNK
    with DeflateAhead(compression.DEFAULT_LEVEL) as ahead:
        deflated = ahead.deflate(data)
        stream = b"".join(part.result() for part in deflated.compressed())
    assert len(deflated.compressed()) > 1  # the head went in pieces beside the tail
    assert zlib.decompressobj(-zlib.MAX_WBITS).decompress(stream) == data
    assert len(stream) <= len(_zlib6(data))


def test_a_member_streamed_in_chunks_is_no_larger_than_zlib_level_6(demo_wheel: Path, tmp_path: Path) -> None:
    """A member over CHUNK handed over as a file (a library too large to edit in memory) goes in
    zlib-ng chunks: at level 6 zlib-ng writes ~2.5% more than zlib, so the default takes its level 9."""
    compiler = Path(subprocess.run(["gcc", "-print-prog-name=cc1"], capture_output=True, text=True).stdout.strip())
    if not compiler.is_file():
        pytest.skip("gcc's cc1 (a real binary over 16 MiB) is not installed")
    data = compiler.read_bytes()[: 2 * compression.CHUNK + 12345]
    big = tmp_path / "big.so"
    big.write_bytes(data)
    with WheelArchive.open(demo_wheel) as source:
        out = write_wheel(source, tmp_path / NAME, add={"demo/big.so": big})
    stream = compressed_bytes(out, "demo/big.so")
    assert zlib.decompressobj(-zlib.MAX_WBITS).decompress(stream) == data
    assert len(stream) <= len(_zlib6(data))


def test_invalid_level_is_a_usage_error(demo_wheel: Path, tmp_path: Path) -> None:
    from wheelrepair.errors import UsageError

    with WheelArchive.open(demo_wheel) as source, pytest.raises(UsageError, match="compression level"):
        write_wheel(source, tmp_path / NAME, level=10)
    assert list(tmp_path.iterdir()) == []


def test_without_the_fast_libraries_the_standard_zlib_does_the_same_job(demo_wheel: Path, tmp_path: Path) -> None:
    """zlib-ng and libdeflate are dependencies, but an environment without them must still work."""
    library = _real_library()
    script = textwrap.dedent(
        """
        import json, sys
        sys.modules["zlib_ng"] = None  # makes "import zlib_ng" fail as if it were not installed
        sys.modules["deflate"] = None
        sys.modules["isal"] = None
        from wheelrepair.wheel import compression, writer
        from wheelrepair.wheel.archive import WheelArchive
        from wheelrepair.wheel.stream import member_bytes
        compression.CHUNK = 1 << 20
        source, dest, library = sys.argv[1:]
        with WheelArchive.open(source) as archive:
            writer.write_wheel(archive, dest, add={"demo/lib.so": library, "demo/small.txt": b"small" * 100})
        with WheelArchive.open(dest) as archive:
            archive.verify_record()
            tail = bytes(member_bytes(archive, "demo/lib.so")[-64:])
        print(json.dumps({"implementations": compression.implementations(), "tail": tail.hex()}))
        """
    )
    out = tmp_path / NAME
    result = subprocess.run(
        [sys.executable, "-c", script, str(demo_wheel), str(out), str(library)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["implementations"].values()) == {"zlib"}
    data = library.read_bytes()
    assert bytes.fromhex(report["tail"]) == data[-64:]
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        assert zf.read("demo/lib.so") == data
    _unzip_test(out)
    # Whole members come out exactly as zlib at level 6 writes them.
    assert compressed_bytes(out, "demo/small.txt") == _zlib6(b"small" * 100)


def test_the_fast_libraries_are_in_use_when_installed() -> None:
    """The dependencies are declared; an install that silently fell back would lose the speed."""
    pytest.importorskip("zlib_ng")
    pytest.importorskip("deflate")
    pytest.importorskip("isal")
    assert compression.implementations() == {
        "inflate": "zlib-ng",
        "inflate-forward": "isal",
        "deflate-chunked": "zlib-ng",
        "deflate-whole": "libdeflate",
    }
