"""Our central directory reader against Python's zipfile, its compatibility reference: zips zipfile
writes in every shape a wheel can take (data before the zip, an archive comment, ZIP64 end records and
extra fields, cp437 and UTF-8 names, wrong entry counts) read to the same entries, and on mutated zips
whatever zipfile refuses at open we refuse too, with zipfile's own message for a broken structure."""

from __future__ import annotations

import os
import struct
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.mutate import Mutation, apply_all
from tests.fuzz.strategies import mutations, zip_mutations
from tests.wheel.helpers import zip_wheel
from wheelrepair.errors import InvalidWheel
from wheelrepair.wheel.archive import WheelArchive
from wheelrepair.wheel.metadata import MetadataError
from wheelrepair.wheel.zipdir import MemberInfo, read_directory

NAME = "demo-1.0-py3-none-any.whl"
ENTRIES = [
    ("demo/", b""),
    ("demo/__init__.py", b"VALUE = 1\n" * 20),
    ("demo/empty.txt", b""),
    ("demo/data/table.txt", b"row,value\n" * 300),
]
FIELDS = ("CRC", "compress_size", "file_size", "header_offset", "flag_bits", "compress_type",
          "external_attr", "internal_attr", "create_system", "date_time")  # fmt: skip


def _fields(info: zipfile.ZipInfo | MemberInfo) -> tuple[object, ...]:
    return (info.orig_filename, *(getattr(info, name) for name in FIELDS))


def _zipfile_entries(path: Path) -> list[tuple[object, ...]]:
    with zipfile.ZipFile(path) as zf:
        return [_fields(info) for info in zf.infolist() if not info.orig_filename.endswith("/")]


def _ours(path: Path) -> dict[str, MemberInfo]:
    with open(path, "rb") as fp:
        return read_directory(fp.fileno(), os.fstat(fp.fileno()).st_size)


@pytest.fixture
def zip64_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """zipfile writes ZIP64 extra fields for the sizes and offsets over 100 bytes, and ZIP64 end records."""
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 100)
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)


def _plain(tmp: Path) -> Path:
    return zip_wheel(tmp / NAME, ENTRIES)


def _prepended(tmp: Path) -> Path:
    """A stub before the zip (as self-extracting archives have): zipfile shifts every offset."""
    path = _plain(tmp)
    path.write_bytes(b"#!/bin/sh\nexit 0\n" * 50 + path.read_bytes())
    return path


def _commented(tmp: Path) -> Path:
    path = tmp / NAME
    zip_wheel(path, ENTRIES)
    with zipfile.ZipFile(path, "a") as zf:
        zf.comment = b"a comment holding PK\x05 but no full signature" * 100
    return path


def _wrong_counts(tmp: Path) -> Path:
    """An end record whose entry counts are wrong: zipfile never reads them, nor do we."""
    path = _plain(tmp)
    data = bytearray(path.read_bytes())
    end = data.rindex(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 1, 60000)
    path.write_bytes(bytes(data))
    return path


def _names(tmp: Path) -> Path:
    """A UTF-8 name (zipfile sets flag bit 11) and one whose flag is cleared: zipfile reads its
    bytes as cp437."""
    path = zip_wheel(tmp / NAME, [*ENTRIES, ("demo/caf\u00e9.py", b"x = 1\n"), ("demo/\u00fcber.py", b"y = 2\n")])
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        central = data.index(b"PK\x01\x02", zf.start_dir)
    while data[central + 46 :].startswith("demo/\u00fcber.py".encode()) is False:
        central = data.index(b"PK\x01\x02", central + 4)
    data[central + 9] &= ~0x08  # flag bit 11 is bit 3 of the flags' high byte
    path.write_bytes(bytes(data))
    return path


def _zip64(tmp: Path) -> Path:
    return zip_wheel(tmp / NAME, ENTRIES)


