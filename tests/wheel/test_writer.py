"""Writing wheels: raw copies, changes, RECORD, determinism, atomicity, and pip installing the result."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.pypi import fetch_wheel, local_torch_wheel
from tests.fixtures.venv import fresh_venv, uv_install
from tests.wheel.helpers import WHEEL_TEXT, record_early_copies, zip_wheel
from wheelrepair.errors import OutputError, UsageError
from wheelrepair.wheel import writer as writer_module
from wheelrepair.wheel.archive import WheelArchive
from wheelrepair.wheel.metadata import record_hash, retag
from wheelrepair.wheel.writer import DEFAULT_DATE, DeflateAhead, write_wheel

NAME = "demo-1.0-py3-none-any.whl"


def compressed_bytes(path: Path, member: str) -> bytes:
    """The stored (compressed) bytes of ``member``, located from its local file header (APPNOTE 4.3.7)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)
        assert header[:4] == b"PK\x03\x04"
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        return f.read(info.compress_size)


def pip_install(wheel: Path, target: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_unchanged_round_trip_installs_with_pip(
    demo_wheel: Path, payload: dict[str, bytes], tmp_path: Path
) -> None:
    before = sha(demo_wheel)
    with WheelArchive.open(demo_wheel) as source:
        out = write_wheel(source, tmp_path / demo_wheel.name)
        source_members = source.members
    assert out == tmp_path / demo_wheel.name
    assert sha(demo_wheel) == before
    with WheelArchive.open(out) as result:
        result.verify_record()
        assert set(result.members) == set(source_members)
        assert result.members[-2:] == ("demo-1.0.dist-info/WHEEL", "demo-1.0.dist-info/RECORD")
        for member in payload:
            assert compressed_bytes(out, member) == compressed_bytes(demo_wheel, member)
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
    pip_install(out, tmp_path / "site")
    for member, data in payload.items():
        if ".data/" not in member:
            assert (tmp_path / "site" / member).read_bytes() == data
    assert (tmp_path / "site" / "bin" / "demo-tool").is_file()


def test_every_compression_method_is_copied_raw(tmp_path: Path) -> None:
    text = b"the same line again and again\n" * 2000
    methods = {
        "stored": zipfile.ZIP_STORED,
        "fast": zipfile.ZIP_DEFLATED,
        "bz2": zipfile.ZIP_BZIP2,
        "xz": zipfile.ZIP_LZMA,
    }
    src = tmp_path / "src" / NAME
    src.parent.mkdir()
    zip_wheel(src, [(f"demo/{name}.txt", text) for name in methods])
    # Recompress each member with its own method and level, as a foreign zip tool might have.
    with zipfile.ZipFile(src) as zf:
        contents = [(info.filename, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(src, "w") as zf:
        for member, data in contents:
            method = methods.get(member[5:-4], zipfile.ZIP_DEFLATED)
            zf.writestr(
                member, data, compress_type=method, compresslevel=1 if member == "demo/fast.txt" else None
            )
    with WheelArchive.open(src) as source:
        out = write_wheel(source, tmp_path / NAME)
    with zipfile.ZipFile(out) as zf:
        for name, method in methods.items():
            member = f"demo/{name}.txt"
            assert zf.getinfo(member).compress_type == method
            assert zf.read(member) == text
            assert compressed_bytes(out, member) == compressed_bytes(src, member)


class Unseekable(io.RawIOBase):
    """A write-only stream without seek, so zipfile must use data descriptors."""

    def __init__(self, target: io.BufferedWriter) -> None:
        self.target = target

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return self.target.write(data)


def test_data_descriptors_and_zip64_extras_in_the_source(tmp_path: Path) -> None:
    plain = zip_wheel(
        tmp_path / "plain.zip", [("demo/a.py", b"a = 1\n" * 100), ("demo/b.bin", os.urandom(5000))]
    )
    src = tmp_path / "src" / NAME
    src.parent.mkdir()
    with zipfile.ZipFile(plain) as zin, open(src, "wb") as f, zipfile.ZipFile(Unseekable(f), "w") as zout:
        for info in zin.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            with zout.open(entry, "w", force_zip64=info.filename == "demo/b.bin") as stream:
                stream.write(zin.read(info))
    with zipfile.ZipFile(src) as zf:
        assert all(info.flag_bits & 0x08 for info in zf.infolist())  # really written with data descriptors
    with WheelArchive.open(src) as source:
        out = write_wheel(source, tmp_path / NAME)
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        assert not any(info.flag_bits & 0x08 for info in zf.infolist())
    for member in ("demo/a.py", "demo/b.bin"):
        assert compressed_bytes(out, member) == compressed_bytes(src, member)
    with WheelArchive.open(out) as result:
        result.verify_record()


def test_long_and_short_extra_fields_in_the_source(tmp_path: Path) -> None:
    """Local headers with an extra field of their own (an unknown ID zipfile passes through): the
    short one and the long one (past what one read of the header takes) are both dropped from the
    output, the data is copied as it is, whether sniffing read the headers first or not."""
    src = tmp_path / "src" / NAME
    src.parent.mkdir()
    entries = []
    for name, extra in (("demo/short.py", 8), ("demo/long.py", 700), ("demo/none.py", 0)):
        info = zipfile.ZipInfo(name, date_time=(2020, 2, 2, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.extra = struct.pack("<HH", 0xCAFE, extra - 4) + bytes(extra - 4) if extra else b""
        entries.append((info, f"{name} = 1\n".encode() * 50))
    zip_wheel(src, entries)
    (tmp_path / "sniffed").mkdir()
    (tmp_path / "cold").mkdir()
    for sniff in (False, True):
        with WheelArchive.open(src) as source:
            if sniff:
                for member in source.members:
                    source.head(member, 16)
            out = write_wheel(source, tmp_path / ("sniffed" if sniff else "cold") / NAME)
        with zipfile.ZipFile(out) as zf:
            assert zf.testzip() is None
            assert all(info.extra == b"" for info in zf.infolist())
        for member in ("demo/short.py", "demo/long.py", "demo/none.py"):
            assert compressed_bytes(out, member) == compressed_bytes(src, member)
        with WheelArchive.open(out) as result:
            result.verify_record()
            assert result.zipinfo("demo/long.py").date_time == (2020, 2, 2, 0, 0, 0)


@pytest.fixture
def changed(demo_wheel: Path, tmp_path: Path) -> Path:
    tool = tmp_path / "tool.dat"
    tool.write_bytes(b"\x00tool\x00" * 1000)
    (tmp_path / "out").mkdir()
    with WheelArchive.open(demo_wheel) as source:
        return write_wheel(
            source,
            tmp_path / "out" / demo_wheel.name,
            replace={"demo/__init__.py": b"VALUE = 43\n"},
            add={"demo/zz_added.py": b"ADDED = True\n", "demo/extra/tool.dat": tool, "demo/aa.txt": b"a\n"},
            remove=["demo/data/table.txt"],
            modes={"demo/zz_added.py": 0o644},
        )


def test_replace_add_and_remove(changed: Path, demo_wheel: Path, tmp_path: Path) -> None:
    with WheelArchive.open(changed) as result:
        result.verify_record()
        assert result.members == (
            "demo/__init__.py",
            "demo/data/noise.bin",
            "demo-1.0.data/scripts/demo-tool",
            "demo-1.0.dist-info/METADATA",
            "demo/aa.txt",
            "demo/extra/tool.dat",
            "demo/zz_added.py",
            "demo-1.0.dist-info/WHEEL",
            "demo-1.0.dist-info/RECORD",
        )
        assert result.read("demo/__init__.py") == b"VALUE = 43\n"
        assert result.record()["demo/__init__.py"] == (record_hash(b"VALUE = 43\n"), 11)
        assert result.read("demo/extra/tool.dat") == b"\x00tool\x00" * 1000
        assert compressed_bytes(changed, "demo/data/noise.bin") == compressed_bytes(
            demo_wheel, "demo/data/noise.bin"
        )
        modes = {m: stat.S_IMODE(result.zipinfo(m).external_attr >> 16) for m in result.members}
        dates = {m: result.zipinfo(m).date_time for m in result.members}
    assert modes["demo/__init__.py"] == 0o644  # replaced: the source member's mode
    assert modes["demo/extra/tool.dat"] == 0o755  # added: NEW_MEMBER_MODE
    assert modes["demo/zz_added.py"] == 0o644  # added with an explicit mode
    assert dates["demo/__init__.py"] == (2020, 1, 1, 0, 0, 0)  # replaced: the source member's date
    assert dates["demo/aa.txt"] == DEFAULT_DATE
    site = tmp_path / "site"
    pip_install(changed, site)
    assert (site / "demo" / "__init__.py").read_bytes() == b"VALUE = 43\n"
    assert not (site / "demo" / "data" / "table.txt").exists()
    assert os.access(site / "demo" / "extra" / "tool.dat", os.X_OK)


def test_retagged_wheel_under_a_new_name(demo_wheel: Path, tmp_path: Path) -> None:
    with WheelArchive.open(demo_wheel) as source:
        filename, tags = retag(source.metadata, ["manylinux_2_17_x86_64", "manylinux2014_x86_64"])
        out = write_wheel(source, tmp_path / filename, wheel_tags=tags)
    assert out.name == "demo-1.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    with WheelArchive.open(out) as result:
        assert result.metadata.wheel_tags == (
            "py3-none-manylinux_2_17_x86_64",
            "py3-none-manylinux2014_x86_64",
        )
        assert result.metadata.platform_tags == ("manylinux_2_17_x86_64", "manylinux2014_x86_64")
        wheel_text = result.read("demo-1.0.dist-info/WHEEL").decode()
    assert "Generator: wheelrepair-tests\n" in wheel_text
    assert "Root-Is-Purelib: true\n" in wheel_text
    if sys.platform == "linux" and os.uname().machine == "x86_64":
        pip_install(out, tmp_path / "site")
        assert (tmp_path / "site" / "demo" / "__init__.py").is_file()


def _write_twice(demo_wheel: Path, tmp_path: Path, label: str) -> list[bytes]:
    outputs = []
    for run in ("a", "b"):
        directory = tmp_path / f"{label}-{run}"
        directory.mkdir()
        lib = directory / "input.dat"
        lib.write_bytes(b"vendored" * 999)
        with WheelArchive.open(demo_wheel) as source:
            out = write_wheel(
                source,
                directory / "demo-1.0-py3-none-linux_x86_64.whl",
                replace={"demo/__init__.py": b"VALUE = 0\n"},
                add={"demo.libs/b.dat": lib, "demo.libs/a.dat": b"a"},
                wheel_tags=["py3-none-linux_x86_64"],
            )
        outputs.append(out.read_bytes())
        time.sleep(1.1 if run == "a" else 0)  # a clock leaking into the output would show up
    return outputs


def test_output_is_deterministic(demo_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first, second = _write_twice(demo_wheel, tmp_path, "plain")
    assert first == second


def test_source_date_epoch_dates_every_member(
    demo_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    plain = _write_twice(demo_wheel, tmp_path, "plain")[0]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14 22:13:20 UTC
    first, second = _write_twice(demo_wheel, tmp_path, "sde")
    assert first == second
    assert first != plain
    (tmp_path / "sde.whl").write_bytes(first)
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        dates = {info.filename: info.date_time for info in zf.infolist()}
        assert zf.testzip() is None
    # Unchanged members too, as auditwheel does; their compressed bytes are still copied as they were.
    assert set(dates.values()) == {(2023, 11, 14, 22, 13, 20)}
    assert compressed_bytes(tmp_path / "sde.whl", "demo/data/noise.bin") == compressed_bytes(
        demo_wheel, "demo/data/noise.bin"
    )
    # The local headers carry the same date as the central directory (APPNOTE 4.3.7: time, date at 10).
    data = first
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        for info in zf.infolist():
            local_time, local_date = struct.unpack_from("<HH", data, info.header_offset + 10)
            assert (local_time, local_date) == (0xB1AA, 0x576E), info.filename


def test_invalid_source_date_epoch_is_a_usage_error(
    demo_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with WheelArchive.open(demo_wheel) as source, pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        write_wheel(source, tmp_path / NAME)
    assert list(tmp_path.iterdir()) == []


def test_a_failing_write_leaves_nothing_behind(demo_wheel: Path, tmp_path: Path) -> None:
    (tmp_path / "not-a-file").mkdir()
    dest = tmp_path / NAME
    dest.write_bytes(b"previous output")
    with WheelArchive.open(demo_wheel) as source, pytest.raises(IsADirectoryError):
        write_wheel(source, dest, add={"demo/zzz.dat": tmp_path / "not-a-file"})
    assert sorted(p.name for p in tmp_path.iterdir()) == [NAME, "not-a-file"]
    assert dest.read_bytes() == b"previous output"


@pytest.mark.parametrize("where", ["central directory", "RECORD"])
def test_a_wheel_that_does_not_read_back_as_written_is_an_output_error(
    where: str, demo_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file system loses a byte after it was written (a flaky network mount, say): the writer
    reads back what describes the wheel and refuses to hand over the file."""
    write_directory = writer_module._write_central_directory

    def then_lose_a_byte(out: writer_module._Output, entries: list[Any]) -> tuple[int, bytes]:
        start, tail = write_directory(out, entries)
        if where == "RECORD":
            (record,) = [e for e in entries if isinstance(e, writer_module._Entry) and e.name.endswith(b"RECORD")]
            lost = record.offset + 30 + len(record.name) + record.compress_size // 2
        else:
            lost = start + len(tail) // 2
        out.flush()
        os.pwrite(out.fd, bytes([os.pread(out.fd, 1, lost)[0] ^ 0xFF]), lost)
        return start, tail

    monkeypatch.setattr(writer_module, "_write_central_directory", then_lose_a_byte)
    with WheelArchive.open(demo_wheel) as source, pytest.raises(OutputError, match=f"read back.*{where}"):
        write_wheel(source, tmp_path / NAME, wheel_tags=["py3-none-any"])
    assert list(tmp_path.iterdir()) == []


def test_the_input_wheel_is_never_overwritten(demo_wheel: Path) -> None:
    before = sha(demo_wheel)
    with (
        WheelArchive.open(demo_wheel) as source,
        pytest.raises(UsageError, match="overwrite the input wheel"),
    ):
        write_wheel(source, demo_wheel, replace={"demo/__init__.py": b""})
    assert sha(demo_wheel) == before
    assert sorted(p.name for p in demo_wheel.parent.iterdir()) == [demo_wheel.name]


@pytest.mark.parametrize(
    ("request_", "problem"),
    [
        ({"replace": {"demo/nope.py": b""}}, "cannot replace"),
        ({"add": {"demo/__init__.py": b""}}, "already in"),
        ({"add": {"../evil.py": b""}}, "zip-slip"),
        ({"add": {"/abs.py": b""}}, "absolute"),
        ({"add": {"demo/__init__.py/x": b""}}, "both a file and a directory"),
        ({"add": {"demo/data": b""}}, "both a file and a directory"),
        ({"remove": ["demo-1.0.dist-info/WHEEL"]}, "cannot remove"),
        ({"replace": {"demo-1.0.dist-info/RECORD": b""}}, "regenerated"),
        ({"replace": {"demo/__init__.py": b""}, "remove": ["demo/__init__.py"]}, "both replaced and removed"),
        ({"wheel_tags": ["py3-none"]}, "invalid WHEEL tags"),
        ({"modes": {"demo/__init__.py": 0o755}}, "only added members"),
    ],
)
def test_contradictory_requests_are_refused(
    demo_wheel: Path, tmp_path: Path, request_: dict[str, object], problem: str
) -> None:
    with WheelArchive.open(demo_wheel) as source, pytest.raises(ValueError, match=problem):
        write_wheel(source, tmp_path / NAME, **request_)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_zip64_records_are_written_when_needed(
    demo_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Force every size, offset and count past the zip64 thresholds and let zipfile, unzip and pip read it."""
    monkeypatch.setattr(writer_module, "ZIP64_LIMIT", 1000)
    monkeypatch.setattr(writer_module, "ZIP64_COUNT_LIMIT", 3)
    with WheelArchive.open(demo_wheel) as source:
        out = write_wheel(source, tmp_path / NAME, add={"demo/new.txt": b"new " * 1000})
    data = out.read_bytes()
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        assert zf.read("demo/new.txt") == b"new " * 1000
    with WheelArchive.open(out) as result:
        result.verify_record()
    unzip = subprocess.run(["unzip", "-tq", str(out)], capture_output=True, text=True)
    if unzip.returncode != 127:
        assert unzip.returncode == 0, unzip.stdout + unzip.stderr
    pip_install(out, tmp_path / "site")
    # uv reads zips strictly: ZIP64 extras, end records and local headers must agree with each other.
    uv_install(fresh_venv(tmp_path / "venv"), out)


def test_memory_stays_flat_for_large_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.dat"
    block = os.urandom(1024 * 1024)
    with open(big, "wb") as f:
        for _ in range(32):
            f.write(block)
    src = tmp_path / "src" / NAME
    src.parent.mkdir()
    plain = zip_wheel(
        tmp_path / "plain.zip", [("demo/stored.bin", b"")], claimed={"demo/stored.bin": big.read_bytes()}
    )
    # Put the 32 MiB member in stored (uncompressed) so the raw copy moves all of it.
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(src, "w") as zout:
        for info in zin.infolist():
            if info.filename == "demo/stored.bin":
                zout.write(big, info.filename, compress_type=zipfile.ZIP_STORED)
            else:
                zout.writestr(info, zin.read(info))
    # Chunks of 512 KiB on two threads: at most a few chunks and their output are alive at once.
    monkeypatch.setattr(writer_module.compression, "CHUNK", 512 * 1024)
    monkeypatch.setattr(writer_module, "MAX_THREADS", 2)
    with WheelArchive.open(src) as source:
        tracemalloc.start()
        try:
            write_wheel(source, tmp_path / NAME, add={"demo/big.dat": big})
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 8 * 1024 * 1024
    with WheelArchive.open(tmp_path / NAME) as result:
        assert result.size("demo/stored.bin") == result.size("demo/big.dat") == 32 * 1024 * 1024
        result.verify_record()


@pytest.mark.parametrize("replaced_as", ["bytes", "deflated ahead"])
def test_members_copied_ahead_and_in_spans_give_the_same_wheel(
    replaced_as: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large unchanged members are copied to their place before the writer reaches them, the rest
    in spans, on a thread of their own, while the entries are written: the output must be the wheel
    written without either, byte for byte, and read back intact with its data still raw."""
    src = tmp_path / "src" / NAME
    src.parent.mkdir()
    contents: dict[str, bytes] = {}
    entries: list[tuple[str | zipfile.ZipInfo, bytes]] = []
    for i in range(24):
        # Incompressible members of 300-700 KiB (above the small-copy cut), stored, between small
        # deflated ones.
        blob = os.urandom((300 + 17 * i) * 1024)
        contents[f"demo/blob{i:02}.bin"] = blob
        entries.append((zipfile.ZipInfo(f"demo/blob{i:02}.bin", DEFAULT_DATE), blob))
        text = f"small {i}\n".encode() * (i + 1)
        contents[f"demo/small{i:02}.txt"] = text
        entries.append((f"demo/small{i:02}.txt", text))
    zip_wheel(src, entries)
    replaced = os.urandom(400 * 1024)

    def write(out_dir: Path) -> Path:
        out_dir.mkdir()
        with WheelArchive.open(src) as source, DeflateAhead() as ahead:
            content = replaced if replaced_as == "bytes" else ahead.deflate(replaced)
            return write_wheel(source, out_dir / NAME, replace={"demo/blob11.bin": content})

    monkeypatch.setattr(writer_module, "_SPAN", 1 << 60)
    plain = write(tmp_path / "plain")
    # Every blob is now "large": those before the replaced member (all of them when it was
    # compressed ahead, whose size the walk waits for) are copied ahead, the rest in spans of two
    # blobs or so. The writer waits for the walk's claims, so which ones is certain.
    monkeypatch.setattr(writer_module, "_SPAN", 256 * 1024)
    placed = record_early_copies(monkeypatch)
    out = write(tmp_path / "ahead")
    assert out.read_bytes() == plain.read_bytes()
    expected = [m for m in contents if m.startswith("demo/blob") and m != "demo/blob11.bin"]
    assert placed == (expected[:11] if replaced_as == "bytes" else expected)
    with zipfile.ZipFile(out) as result:
        assert result.testzip() is None
        for member, data in contents.items():
            assert result.read(member) == (replaced if member == "demo/blob11.bin" else data), member
    for member in contents:
        if member != "demo/blob11.bin":
            assert compressed_bytes(out, member) == compressed_bytes(src, member)
    with WheelArchive.open(out) as written:
        written.verify_record()


def test_a_source_that_ends_early_fails_the_copy_with_its_error(tmp_path: Path) -> None:
    source = tmp_path / "short.bin"
    source.write_bytes(os.urandom(300 * 1024))
    target = tmp_path / "out.bin"
    with open(source, "rb") as src, open(target, "wb") as dst:
        out = writer_module._Output(dst.fileno())
        out.copy(src.fileno(), 0, 600 * 1024, lambda: ValueError("source ends early"))
        with pytest.raises(ValueError, match="source ends early"):
            out.join()


@pytest.mark.slow
def test_large_real_wheel_is_copied_raw(tmp_path: Path) -> None:
    torch = local_torch_wheel()
    if torch is None:
        pytest.skip("no local torch wheel in /opt/wheels")
    with WheelArchive.open(torch) as source:
        largest = max(source.members, key=source.size)
        init = next(m for m in source.members if m.endswith("torch/__init__.py"))
        patched = source.read(init) + b"\n# repaired\n"
        out = write_wheel(source, tmp_path / torch.name, replace={init: patched})
        count = len(source.members)
    with WheelArchive.open(out) as result:
        assert len(result.members) == count
        assert result.read(init) == patched
        result.verify_record([largest])
    assert compressed_bytes(out, largest) == compressed_bytes(torch, largest)


@pytest.mark.network
def test_real_pypi_wheel_rewritten_unchanged_still_installs_and_imports(tmp_path: Path) -> None:
    wheel = fetch_wheel("pyyaml==6.0.2", ["manylinux_2_17_x86_64", "manylinux2014_x86_64"])
    with WheelArchive.open(wheel) as source:
        source.verify_record()
        filename, tags = retag(source.metadata, source.metadata.platform_tags)
        assert filename == wheel.name
        out = write_wheel(source, tmp_path / wheel.name, wheel_tags=tags)
        members = source.members
    with WheelArchive.open(out) as result:
        result.verify_record()
        assert sorted(result.members) == sorted(members)
    if sys.version_info[:2] == (3, 11) and sys.platform == "linux" and os.uname().machine == "x86_64":
        site = tmp_path / "site"
        pip_install(out, site)
        check = subprocess.run(
            [sys.executable, "-c", "import yaml; print(yaml.__with_libyaml__, yaml.safe_load('a: [1, 2]'))"],
            env={**os.environ, "PYTHONPATH": str(site)},
            capture_output=True,
            text=True,
        )
        assert check.stdout.split() == ["True", "{'a':", "[1,", "2]}"], check.stderr


def test_unchanged_members_whose_names_need_quoting_keep_their_record_rows(tmp_path: Path) -> None:
    """Unchanged members' RECORD lines are formatted a run at a time (``writer._record_lines``); a
    run holding a name with a comma or a quote must still come out as the csv module quotes it,
    beside a plain run and a member written anew."""
    entries = [
        ("demo/__init__.py", b"VALUE = 1\n"),
        ('demo/data/a,b "c".txt', b"comma and quotes\n"),
        ("demo/data/plain.txt", b"plain\n"),
        ("demo/zz.py", b"Z = 1\n"),
    ]

    def record(members: list[tuple[str, bytes]]) -> str:
        text = io.StringIO()
        rows = csv.writer(text, lineterminator="\n")
        for name, data in members:
            rows.writerow((name, record_hash(data), len(data)))
        return text.getvalue()

    listed = record([*entries, ("demo-1.0.dist-info/WHEEL", WHEEL_TEXT)]) + "demo-1.0.dist-info/RECORD,,\n"
    src = zip_wheel(tmp_path / NAME, entries, record=listed.encode())
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with WheelArchive.open(src) as source:
        out = write_wheel(source, out_dir / NAME, replace={"demo/zz.py": b"Z = 2\n"})
    with WheelArchive.open(out) as result:
        result.verify_record()
        written = result.read("demo-1.0.dist-info/RECORD").decode()
    assert written.startswith(record([*entries[:3], ("demo/zz.py", b"Z = 2\n")]))
    assert '"demo/data/a,b ""c"".txt",sha256=' in written
