"""Central records of unchanged members built before the write (``writer.CopyRecords``, filled by a
repair while its scan runs): the writer takes them instead of building its own wherever a member
lands at its input offset, and the wheel comes out byte for byte as without them."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.elf_project import build_gcc_wheel
from tests.wheel.helpers import zip_wheel
from wheelrepair import RepairOptions, repair_wheel
from wheelrepair.core import scan
from wheelrepair.wheel import writer as writer_module
from wheelrepair.wheel.archive import WheelArchive
from wheelrepair.wheel.writer import DEFAULT_DATE, CopyRecords, DeflateAhead

NAME = "demo-1.0-py3-none-any.whl"
TABLE = "demo/table.txt"
#: Its local header carries an extra field the writer does not write: never taken as it stands.
ODD = "demo/odd.bin"


def _entry(name: str, method: int = zipfile.ZIP_STORED, extra: bytes = b"") -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, DEFAULT_DATE)
    info.compress_type = method
    info.extra = extra
    return info


@pytest.fixture
def source(tmp_path: Path) -> Path:
    table = b"".join(f"{i:06d} {i * 7919 % 10007:05d}\n".encode() for i in range(4000))
    entries: list[tuple[zipfile.ZipInfo | str, bytes]] = [
        (_entry(f"demo/blob{i}.bin"), os.urandom(20_000 + 999 * i)) for i in range(6)
    ]
    entries.insert(2, (_entry(TABLE, zipfile.ZIP_DEFLATED), table))
    # Last: its header comes out 8 bytes shorter, which moves every member after it.
    entries.append((_entry(ODD, extra=b"\xfe\xca\x04\x00abcd"), b"odd member"))
    (tmp_path / "src").mkdir()
    return zip_wheel(tmp_path / "src" / NAME, entries)


def _built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The members whose central record ``write_wheel`` builds itself from now on (not those built
    ahead, before the write)."""
    built: list[str] = []
    writing: list[bool] = []
    real_record, real_write = writer_module._copy_record, writer_module.write_wheel

    def counting(info: Any, *args: Any) -> bytes:
        if writing:
            built.append(info.filename)
        return real_record(info, *args)

    def write(*args: Any, **kwargs: Any) -> Path:
        writing.append(True)
        try:
            return real_write(*args, **kwargs)
        finally:
            writing.clear()

    monkeypatch.setattr(writer_module, "_copy_record", counting)
    monkeypatch.setattr(writer_module, "write_wheel", write)
    return built


def _write(source: Path, dest: Path, *, ahead: bool) -> tuple[Path, CopyRecords]:
    dest.parent.mkdir(parents=True)
    with WheelArchive.open(source) as archive, DeflateAhead() as pool:
        copies = CopyRecords(archive)
        if ahead:
            archive.local_headers(archive.members)  # as the scan's workers read them
            copies.add(archive.members)
        table = pool.deflate(archive.read(TABLE))  # level 6: smaller, padded to its old end
        writer_module.write_wheel(archive, dest, replace={TABLE: table}, copies=copies)
    return dest, copies


@pytest.mark.parametrize("epoch", [None, "1700000000"])
def test_records_built_ahead_are_used_where_a_member_keeps_its_offset(
    epoch: str | None, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every member but the replaced one keeps its offset (it is padded), so the writer builds only
    WHEEL's record, which moves to the end, and the odd member's, whose header it rewrites. Under
    SOURCE_DATE_EPOCH the records carry another date: none built ahead is used."""
    if epoch is not None:
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    plain, _ = _write(source, tmp_path / "plain" / NAME, ahead=False)
    built = _built(monkeypatch)
    out, copies = _write(source, tmp_path / "ahead" / NAME, ahead=True)
    assert out.read_bytes() == plain.read_bytes()
    with zipfile.ZipFile(source) as zf:
        members = [i.filename for i in zf.infolist()]
    assert ODD not in copies.records
    assert set(copies.records) == {m for m in members if m != ODD}
    copied = [m for m in members if m not in (TABLE, "demo-1.0.dist-info/RECORD")]
    assert built == (copied if epoch else [ODD, "demo-1.0.dist-info/WHEEL"])
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        assert zf.getinfo(ODD).extra == b""


def test_a_repair_builds_the_records_while_its_scan_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With forked scan workers, the members before the first one the repair moves (the edited
    extension grows) are taken from records built during the scan; the wheel is the one written
    without them."""
    project = build_gcc_wheel(tmp_path / "project", name="crdemo")
    options = RepairOptions(lib_path=(str(project.libdir),))
    monkeypatch.setattr(scan, "_PARALLEL_BYTES", 0)  # forked workers, as for a large wheel
    monkeypatch.setattr(CopyRecords, "add", lambda self, members: None)
    plain = Path(repair_wheel(project.wheel, tmp_path / "plain", options)["output"])
    monkeypatch.undo()
    monkeypatch.setattr(scan, "_PARALLEL_BYTES", 0)
    built = _built(monkeypatch)
    ahead = Path(repair_wheel(project.wheel, tmp_path / "ahead", options)["output"])
    assert ahead.read_bytes() == plain.read_bytes()
    with zipfile.ZipFile(project.wheel) as before, zipfile.ZipFile(ahead) as after:
        old = {i.filename: (i.header_offset, i.CRC) for i in before.infolist()}
        kept = [i.filename for i in after.infolist() if old.get(i.filename) == (i.header_offset, i.CRC)]
    assert kept and len(kept) < len(old)
    assert not set(built) & set(kept)