SHAPES: dict[str, Callable[[Path], Path]] = {
    "plain": _plain,
    "data before the zip": _prepended,
    "archive comment": _commented,
    "wrong entry counts": _wrong_counts,
    "utf-8 and cp437 names": _names,
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_entries_are_read_as_zipfile_reads_them(shape: str, tmp_path: Path) -> None:
    path = SHAPES[shape](tmp_path)
    expected = _zipfile_entries(path)
    assert [_fields(info) for info in _ours(path).values()] == expected
    if shape == "utf-8 and cp437 names":
        names = {entry[0] for entry in expected}
        assert "demo/caf\u00e9.py" in names
        assert "demo/\u00fcber.py".encode().decode("cp437") in names


@pytest.mark.parametrize("shape", ["plain", "data before the zip", "archive comment", "wrong entry counts"])
def test_such_wheels_open_and_read(shape: str, tmp_path: Path) -> None:
    path = SHAPES[shape](tmp_path)
    with WheelArchive.open(path) as wheel:
        assert wheel.read("demo/data/table.txt") == b"row,value\n" * 300
        wheel.verify_record()


def test_zip64_records_and_extra_fields_are_read(zip64_everywhere: None, tmp_path: Path) -> None:
    path = _zip64(tmp_path)
    data = path.read_bytes()
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data  # zipfile wrote ZIP64 end records
    expected = _zipfile_entries(path)
    assert [_fields(info) for info in _ours(path).values()] == expected
    with WheelArchive.open(path) as wheel:
        wheel.verify_record()


def _refusal(call: Callable[[], object]) -> BaseException | None:
    try:
        call()
    except Exception as err:  # noqa: BLE001 - which exception it is, is what the test compares
        return err
    return None


def _compare(path: Path) -> None:
    """The property: zipfile refuses at open => we refuse; a structure we call broken zipfile calls
    broken in the same words; what both accept reads to the same entries."""
    reference = _refusal(lambda: _zipfile_entries(path))
    ours: dict[str, MemberInfo] = {}

    def read() -> None:
        ours.update(_ours(path))

    problem = _refusal(read)
    if problem is not None:
        assert isinstance(problem, (MetadataError, zipfile.BadZipFile, UnicodeDecodeError)), repr(problem)
        if not isinstance(problem, MetadataError):
            # zipfile raises OverflowError instead where an offset exceeds what a seek takes.
            assert reference is not None
            if isinstance(reference, zipfile.BadZipFile):
                assert (type(problem), str(problem)) == (type(reference), str(reference))
        opened = _refusal(lambda: WheelArchive.open(path).close())
        assert isinstance(opened, InvalidWheel) and "\n" not in str(opened), repr(opened)
        return
    assert reference is None, f"zipfile refuses what we accept: {reference!r}"
    assert [_fields(info) for info in ours.values()] == _zipfile_entries(path)


PROPS = settings(
    derandomize=True,
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "mutated").mkdir()
    yield tmp_path / "mutated" / NAME


@PROPS
@given(data=st.data())
def test_mutated_zip_fields_are_judged_as_zipfile_judges_them(
    data: st.DataObject, tmp_path: Path, scratch: Path
) -> None:
    good = SHAPES[data.draw(st.sampled_from(sorted(SHAPES)))](tmp_path).read_bytes()
    changes: tuple[Mutation, ...] = data.draw(zip_mutations(good))
    scratch.write_bytes(apply_all(good, changes))
    _compare(scratch)


@PROPS
@given(data=st.data())
def test_mutated_zip64_directories_are_judged_as_zipfile_judges_them(
    zip64_everywhere: None, data: st.DataObject, tmp_path: Path, scratch: Path
) -> None:
    good = _zip64(tmp_path).read_bytes()
    with zipfile.ZipFile(tmp_path / NAME) as zf:
        directory = zf.start_dir
    changes: tuple[Mutation, ...] = data.draw(mutations(good, ((directory, len(good) - directory),)))
    scratch.write_bytes(apply_all(good, changes))
    _compare(scratch)
