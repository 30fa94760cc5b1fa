"""The output written over a prefill (a copy of the input made while the wheel is analysed) and the
padding that keeps members after a replaced one at their old offsets: the bytes must be exactly
those of the output written without a prefill, and strict zip readers must take them."""

from __future__ import annotations

import errno
import mmap
import os
import struct
import subprocess
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.venv import fresh_venv, uv_install
from tests.wheel.helpers import WHEEL_TEXT, record_early_copies, record_line_hash
from wheelrepair.wheel import prefill as prefill_module
from wheelrepair.wheel import writer as writer_module
from wheelrepair.wheel.archive import WheelArchive
from wheelrepair.wheel.prefill import Prefill
from wheelrepair.wheel.writer import DEFAULT_DATE, DeflateAhead, write_wheel

NAME = "demo-1.0-py3-none-any.whl"
TABLE = "demo/table.txt"


def _table() -> bytes:
    """Text that zlib level 1 leaves a few KiB larger than level 6 does."""
    return b"".join(f"{i:06d} {i * 7919 % 10007:05d} {'abcdefgh'[i % 8] * (i % 13)}\n".encode() for i in range(6000))


def _source(path: Path) -> dict[str, bytes]:
    """A wheel of stored random blobs (above the writer's small-copy cut) around a table deflated
    at level 1, as a fast build backend might write it."""
    contents: dict[str, bytes] = {}
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(8):
            blob = os.urandom((300 + 41 * i) * 1024)
            contents[f"demo/blob{i}.bin"] = blob
            zf.writestr(zipfile.ZipInfo(f"demo/blob{i}.bin", DEFAULT_DATE), blob)
            if i == 3:
                contents[TABLE] = _table()
                info = zipfile.ZipInfo(TABLE, DEFAULT_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, contents[TABLE], compresslevel=1)
        contents["demo-1.0.dist-info/METADATA"] = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"
        contents["demo-1.0.dist-info/WHEEL"] = WHEEL_TEXT
        for member in ("demo-1.0.dist-info/METADATA", "demo-1.0.dist-info/WHEEL"):
            zf.writestr(member, contents[member])
        record = "".join(f"{m},{record_line_hash(d)},{len(d)}\n" for m, d in contents.items())
        zf.writestr("demo-1.0.dist-info/RECORD", record + "demo-1.0.dist-info/RECORD,,\n")
    return contents


def _offsets(wheel: Path) -> dict[str, int]:
    with zipfile.ZipFile(wheel) as zf:
        return {info.filename: info.header_offset for info in zf.infolist()}


def _local_extra(wheel: Path, member: str) -> bytes:
    data = wheel.read_bytes()
    offset = _offsets(wheel)[member]
    name_len, extra_len = struct.unpack_from("<HH", data, offset + 26)
    return data[offset + 30 + name_len : offset + 30 + name_len + extra_len]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "src" / NAME
    path.parent.mkdir()
    _source(path)
    return path


def _write(source: Path, out_dir: Path, replaced: bytes, *, prefilled: bool, ahead: bool = True) -> Path:
    out_dir.mkdir()
    with WheelArchive.open(source) as archive, DeflateAhead() as pool:
        content = pool.deflate(replaced) if ahead else replaced
        prefill = None
        if prefilled:
            prefill = Prefill.start(archive.fileno(), archive.identity[2], out_dir)
            assert prefill is not None
            prefill.stopped.wait()
        return write_wheel(archive, out_dir / NAME, replace={TABLE: content}, prefill=prefill)


