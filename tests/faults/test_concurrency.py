"""Concurrent runs: two repairs racing into one directory leave one whole wheel, never a torn one;
``-j N`` writes the same bytes as ``-j 1``."""

from __future__ import annotations

from pathlib import Path

from tests.faults.conftest import Case, everything, make_case, paused, start, wheelrepair
from wheelrepair.wheel.archive import WheelArchive


def test_two_repairs_racing_into_one_directory(case: Case, tmp_path: Path) -> None:
    solo = tmp_path / "solo"
    assert wheelrepair(case.repair_args(solo)).returncode == 0
    (name,) = everything(solo)
    out = tmp_path / "out"
    # Both pause halfway, so their writes overlap for certain.
    racers = [start(case.repair_args(out), paused(1, tmp_path / f"scratch{i}")) for i in range(2)]
    for racer in racers:
        _, stderr = racer.communicate(timeout=120)
        assert racer.returncode == 0, stderr
    assert everything(out) == [name]
    with WheelArchive.open(out / name) as archive:
        archive.verify_record()
    assert (out / name).read_bytes() == (solo / name).read_bytes()


def test_jobs_give_the_same_bytes_as_one_job(tmp_path: Path, family_dir: Path) -> None:
    cases = [make_case(tmp_path / "in", family_dir, f"pkg{i}") for i in range(5)]
    outputs = {}
    for jobs in ("1", "3"):
        out = tmp_path / f"j{jobs}"
        args = ["repair", *(str(c.wheel) for c in cases), "-w", str(out), "--lib-path", str(family_dir), "-j", jobs]
        result = wheelrepair(args, env={"SOURCE_DATE_EPOCH": "1700000000"})
        assert result.returncode == 0, result.stderr
        outputs[jobs] = {name: (out / name).read_bytes() for name in everything(out)}
    assert len(outputs["1"]) == 5
    assert outputs["3"] == outputs["1"]


def test_racing_copies_of_an_already_repaired_wheel(case: Case, tmp_path: Path) -> None:
    """A wheel that needs no change is copied; racing copies each use their own temporary file."""
    first = tmp_path / "first"
    assert wheelrepair(case.repair_args(first)).returncode == 0
    (name,) = everything(first)
    repaired = first / name
    out = tmp_path / "out"
    args = ["repair", str(repaired), "-w", str(out)]
    for _ in range(3):
        racers = [start(args, {}) for _ in range(3)]
        for racer in racers:
            _, stderr = racer.communicate(timeout=120)
            assert racer.returncode == 0, stderr
        assert everything(out) == [name]
        assert (out / name).read_bytes() == repaired.read_bytes()
