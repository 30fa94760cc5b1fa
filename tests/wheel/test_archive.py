"""Opening wheels: well-formed ones read lazily and verified, hostile and broken ones refused in one line."""

from __future__ import annotations

import re
import shutil
import stat
import warnings
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.wheel.helpers import WHEEL_TEXT, zip_wheel
from wheelrepair.errors import InvalidWheel
from wheelrepair.wheel import zipdir
from wheelrepair.wheel.archive import WheelArchive

GOOD = [("demo/__init__.py", b"print('hi')\n")]
NAME = "demo-1.0-py3-none-any.whl"


def test_members_sizes_and_contents(demo_wheel: Path, payload: dict[str, bytes]) -> None:
    with WheelArchive.open(demo_wheel) as wheel:
        with zipfile.ZipFile(demo_wheel) as zf:
            assert wheel.members == tuple(zf.namelist())
        for member, data in payload.items():
            assert wheel.size(member) == len(data)
            assert wheel.head(member, 10) == data[:10]
            assert wheel.read(member) == data
            with wheel.open_member(member) as stream:
                assert stream.read() == data
        assert wheel.record()[f"{wheel.metadata.dist_info}/RECORD"] == (None, None)
        assert wheel.record()["demo/__init__.py"][1] == len(payload["demo/__init__.py"])
        wheel.verify_record()


def test_head_of_a_short_member_is_the_whole_member(demo_wheel: Path) -> None:
    with WheelArchive.open(demo_wheel) as wheel:
        assert wheel.head("demo/__init__.py", 1000) == b"VALUE = 42\n"


def test_extract_streams_a_member_to_disk(
    demo_wheel: Path, payload: dict[str, bytes], tmp_path: Path
) -> None:
    with WheelArchive.open(demo_wheel) as wheel:
        wheel.extract("demo/data/noise.bin", tmp_path / "noise.bin")
    assert (tmp_path / "noise.bin").read_bytes() == payload["demo/data/noise.bin"]


def test_unknown_member_is_a_key_error(demo_wheel: Path) -> None:
    with WheelArchive.open(demo_wheel) as wheel, pytest.raises(KeyError, match="nope"):
        wheel.read("nope")


def test_directory_entries_are_not_members(tmp_path: Path) -> None:
    path = zip_wheel(tmp_path / NAME, [("demo/", b""), *GOOD])
    with WheelArchive.open(path) as wheel:
        assert "demo/" not in wheel.members
        assert "demo/__init__.py" in wheel.members


def _symlink() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("demo/link.py")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _fifo() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("demo/pipe")
    info.external_attr = (stat.S_IFIFO | 0o644) << 16
    return info


def _encrypted(tmp: Path) -> Path:
    """zipfile cannot encrypt: set the 'encrypted' flag of one entry in both of its headers."""
    path = zip_wheel(tmp / NAME, [*GOOD, ("demo/secret.py", b"x")])
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        local = zf.getinfo("demo/secret.py").header_offset
        central = data.index(b"PK\x01\x02", zf.start_dir)
        while data[central + 46 : central + 46 + 14] != b"demo/secret.py":
            central = data.index(b"PK\x01\x02", central + 4)
    data[local + 6] |= 0x1
    data[central + 8] |= 0x1
    path.write_bytes(bytes(data))
    return path


def _bomb(tmp: Path) -> Path:
    return zip_wheel(tmp / NAME, [*GOOD, ("demo/zeros.bin", bytes(20 * 1024 * 1024))])


def _hostile(
    entries: Sequence[tuple[zipfile.ZipInfo | str, bytes]], **kwargs: object
) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        return zip_wheel(tmp / NAME, entries, **kwargs)  # type: ignore[arg-type]

    return build


def _not_a_zip(tmp: Path) -> Path:
    path = tmp / NAME
    path.write_text("this is not a zip file\n" * 100)
    return path


def _truncated(tmp: Path) -> Path:
    whole = zip_wheel(tmp / "whole.whl.zip", GOOD)
    path = tmp / NAME
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return path


def _truncated_tail(tmp: Path) -> Path:
    """The central directory survives but the data it points to is gone (cut out of the middle)."""
    whole = zip_wheel(tmp / "whole.whl.zip", [*GOOD, ("demo/big.bin", bytes(range(256)) * 400)])
    with zipfile.ZipFile(whole) as zf:
        cut = zf.getinfo("demo/big.bin").header_offset + 100
        start = zf.start_dir
    data = whole.read_bytes()
    path = tmp / NAME
    # Drop the member data but keep the directory: offsets then point past the end.
    path.write_bytes(data[:cut] + data[start:])
    return path


def _duplicate(tmp: Path) -> Path:
    path = tmp / NAME
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate we create on purpose
        zip_wheel(path, [*GOOD, ("demo/__init__.py", b"evil = True\n")])
    return path


def _bad_filename(tmp: Path) -> Path:
    good = zip_wheel(tmp / NAME, GOOD)
    return Path(shutil.copy(good, tmp / "demo.whl"))