def _copied(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The lengths the writer copies from the source from now on (what the prefill did not hold)."""
    lengths: list[int] = []
    copy, copy_at = writer_module._Output.copy, writer_module._Output.copy_at

    def counting(self: writer_module._Output, src_fd: int, offset: int, length: int, short: Any) -> None:
        lengths.append(length - self._already_there(offset, self.pos, length))
        copy(self, src_fd, offset, length, short)

    def counting_at(self: writer_module._Output, src_fd: int, offset: int, dest: int, length: int, short: Any) -> None:
        lengths.append(length - self._already_there(offset, dest, length))
        copy_at(self, src_fd, offset, dest, length, short)

    monkeypatch.setattr(writer_module._Output, "copy", counting)
    monkeypatch.setattr(writer_module._Output, "copy_at", counting_at)
    return lengths


def test_a_smaller_replacement_is_padded_and_nothing_after_it_moves(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prefill_module, "MIN_SIZE", 0)
    plain = _write(source, tmp_path / "plain", _table(), prefilled=False)
    copied = _copied(monkeypatch)
    out = _write(source, tmp_path / "prefilled", _table(), prefilled=True)
    assert out.read_bytes() == plain.read_bytes()
    assert sorted(p.name for p in out.parent.iterdir()) == [NAME]  # the prefill became the output
    assert copied and sum(copied) == 0  # every unchanged member was in place already

    before, after = _offsets(source), _offsets(out)
    kept = [m for m in before if m.startswith("demo/")]
    assert [after[m] for m in kept] == [before[m] for m in kept]
    with zipfile.ZipFile(source) as zf:
        old = zf.getinfo(TABLE).compress_size
    with zipfile.ZipFile(out) as zf:
        new = zf.getinfo(TABLE).compress_size
        assert zf.testzip() is None
        assert zf.read(TABLE) == _table()
    # The slack is what the recompression saved: an extra field of exactly that length, which
    # Android's zipalign also pads with (header ID 0xD935, then an alignment of 1 and zeros).
    padding = _local_extra(out, TABLE)
    assert 6 <= old - new == len(padding) <= 0xFFFF
    assert struct.unpack_from("<HHH", padding) == (0xD935, len(padding) - 4, 1)
    assert padding[6:] == bytes(len(padding) - 6)
    assert _local_extra(source, TABLE) == b""
    unzip = subprocess.run(["unzip", "-tq", str(out)], capture_output=True, text=True)
    assert unzip.returncode == 0, unzip.stdout + unzip.stderr
    with WheelArchive.open(out) as written:
        written.verify_record()


def test_uv_installs_a_wheel_with_a_padded_member(source: Path, tmp_path: Path) -> None:
    """uv reads zips strictly (local headers against the central directory)."""
    out = _write(source, tmp_path / "out", _table(), prefilled=False)
    assert _local_extra(out, TABLE)
    python = fresh_venv(tmp_path / "venv")
    uv_install(python, out)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert (Path(site) / TABLE).read_bytes() == _table()


@pytest.mark.parametrize("replacement", ["larger", "not compressed ahead"])
def test_a_member_that_cannot_be_padded_moves_the_rest_and_the_prefill_still_gives_the_same_wheel(
    replacement: str, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prefill_module, "MIN_SIZE", 0)
    data = os.urandom(len(_table())) if replacement == "larger" else _table()
    ahead = replacement == "larger"
    plain = _write(source, tmp_path / "plain", data, prefilled=False, ahead=ahead)
    copied = _copied(monkeypatch)
    out = _write(source, tmp_path / "prefilled", data, prefilled=True, ahead=ahead)
    assert out.read_bytes() == plain.read_bytes()
    assert _local_extra(out, TABLE) == b""
    before, after = _offsets(source), _offsets(out)
    assert after["demo/blob0.bin"] == before["demo/blob0.bin"]
    assert after["demo/blob4.bin"] != before["demo/blob4.bin"]
    # The members before the replaced one were in place; those after it had to be copied.
    assert sum(copied) >= sum(len(_source_member(source, f"demo/blob{i}.bin")) for i in range(4, 8))


def _source_member(wheel: Path, member: str) -> bytes:
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(member)


@pytest.fixture(params=["direct", "kernel"])
def copy_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How the prefill copies: through a buffer to an ``O_DIRECT`` descriptor, or by kernel copy
    (what it falls back to where the file system has no direct I/O)."""
    if request.param == "kernel":
        monkeypatch.setattr(prefill_module._DirectWriter, "open", classmethod(lambda cls, path: None))
    return str(request.param)


def _on_prefill_thread(monkeypatch: pytest.MonkeyPatch, name: str, replacement: Any) -> list[int]:
    """Replace ``os.<name>`` for the prefill's thread only (the writer's own calls go through);
    ``replacement(real, calls, *args)`` decides. Returns the list of the thread's calls."""
    real = getattr(os, name)
    calls: list[int] = []

    def patched(*args: Any) -> Any:
        if threading.current_thread().name != "wheelrepair-prefill":
            return real(*args)
        calls.append(len(calls))
        return replacement(real, calls, *args)

    monkeypatch.setattr(prefill_module.os, name, patched)
    return calls


def _direct_io_here(directory: Path) -> bool:
    probe = directory / "direct-probe"
    probe.touch()
    try:
        os.close(os.open(probe, os.O_WRONLY | getattr(os, "O_DIRECT", 0)))
    except OSError:
        return False
    finally:
        probe.unlink()
    return hasattr(os, "O_DIRECT")


def _prefilled_bytes(source: Path, directory: Path) -> bytes:
    """What a prefill in ``directory`` holds once done: the leading bytes it says are the input's."""
    with WheelArchive.open(source) as archive:
        prefill = Prefill.start(archive.fileno(), archive.identity[2], directory)
        assert prefill is not None
        prefill.stopped.wait()
        fd, copied = prefill.take()
    assert fd >= 0
    try:
        return os.pread(fd, copied + 1, 0)
    finally:
        os.close(fd)


def test_the_prefill_holds_the_input_bytes_for_bytes(
    copy_mode: str, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several steps and a last partial block (the wheel is no multiple of the direct block size);
    ``+ 1`` in the read shows nothing stands past the input's end."""
    monkeypatch.setattr(prefill_module, "MIN_SIZE", 0)
    monkeypatch.setattr(prefill_module, "_STEP", 256 * 1024)
    assert source.stat().st_size % prefill_module._ALIGN
    kernel = _on_prefill_thread(monkeypatch, "copy_file_range", lambda real, calls, *a: real(*a))
    out = tmp_path / "out"
    out.mkdir()
    assert _prefilled_bytes(source, out) == source.read_bytes()
    assert bool(kernel) == (copy_mode == "kernel")


def test_the_prefill_copies_direct_where_the_file_system_allows(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No kernel copy, so no page cache to fill (see ``prefill``'s docstring), and no read into a
    buffer either: each step is one direct write of whole blocks from a mapping of the input, the
    last partial block aside."""
    if not _direct_io_here(tmp_path):
        pytest.skip("this file system has no direct I/O")
    monkeypatch.setattr(prefill_module, "MIN_SIZE", 0)
    monkeypatch.setattr(prefill_module, "_STEP", 256 * 1024)
    kernel = _on_prefill_thread(monkeypatch, "copy_file_range", lambda real, calls, *a: real(*a))
    reads = _on_prefill_thread(monkeypatch, "preadv", lambda real, calls, *a: real(*a))
    mapped: list[bool] = []

    def from_mapping(real: Any, calls: list[int], fd: int, buffers: list[memoryview], offset: int) -> int:
        mapped.append(all(isinstance(b.obj, mmap.mmap) for b in buffers))
        return int(real(fd, buffers, offset))

    _on_prefill_thread(monkeypatch, "pwritev", from_mapping)
    out = tmp_path / "out"
    out.mkdir()
    assert _prefilled_bytes(source, out) == source.read_bytes()
    steps = -(-source.stat().st_size // (256 * 1024))
    assert (len(kernel), len(reads), mapped) == (0, 0, [True] * steps)


@pytest.mark.parametrize("fault", [errno.EFAULT, errno.EINVAL])
def test_a_direct_copy_that_cannot_go_on_is_finished_by_kernel_copies(
    fault: int, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A direct write that finds the mapping gone (EFAULT: the step is read through the page cache
    instead) or a device that refuses a direct write (EINVAL): the rest is copied the kernel's
    way, to the same bytes."""
    if not _direct_io_here(tmp_path):
        pytest.skip("this file system has no direct I/O")
    monkeypatch.setattr(prefill_module, "MIN_SIZE", 0)
    monkeypatch.setattr(prefill_module, "_STEP", 256 * 1024)

    def fails_second(real: Any, calls: list[int], *args: Any) -> int:
        if len(calls) == 2:
            raise OSError(fault, os.strerror(fault))
        return int(real(*args))

    _on_prefill_thread(monkeypatch, "pwritev", fails_second)
    kernel = _on_prefill_thread(monkeypatch, "copy_file_range", lambda real, calls, *a: real(*a))
    out = tmp_path / "out"
    out.mkdir()
    assert _prefilled_bytes(source, out) == source.read_bytes()
    assert kernel


def test_a_direct_copy_stops_where_an_input_that_shrank_ends(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The input is shorter than when it was validated (the writer finds that out on its own): the
    window past its end cannot be mapped, so the copy reads what is left and stops there."""
    if not _direct_io_here(tmp_path):
        pytest.skip("this file system has no direct I/O")
    monkeypatch.setattr(prefill_module, "MIN_SIZE", 0)
    monkeypatch.setattr(prefill_module, "_STEP", 256 * 1024)
    size = source.stat().st_size
    out = tmp_path / "out"
    out.mkdir()
    with WheelArchive.open(source) as archive:
        prefill = Prefill.start(archive.fileno(), size + 3 * 256 * 1024, out)
        assert prefill is not None
        prefill.stopped.wait()
        fd, copied = prefill.take()
    assert fd >= 0
    try:
        assert copied == size
        assert os.pread(fd, size + 1, 0) == source.read_bytes()
    finally:
        os.close(fd)


def test_a_prefill_that_stopped_early_is_completed_by_the_writer(
    copy_mode: str, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy stops where the input ended (it shrank) or where it was told to: the writer must
    write everything past that point, whatever the layout."""
    monkeypatch.setattr(prefill_module, "MIN_SIZE", 0)
    monkeypatch.setattr(prefill_module, "_STEP", 256 * 1024)
    plain = _write(source, tmp_path / "plain", _table(), prefilled=False)

    def ends_after_three(real: Any, calls: list[int], *args: Any) -> int:
        return 0 if len(calls) > 3 else int(real(*args))

    calls = _on_prefill_thread(monkeypatch, "pwritev" if copy_mode == "direct" else "copy_file_range", ends_after_three)
    copied = _copied(monkeypatch)
    out = _write(source, tmp_path / "prefilled", _table(), prefilled=True)
    monkeypatch.undo()
    assert len(calls) == 4
    assert out.read_bytes() == plain.read_bytes()
    assert 0 < sum(copied) <= source.stat().st_size - 3 * 256 * 1024


def test_a_failed_prefill_leaves_no_file_and_the_writer_starts_afresh(
    copy_mode: str, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prefill_module, "MIN_SIZE", 0)
    plain = _write(source, tmp_path / "plain", _table(), prefilled=False)

    def refuses(real: Any, calls: list[int], *args: Any) -> int:
        raise OSError(28, "No space left on device") if copy_mode == "direct" else OSError(18, "Invalid cross-device link")

    _on_prefill_thread(monkeypatch, "pwritev" if copy_mode == "direct" else "copy_file_range", refuses)
    out_dir = tmp_path / "failed"
    out = _write(source, out_dir, _table(), prefilled=True)
    assert out.read_bytes() == plain.read_bytes()
    assert sorted(p.name for p in out_dir.iterdir()) == [NAME]


def test_a_discarded_prefill_removes_its_file(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prefill_module, "MIN_SIZE", 0)
    with WheelArchive.open(source) as archive:
        prefill = Prefill.start(archive.fileno(), archive.identity[2], tmp_path)
        assert prefill is not None
        prefill.discard()
        prefill.discard()
    assert list(tmp_path.iterdir()) == [source.parent]


def test_small_and_huge_wheels_are_not_prefilled(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with WheelArchive.open(source) as archive:
        size = archive.identity[2]
        assert size < prefill_module.MIN_SIZE
        assert Prefill.start(archive.fileno(), size, tmp_path) is None
        monkeypatch.setattr(prefill_module, "MIN_SIZE", 0)
        monkeypatch.setattr(prefill_module, "MAX_SIZE", size - 1)
        assert Prefill.start(archive.fileno(), size, tmp_path) is None
    assert list(tmp_path.iterdir()) == [source.parent]


def test_over_a_prefill_the_early_copies_start_where_the_output_first_moves(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large members still at their input offset are in place already; once the output moves (a
    replacement that did not fit), the large members after that point are copied ahead."""
    monkeypatch.setattr(prefill_module, "MIN_SIZE", 0)
    larger = os.urandom(len(_table()))
    plain = _write(source, tmp_path / "plain", larger, prefilled=False)
    monkeypatch.setattr(writer_module, "_SPAN", 256 * 1024)  # every blob is "large"
    placed = record_early_copies(monkeypatch)
    copied = _copied(monkeypatch)
    out = _write(source, tmp_path / "prefilled", larger, prefilled=True)
    assert out.read_bytes() == plain.read_bytes()
    # blob0-3 were in place; blob4 is where the writer found the output had moved: it copied that
    # one itself while the walk claimed the rest.
    assert placed == ["demo/blob5.bin", "demo/blob6.bin", "demo/blob7.bin"]
    assert sum(copied) >= sum(len(_source_member(source, f"demo/blob{i}.bin")) for i in range(4, 8))
