"""Helpers shared by the benchmark scripts: timing a command, its peak memory, the test wheels."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _compile_bytecode() -> None:
    """Time the tools as installed: pip compiles a package's bytecode when it installs it, but an
    editable checkout run with PYTHONDONTWRITEBYTECODE (set on this machine) compiles every module
    it imports afresh on each run, and only the modules a command imports, which biases the
    comparison of two commands (a repair imports the writer; a module just edited has stale
    bytecode). torch, one run each: with stale bytecode for five edited modules, show 0.93 s and
    repair 1.30x it; compiled, show 0.60 s and repair 1.17x."""
    import compileall

    compileall.compile_dir(str(ROOT / "src"), quiet=1)


_compile_bytecode()


def run_timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one command and the processes it starts, run in its own
    process; the peak comes from GNU time (``/usr/bin/time -f %M``), which counts that process tree."""
    with tempfile.NamedTemporaryFile("r") as peak:
        timed = ["/usr/bin/time", "-o", peak.name, "-f", "%M", *cmd] if os.path.exists("/usr/bin/time") else cmd
        start = time.perf_counter()
        result = subprocess.run(timed, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env={**os.environ, **(env or {})})
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {result.stderr.decode()[-2000:]}")
        text = peak.read().strip().splitlines()
    return elapsed, int(text[-1]) if text and text[-1].isdigit() else 0


def best_of(
    n: int, cmd: list[str], env: dict[str, str] | None = None, output_dir: Path | None = None
) -> tuple[float, int]:
    """Best wall time and highest peak of ``n`` runs; ``output_dir`` is removed before each run, so
    every run writes into a fresh directory as a CI job does (replacing a 190 MB wheel left by the
    previous run costs ~0.1 s of unlinking that is not the tool's work)."""
    runs = []
    for _ in range(n):
        if output_dir is not None:
            shutil.rmtree(output_dir, ignore_errors=True)
        runs.append(run_timed(cmd, env))
    return min(t for t, _ in runs), max(m for _, m in runs)


def bin_of(tool: str) -> str:
    return str(Path(sys.executable).parent / tool)


__all__ = ["ROOT", "best_of", "bin_of", "run_timed"]
