"""Progress bars: on stderr when it is a terminal (a real pty here) and the work is large; nothing
when stderr is piped, and nothing with --json even on a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.fixtures.elf_project import ChainProject, build_gcc_wheel
from tests.fixtures.wheels import make_wheel
from wheelrepair.progress import MIN_BYTES


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> ChainProject:
    """A real extension wheel plus data that unpacks past progress.MIN_BYTES (but packs small)."""
    root = tmp_path_factory.mktemp("progress")
    small = build_gcc_wheel(root, name="bar")
    block = 4096
    data = b"".join(os.urandom(64) + bytes(block - 64) for _ in range(MIN_BYTES // block + 256))
    import zipfile

    with zipfile.ZipFile(small.wheel) as zf:
        files: dict[str, bytes | Path] = {
            i.filename: zf.read(i) for i in zf.infolist() if ".dist-info/" not in i.filename
        }
    files["bar/data.bin"] = data
    wheel = make_wheel(root / "big", files, name="bar", tag=small.wheel.name[:-4].split("-", 2)[2])
    return ChainProject(wheel, small.libdir)


def _run_on_a_terminal(args: list[str]) -> tuple[int, str, str]:
    """Run wheelrepair with stderr on a pty; return (exit code, stdout, what the terminal showed)."""
    master, slave = pty.openpty()
    shown = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed its end
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        result = subprocess.run([sys.executable, "-m", "wheelrepair", *args], stdout=subprocess.PIPE,
                                stderr=slave, stdin=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "120"})
    finally:
        os.close(slave)
        reader.join(timeout=30)
        os.close(master)
    return result.returncode, result.stdout.decode(), shown.decode(errors="replace")


def _repair_args(project: ChainProject, out: Path) -> list[str]:
    return ["repair", str(project.wheel), "--lib-path", str(project.libdir), "-w", str(out)]


def test_a_terminal_sees_progress_while_a_large_wheel_is_written(large: ChainProject, tmp_path: Path) -> None:
    code, stdout, terminal = _run_on_a_terminal(_repair_args(large, tmp_path))
    assert code == 0, terminal
    assert "writing bar-1.0-" in terminal
    assert "MiB" in terminal  # the byte counter of the bar
    assert "writing" not in stdout and "->" in stdout


def test_json_output_never_carries_progress(large: ChainProject, tmp_path: Path) -> None:
    code, stdout, terminal = _run_on_a_terminal([*_repair_args(large, tmp_path), "--json"])
    assert code == 0, terminal
    assert "writing" not in terminal
    assert json.loads(stdout)["changed"] is True


def test_piped_stderr_gets_no_progress(large: ChainProject, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "wheelrepair", *_repair_args(large, tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "writing" not in result.stderr and "\x1b[" not in result.stderr


def test_a_small_wheel_gets_no_progress_even_on_a_terminal(tmp_path: Path) -> None:
    small = build_gcc_wheel(tmp_path / "small", name="tiny")
    code, stdout, terminal = _run_on_a_terminal(_repair_args(small, tmp_path / "out"))
    assert code == 0, terminal
    assert "writing" not in terminal and "->" in stdout