HOSTILE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "not a zip": (_not_a_zip, "not a valid zip file"),
    "truncated": (_truncated, "not a valid zip file"),
    "truncated data": (_truncated_tail, "malformed zip"),
    "bad filename": (_bad_filename, "not a valid wheel filename"),
    "zip-slip": (_hostile([*GOOD, ("../evil.py", b"x")]), "zip-slip"),
    "nested zip-slip": (_hostile([*GOOD, ("demo/../../evil.py", b"x")]), "zip-slip"),
    "absolute": (_hostile([*GOOD, ("/etc/evil.py", b"x")]), "absolute path"),
    "drive letter": (_hostile([*GOOD, ("C:/evil.py", b"x")]), "absolute path"),
    "backslash": (_hostile([*GOOD, ("demo\\..\\..\\evil.py", b"x")]), "backslash"),
    "dot segment": (_hostile([*GOOD, ("demo/./x.py", b"x")]), "not a normalized path"),
    "file and directory": (_hostile([*GOOD, ("demo", b"x")]), "both a file and a directory"),
    "symlink": (_hostile([*GOOD, (_symlink(), b"/etc/passwd")]), "symbolic link"),
    "fifo": (_hostile([*GOOD, (_fifo(), b"")]), "special file"),
    "encrypted": (_encrypted, "encrypted"),
    "duplicate": (_duplicate, "appears more than once"),
    "zip bomb": (_bomb, "zip bomb"),
    "no dist-info": (_hostile(GOOD, dist_info="demo-1.0.info"), "no .dist-info directory"),
    "two dist-infos": (
        _hostile([*GOOD, ("other-2.0.dist-info/METADATA", b"Name: other\n")]),
        "more than one .dist-info directory",
    ),
    "foreign dist-info": (_hostile(GOOD, dist_info="other-1.0.dist-info"), "does not belong to distribution"),
    "no WHEEL": (_hostile(GOOD, wheel=None), "no demo-1.0.dist-info/WHEEL"),
    "WHEEL v2": (
        _hostile(GOOD, wheel=b"Wheel-Version: 2.0\nTag: py3-none-any\n"),
        "unsupported Wheel-Version",
    ),
    "WHEEL without tag": (_hostile(GOOD, wheel=b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"), "no Tag"),
    "member not in RECORD": (
        _hostile(GOOD, record=b"demo-1.0.dist-info/WHEEL,sha256=x,\ndemo-1.0.dist-info/RECORD,,\n"),
        "'demo/__init__.py' is not listed in RECORD",
    ),
    "RECORD size mismatch": (
        _hostile(
            GOOD,
            record=b"demo/__init__.py,sha256=x,999\ndemo-1.0.dist-info/WHEEL,sha256=x,%d\ndemo-1.0.dist-info/RECORD,,\n"
            % len(WHEEL_TEXT),
        ),
        "RECORD gives 'demo/__init__.py' 999 bytes",
    ),
    "RECORD without hash": (
        _hostile(
            GOOD, record=b"demo/__init__.py,,\ndemo-1.0.dist-info/WHEEL,,\ndemo-1.0.dist-info/RECORD,,\n"
        ),
        "no hash",
    ),
    "WHEEL hash mismatch": (
        _hostile(
            GOOD,
            record=b"demo/__init__.py,sha256=AAAA,12\ndemo-1.0.dist-info/WHEEL,sha256=AAAA,\ndemo-1.0.dist-info/RECORD,,\n",
        ),
        "RECORD hash mismatch for 'demo-1.0.dist-info/WHEEL'",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_and_broken_wheels_are_refused_in_one_line(case: str, tmp_path: Path) -> None:
    build, problem = HOSTILE[case]
    path = build(tmp_path)
    with pytest.raises(InvalidWheel) as caught:
        WheelArchive.open(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert problem in message
    assert "\n" not in message
    assert caught.value.exit_code == 2


def test_a_stale_record_is_warned_about_not_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """pip installs a wheel whose RECORD lists a file the zip lacks (delvewheel repairs it too)."""
    path = _hostile(GOOD, record_extra="demo/ghost.py,sha256=AAAA,3\n")(tmp_path)
    with caplog.at_level("WARNING", logger="wheelrepair"), WheelArchive.open(path) as archive:
        assert archive.stale_record == ("demo/ghost.py",)
        assert "demo/ghost.py" not in archive.members
    [record] = caplog.records
    assert "RECORD lists 'demo/ghost.py', which is not in the wheel" in record.getMessage()


def test_missing_file_is_an_invalid_wheel(tmp_path: Path) -> None:
    with pytest.raises(InvalidWheel, match=re.escape(f"{tmp_path / NAME}: cannot open")):
        WheelArchive.open(tmp_path / NAME)


def test_total_size_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = zip_wheel(tmp_path / NAME, [*GOOD, ("demo/a.bin", bytes(5000)), ("demo/b.bin", bytes(5000))])
    monkeypatch.setattr(zipdir, "MAX_TOTAL_SIZE", 8000)
    with pytest.raises(InvalidWheel, match="members expand to more than 8000 bytes"):
        WheelArchive.open(path)


def test_a_large_but_plausible_member_is_not_a_bomb(tmp_path: Path) -> None:
    """Real data never reaches deflate's limit: 20 MiB of a repeated text line opens fine."""
    path = zip_wheel(
        tmp_path / NAME, [*GOOD, ("demo/big.txt", b"some line of a large table, 12345\n" * 600_000)]
    )
    with WheelArchive.open(path) as wheel:
        assert wheel.size("demo/big.txt") == 34 * 600_000


def _tampered(tmp_path: Path) -> Path:
    """A wheel whose member content no longer matches RECORD (same size, so open cannot tell)."""
    return zip_wheel(
        tmp_path / NAME,
        [("demo/__init__.py", b"print('bye')\n")],
        claimed={"demo/__init__.py": b"print('hi!')\n"},
    )


def test_hash_mismatch_is_found_by_read(tmp_path: Path) -> None:
    path = _tampered(tmp_path)
    with WheelArchive.open(path) as wheel:
        assert wheel.head("demo/__init__.py", 5) == b"print"  # sniffing does not hash
        with pytest.raises(
            InvalidWheel, match=re.escape(f"{path}: RECORD hash mismatch for 'demo/__init__.py'")
        ):
            wheel.read("demo/__init__.py")


def test_hash_mismatch_is_found_by_verify_record_and_extract(tmp_path: Path) -> None:
    path = _tampered(tmp_path)
    with WheelArchive.open(path) as wheel:
        with pytest.raises(InvalidWheel, match="RECORD hash mismatch"):
            wheel.verify_record()
        with pytest.raises(InvalidWheel, match="RECORD hash mismatch"):
            wheel.extract("demo/__init__.py", tmp_path / "out.py")
        wheel.verify_record(["demo-1.0.dist-info/RECORD"])


def test_streaming_a_member_to_its_end_checks_the_hash(tmp_path: Path) -> None:
    path = _tampered(tmp_path)
    with WheelArchive.open(path) as wheel:
        with wheel.open_member("demo/__init__.py") as stream:
            assert stream.read(5) == b"print"
            with pytest.raises(InvalidWheel, match="RECORD hash mismatch for 'demo/__init__.py'"):
                stream.read()
        with wheel.open_member("demo/__init__.py") as stream:
            stream.seek(6)
            assert stream.read() == b"'bye')\n"  # a seek leaves the check to read() and verify_record()


def test_corrupt_compressed_data_is_an_invalid_wheel(tmp_path: Path) -> None:
    data = bytes(range(256)) * 64
    path = zip_wheel(tmp_path / NAME, [("demo/blob.bin", data)])
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("demo/blob.bin")
    start = info.header_offset + 30 + len(info.filename)
    raw[start : start + 20] = b"\xff" * 20  # deflate block type 3 does not exist
    path.write_bytes(bytes(raw))
    with (
        WheelArchive.open(path) as wheel,
        pytest.raises(InvalidWheel, match=re.escape(f"{path}: cannot read 'demo/blob.bin'")),
    ):
        wheel.read("demo/blob.bin")
    with (
        WheelArchive.open(path) as wheel,
        wheel.open_member("demo/blob.bin") as stream,
        pytest.raises(InvalidWheel, match="cannot read 'demo/blob.bin'"),
    ):
        stream.read()


def test_signature_files_need_not_be_in_record(tmp_path: Path) -> None:
    path = zip_wheel(tmp_path / NAME, GOOD)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("demo-1.0.dist-info/RECORD.jws", b"{}")
    with WheelArchive.open(path) as wheel:
        assert "demo-1.0.dist-info/RECORD.jws" in wheel.members


def test_bzip2_and_lzma_members_are_read_through_zipfile_only_when_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = b"the same line again and again\n" * 2000
    entries: list[tuple[zipfile.ZipInfo | str, bytes]] = [("demo/plain.txt", text)]
    for name, method in (("bz2", zipfile.ZIP_BZIP2), ("xz", zipfile.ZIP_LZMA)):
        info = zipfile.ZipInfo(f"demo/{name}.txt", date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = method
        entries.append((info, text))
    path = zip_wheel(tmp_path / NAME, entries)
    built: list[object] = []
    real = zipfile.ZipFile

    def counting(*args: object, **kwargs: object) -> zipfile.ZipFile:
        built.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile, "ZipFile", counting)
    with WheelArchive.open(path) as wheel:
        assert wheel.read("demo/plain.txt") == text
        assert not built  # a stored or deflated member never needs zipfile's parse
        for member in ("demo/bz2.txt", "demo/xz.txt"):
            assert wheel.head(member, 8) == text[:8]
            assert wheel.read(member) == text
            with wheel.open_member(member) as stream:
                assert stream.read() == text
        wheel.verify_record()
    assert len(built) == 1  # built once, on first need
