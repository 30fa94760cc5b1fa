"""Plain members (``zipdir.plain_local``): a local header and central record that are exactly what the
writer writes for the member at its own offset with its own date. The writer copies a stretch of
them as one span and one slice of the source's central directory; these tests pin that the flag is
given only where the writer's own encoders give the same bytes, and that the wheel comes out the
same with the shortcut as without it."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.wheel.helpers import ENTRY_DATE, zip_wheel
from wheelrepair.wheel import writer as writer_module
from wheelrepair.wheel.archive import WheelArchive
from wheelrepair.wheel.writer import DeflateAhead

NAME = "demo-1.0-py3-none-any.whl"
DIST = "demo-1.0.dist-info"


def _entry(name: str, method: int = zipfile.ZIP_DEFLATED, **fields: Any) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, ENTRY_DATE)
    info.compress_type = method
    info.external_attr = 0o644 << 16
    for field, value in fields.items():
        setattr(info, field, value)
    return info


#: Members zipfile writes plainly, and members it writes in a way the writer does not.
PLAIN = {
    "demo/a.py": _entry("demo/a.py"),
    "demo/stored.bin": _entry("demo/stored.bin", zipfile.ZIP_STORED),
    "demo/b.py": _entry("demo/b.py"),
}
NOT_PLAIN = {
    "demo/extra.bin": _entry("demo/extra.bin", extra=b"\xfe\xca\x04\x00abcd"),
    "demo/comment.txt": _entry("demo/comment.txt", comment=b"a member comment"),
    "demo/made-by-45.py": _entry("demo/made-by-45.py", create_version=45),
    "demo/needs-45.py": _entry("demo/needs-45.py", extract_version=45),
    "demo/ünïcode.py": _entry("demo/ünïcode.py"),
}


def _members(order: list[str]) -> list[tuple[zipfile.ZipInfo | str, bytes]]:
    every = {**PLAIN, **NOT_PLAIN}
    return [(every[name], f"{name}\n".encode() * 300) for name in order]


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    order = ["demo/a.py", *NOT_PLAIN, "demo/stored.bin", "demo/b.py"]
    return zip_wheel(tmp_path / "src" / NAME, _members(order))


def _plainness(path: Path) -> dict[str, bool]:
    with WheelArchive.open(path) as archive:
        return {info.filename: info.plain for info in archive.raw_entries(archive.members)}


def _writer_bytes(archive: WheelArchive, member: str) -> tuple[bytes, bytes]:
    """The local header and central record the writer's own encoders give ``member`` at its offset."""
    info = archive.zipinfo(member)
    args = (info.raw_name, info.flag_bits & 0x6, info.compress_type, info.dos_time, info.dos_date, info.CRC)
    local = writer_module._local_bytes(*args, info.compress_size, info.file_size, False)
    record = writer_module._central_record(
        *args, info.compress_size, info.file_size, info.header_offset,
        info.create_system, info.internal_attr, info.external_attr,
    )  # fmt: skip
    return local, record


def test_plain_is_what_the_writer_writes_and_nothing_else(wheel: Path) -> None:
    plain = _plainness(wheel)
    assert {m for m, p in plain.items() if p} == {*PLAIN, f"{DIST}/WHEEL", f"{DIST}/RECORD"}
    with WheelArchive.open(wheel) as archive:
        directory = archive.central_directory
        for info in archive.raw_entries(archive.members):
            local, record = _writer_bytes(archive, info.filename)
            at = info.record_at
            same = info.local == local and directory[at : at + len(record)] == record
            assert same == info.plain, info.filename


def test_data_before_the_zip_or_a_data_descriptor_is_not_plain(tmp_path: Path) -> None:
    """With a stub before the zip, stored offsets are not the file's; with a data descriptor (as
    zipfile writes to a stream it cannot seek), the local header has no sizes."""
    (tmp_path / "src").mkdir()
    wheel = zip_wheel(tmp_path / "src" / NAME, _members(list(PLAIN)))
    stubbed = tmp_path / "stub" / NAME
    stubbed.parent.mkdir()
    stubbed.write_bytes(b"#!stub\n" + wheel.read_bytes())
    assert not any(_plainness(stubbed).values())

    class Unseekable(io.RawIOBase):
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, chunk: Any) -> int:
            self.data += bytes(chunk)
            return len(chunk)

    stream = Unseekable()
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(stream, "w") as zf:
        for info in source.infolist():
            zf.writestr(info, source.read(info))
    streamed = tmp_path / "streamed" / NAME
    streamed.parent.mkdir()
    streamed.write_bytes(bytes(stream.data))
    with zipfile.ZipFile(streamed) as zf:
        assert all(info.flag_bits & 0x8 for info in zf.infolist())
    assert not any(_plainness(streamed).values())


def _write(source: Path, dest: Path, replace: dict[str, bytes]) -> bytes:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with WheelArchive.open(source) as archive, DeflateAhead() as pool:
        archive.local_headers(archive.members)  # as a scan's workers read them
        contents = {m: pool.deflate(data) for m, data in replace.items()}
        writer_module.write_wheel(archive, dest, replace=contents)
    return dest.read_bytes()


@pytest.mark.parametrize("replaced", [None, "demo/a.py", "demo/b.py"])
def test_the_wheel_is_the_same_with_the_plain_shortcut_as_without(
    replaced: str | None, wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing replaced (only WHEEL and RECORD move), the first member replaced (padded smaller, or
    larger: the rest moves and is written the long way), or one near the end."""
    replace = {replaced: b"new content\n" * 50} if replaced else {}
    copied_one: list[str] = []
    real = writer_module._RawCopier._copy_one

    def counting(self: Any, info: Any, position: int) -> bytes:
        copied_one.append(info.filename)
        return bytes(real(self, info, position))

    monkeypatch.setattr(writer_module._RawCopier, "_copy_one", counting)
    shortcut = _write(wheel, tmp_path / "shortcut" / NAME, replace)
    taken = list(copied_one)
    monkeypatch.setattr(writer_module._RawCopier, "add_run", _without_shortcut)
    copied_one.clear()
    longhand = _write(wheel, tmp_path / "longhand" / NAME, replace)
    assert shortcut == longhand
    with zipfile.ZipFile(io.BytesIO(shortcut)) as zf:
        assert zf.testzip() is None
        assert len(zf.infolist()) == len(_plainness(wheel))
    if replaced is None:
        # The first member keeps its offset and goes the short way; those after the extra field the
        # writer drops move up, and go the long way.
        assert "demo/a.py" not in taken and {"demo/stored.bin", "demo/b.py"} <= set(taken)
    assert set(copied_one) >= set(PLAIN) - {replaced}


def _without_shortcut(self: Any, members: Any) -> list[bytes]:
    """``add_run`` as it was before plain stretches: every member the long way."""
    records = []
    for info in self._source.raw_entries(members):
        records.append(self._copy_one(info, self._out.pos + (self._end - self._start)))
    return records


def test_a_real_wheel_is_plain_throughout() -> None:
    """A wheel written through zipfile (``wheel``, setuptools) is plain member for member: torch's
    12,248 are all copied in stretches when they keep their offsets."""
    from tests.fixtures.pypi import local_torch_wheel

    torch = local_torch_wheel()
    if torch is None:
        pytest.skip("no local torch wheel in /opt/wheels")
    plain = _plainness(torch)
    assert all(plain.values())
    assert len(plain) > 12_000
