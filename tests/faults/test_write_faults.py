"""Faults while writing, on real file systems: a full disk, a read-only or vanished output
directory, an output path that is a directory, the input deleted or replaced mid-run. Each ends in
one line and exit 1 or 2, with no partial wheel and no temporary file left anywhere."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from tests.faults.conftest import (
    BLOB_SIZE,
    Case,
    everything,
    one_error_line,
    paused,
    start,
    wait_for_partial,
    wheelrepair,
)


def test_disk_full_is_one_line_naming_the_directory_and_the_space(
    case: Case, tmpfs: Callable[..., Path], tmp_path: Path
) -> None:
    before = case.wheel.read_bytes()
    full = tmpfs("full", "1m")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = wheelrepair(case.repair_args(full), env={"TMPDIR": str(scratch)})
    assert result.returncode == 1, result.stderr
    line = one_error_line(result.stderr)
    assert f"no space left in {full}" in line and case.wheel.name in line
    # The figure is an upper bound on what the wheel needs: at least the incompressible member.
    needed = float(line.split("needs up to ")[1].split(" MiB")[0])
    assert needed * (1 << 20) >= BLOB_SIZE
    assert "MiB free" in line
    assert everything(full) == []
    assert case.wheel.read_bytes() == before
    assert everything(scratch) == []


def test_the_same_repair_fits_a_larger_disk(case: Case, tmpfs: Callable[..., Path]) -> None:
    roomy = tmpfs("roomy", "8m")
    result = wheelrepair(case.repair_args(roomy))
    assert result.returncode == 0, result.stderr
    assert [p.endswith(".whl") for p in everything(roomy)] == [True]


def test_read_only_output_directory(case: Case, tmpfs: Callable[..., Path]) -> None:
    readonly = tmpfs("ro", "1m", readonly=True)
    result = wheelrepair(case.repair_args(readonly))
    assert result.returncode == 2, result.stderr
    line = one_error_line(result.stderr)
    assert f"cannot write to {readonly}" in line
    assert everything(readonly) == []


def test_output_path_that_is_a_directory(case: Case, tmp_path: Path) -> None:
    first = tmp_path / "first"
    assert wheelrepair(case.repair_args(first)).returncode == 0
    (name,) = everything(first)
    out = tmp_path / "out"
    (out / name).mkdir(parents=True)
    result = wheelrepair(case.repair_args(out))
    assert result.returncode == 2, result.stderr
    assert "is a directory" in one_error_line(result.stderr)
    assert everything(out) == [name]


def test_output_directory_removed_mid_write(case: Case, tmp_path: Path) -> None:
    out = tmp_path / "out"
    scratch = tmp_path / "scratch"
    process = start(case.repair_args(out), paused(2, scratch))
    wait_for_partial(out, process)
    shutil.rmtree(out)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    assert f"{out} disappeared" in one_error_line(stderr)
    assert not out.exists()
    assert everything(scratch) == []


def test_input_deleted_mid_run(case: Case, tmp_path: Path) -> None:
    out = tmp_path / "out"
    scratch = tmp_path / "scratch"
    process = start(case.repair_args(out), paused(1, scratch))
    wait_for_partial(out, process)
    case.wheel.unlink()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr
    assert "was deleted or replaced while it was being repaired" in one_error_line(stderr)
    assert everything(out) == [] and everything(scratch) == []


def test_input_replaced_mid_run(case: Case, tmp_path: Path) -> None:
    out = tmp_path / "out"
    scratch = tmp_path / "scratch"
    original = case.wheel.read_bytes()
    process = start(case.repair_args(out), paused(1, scratch))
    wait_for_partial(out, process)
    replacement = case.wheel.with_suffix(".new")
    replacement.write_bytes(original)
    replacement.replace(case.wheel)  # same bytes, another file: still not the one that was read
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr
    assert case.wheel.name in one_error_line(stderr)
    assert everything(out) == [] and everything(scratch) == []


def test_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    """``wheelrepair policies | head -0``: the reader went away; no BrokenPipeError traceback."""
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "wheelrepair", "policies"], stdout=write_end, stderr=subprocess.PIPE, text=True
        )
    finally:
        os.close(write_end)
    assert result.returncode == 1
    assert result.stderr == ""


def test_needed_and_patch_refuse_what_is_not_a_regular_file(tmp_path: Path) -> None:
    """A FIFO would block on open and /dev/zero never ends: both are refused before reading."""
    import os

    fifo = tmp_path / "pipe.so"
    os.mkfifo(fifo)
    for args in (["needed", str(fifo)], ["patch", "--print", str(fifo)], ["needed", "/dev/zero"]):
        result = wheelrepair(args)
        assert result.returncode == 2, (args, result.stderr)
        assert "not a regular file" in one_error_line(result.stderr)


def test_patch_on_a_read_only_file_system(family_dir: Path, tmpfs: Callable[..., Path]) -> None:
    import subprocess

    mount = tmpfs("patch-ro", "1m")
    target = mount / "libbar.so"
    shutil.copyfile(family_dir / "libbar.so", target)
    before = target.read_bytes()
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    result = wheelrepair(["patch", str(target), "--set-rpath", "$ORIGIN/../a-much-longer-directory-name/lib"])
    assert result.returncode == 1, result.stderr
    line = one_error_line(result.stderr)
    assert str(target) in line and "cannot write" in line
    assert target.read_bytes() == before and everything(mount) == ["libbar.so"]
