"""Fixtures for the write-fault tests: a real repairable wheel (gcc-built libbar.so needing
libfoo.so.1, plus an incompressible data member so its repair writes over a MiB), size-limited
and read-only file systems (tmpfs; skipped where mounting is not permitted), and helpers to run
``wheelrepair`` in a subprocess and wait for it to be halfway through writing."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.elf_build import build_gcc
from tests.fixtures.wheels import make_wheel
from wheelrepair.wheel.writer import TEST_PAUSE_ENV

#: Size of the incompressible member: more than the 1 MiB file system the disk-full test writes to.
BLOB_SIZE = 1536 * 1024


@dataclass(frozen=True)
class Case:
    wheel: Path
    lib_path: Path

    def repair_args(self, out: Path, *extra: str) -> list[str]:
        return ["repair", str(self.wheel), "-w", str(out), "--lib-path", str(self.lib_path), *extra]


@pytest.fixture(scope="session")
def family_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_gcc(tmp_path_factory.mktemp("fault-elf"), "default").directory


def make_case(root: Path, family: Path, name: str = "demo") -> Case:
    blob = random.Random(name).randbytes(BLOB_SIZE)
    wheel = make_wheel(root, {f"{name}/_bar.so": family / "libbar.so", f"{name}/blob.bin": blob}, name=name)
    return Case(wheel, family)


@pytest.fixture()
def case(tmp_path: Path, family_dir: Path) -> Case:
    return make_case(tmp_path / "in", family_dir)


def wheelrepair(
    args: list[str], env: Mapping[str, str] | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wheelrepair", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
        **kwargs,  # type: ignore[call-overload]
    )


def start(args: list[str], env: Mapping[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "wheelrepair", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def paused(seconds: float, tmpdir: Path) -> dict[str, str]:
    """The environment that makes the writer pause halfway for ``seconds`` (test-only hook), with
    scratch files kept under ``tmpdir`` so the test can see they are removed."""
    tmpdir.mkdir(parents=True, exist_ok=True)
    return {TEST_PAUSE_ENV: str(seconds), "TMPDIR": str(tmpdir)}


def wait_for_partial(out: Path, process: subprocess.Popen[str], timeout: float = 120) -> Path:
    """Block until a half-written wheel (the writer's ``.part`` file) exists under ``out``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(out.rglob("*.part")) if out.exists() else []
        if found:
            return found[0]
        if process.poll() is not None:
            raise AssertionError(f"finished before writing: {process.communicate()}")
        time.sleep(0.02)
    raise AssertionError("no partial wheel appeared")


def everything(directory: Path) -> list[str]:
    """Every file and directory under ``directory``, hidden ones included."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")) if directory.exists() else []


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.fixture()
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Mount a tmpfs of a given size (optionally read-only) under tmp_path; unmounted afterwards."""
    mounted: list[Path] = []

    def mount(name: str, size: str = "1m", readonly: bool = False) -> Path:
        point = tmp_path / name
        point.mkdir()
        options = f"size={size}" + (",ro" if readonly else "")
        if shutil.which("mount") is None:
            pytest.skip("no mount command")
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)
