"""Repair with the output prefilled while the wheel is analysed (``wheel.prefill``): the wheel it
writes is the one written without, byte for byte, and a repair that fails leaves nothing behind,
not even the output directory it made."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.elf_project import ChainProject, build_gcc_wheel
from tests.fixtures.pypi import local_torch_wheel
from wheelrepair import RepairOptions, repair_wheel
from wheelrepair.errors import MissingDependency
from wheelrepair.wheel import prefill as prefill_module
from wheelrepair.wheel.prefill import Prefill


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> ChainProject:
    return build_gcc_wheel(tmp_path_factory.mktemp("prefill"), name="pfdemo")


def _started(monkeypatch: pytest.MonkeyPatch) -> list[Prefill]:
    """Prefill every wheel, however small; the prefills started, in order."""
    monkeypatch.setattr(prefill_module, "MIN_SIZE", 0)
    started: list[Prefill] = []
    start = Prefill.start.__func__  # type: ignore[attr-defined]

    def recording(cls: type[Prefill], source_fd: int, size: int, directory: Path) -> Prefill | None:
        prefill: Prefill | None = start(cls, source_fd, size, directory)
        if prefill is not None:
            started.append(prefill)
        return prefill

    monkeypatch.setattr(Prefill, "start", classmethod(recording))
    return started


def test_a_prefilled_repair_writes_the_same_wheel(
    project: ChainProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = RepairOptions(lib_path=(str(project.libdir),))
    plain = Path(repair_wheel(project.wheel, tmp_path / "plain", options)["output"])
    started = _started(monkeypatch)
    out_dir = tmp_path / "new" / "wheelhouse"  # made by the repair, before its analysis
    prefilled = Path(repair_wheel(project.wheel, out_dir, options)["output"])
    assert len(started) == 1 and started[0].path.parent.parent == out_dir
    assert prefilled.read_bytes() == plain.read_bytes()
    assert sorted(p.name for p in out_dir.iterdir()) == [plain.name]  # no staging left

    # Repairing the repaired wheel changes nothing: the output is the prefill, a copy of the input.
    again = Path(repair_wheel(prefilled, tmp_path / "again", options)["output"])
    assert len(started) == 2
    assert again.read_bytes() == prefilled.read_bytes()
    assert sorted(p.name for p in again.parent.iterdir()) == [again.name]


def test_a_failed_repair_removes_the_output_directory_it_made(
    project: ChainProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = _started(monkeypatch)
    hidden = project.libdir.with_name("lib-hidden")
    project.libdir.rename(hidden)
    try:
        with pytest.raises(MissingDependency):
            repair_wheel(project.wheel, tmp_path / "made" / "for" / "it", RepairOptions())
    finally:
        hidden.rename(project.libdir)
    assert len(started) == 1  # it was prefilled, then thrown away
    assert list(tmp_path.iterdir()) == []


def test_a_failed_repair_keeps_an_output_directory_that_was_there(
    project: ChainProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _started(monkeypatch)
    (tmp_path / "wheelhouse").mkdir()
    (tmp_path / "wheelhouse" / "other.whl").write_bytes(b"someone else's")
    hidden = project.libdir.with_name("lib-hidden")
    project.libdir.rename(hidden)
    try:
        with pytest.raises(MissingDependency):
            repair_wheel(project.wheel, tmp_path / "wheelhouse", RepairOptions())
    finally:
        hidden.rename(project.libdir)
    assert [p.name for p in (tmp_path / "wheelhouse").iterdir()] == ["other.whl"]


def test_torch_repair_over_its_prefill_keeps_every_offset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's one edited binary (torch/bin/test_shim, its build-machine RUNPATH removed) comes out
    smaller: padded, it leaves all 12,000 members after it where they were, so the prefilled output
    is the input's bytes but for that member and the metadata; the same wheel as without a prefill."""
    import zipfile

    torch = local_torch_wheel()
    if torch is None:
        pytest.skip("no local torch wheel in /opt/wheels")
    assert prefill_module.MIN_SIZE <= torch.stat().st_size <= prefill_module.MAX_SIZE
    started = _started(monkeypatch)
    prefilled = Path(repair_wheel(torch, tmp_path / "prefilled", RepairOptions())["output"])
    assert len(started) == 1
    monkeypatch.setattr(prefill_module, "MAX_SIZE", 0)
    plain = Path(repair_wheel(torch, tmp_path / "plain", RepairOptions())["output"])
    assert len(started) == 1
    assert prefilled.read_bytes() == plain.read_bytes()
    with zipfile.ZipFile(torch) as before, zipfile.ZipFile(prefilled) as after:
        old = {i.filename: i for i in before.infolist()}
        new = {i.filename: i for i in after.infolist()}
        changed = sorted(m for m in old if (old[m].CRC, old[m].header_offset) != (new[m].CRC, new[m].header_offset))
    dist = next(m.split("/")[0] for m in old if m.endswith(".dist-info/RECORD"))
    # The dist-info's last members follow WHEEL, which is rewritten and moves to the end.
    assert [m for m in changed if not m.startswith(f"{dist}/")] == ["torch/bin/test_shim"]
    assert {f"{dist}/RECORD", f"{dist}/WHEEL"} <= set(changed)
    assert new["torch/bin/test_shim"].header_offset == old["torch/bin/test_shim"].header_offset


def test_an_empty_member_with_a_broken_local_header_fails_the_repair_not_the_show(
    project: ChainProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan's workers read the local headers sniffing skips (empty members) for the writer; one
    that does not match the central directory is left for the writer to report, in one line, as
    before: ``show`` never reads it, ``repair`` refuses the wheel and writes nothing."""
    import zipfile

    from tests.fixtures.wheels import make_wheel
    from wheelrepair import inspect_wheel
    from wheelrepair.core import scan
    from wheelrepair.errors import InvalidWheel

    with zipfile.ZipFile(project.wheel) as zf:
        files = {i.filename: zf.read(i) for i in zf.infolist() if ".dist-info/" not in i.filename}
    files["pfdemo/py.typed"] = b""
    wheel = make_wheel(tmp_path / "dist", files, name="pfdemo")
    data = bytearray(wheel.read_bytes())
    with zipfile.ZipFile(wheel) as zf:
        offset = zf.getinfo("pfdemo/py.typed").header_offset
    assert data[offset + 30 : offset + 37] == b"pfdemo/"
    data[offset + 30] = ord("P")  # the local header's name no longer matches the central directory's
    wheel.write_bytes(bytes(data))

    monkeypatch.setattr(scan, "_PARALLEL_BYTES", 0)  # forked workers, as for a large wheel
    shown = inspect_wheel(wheel)
    assert shown["wheel"] == wheel.name
    with pytest.raises(InvalidWheel, match="local header of 'pfdemo/py.typed' does not match"):
        repair_wheel(wheel, tmp_path / "out", RepairOptions(lib_path=(str(project.libdir),)))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
