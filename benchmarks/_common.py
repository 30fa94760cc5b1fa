"""Helpers shared by the benchmark scripts: timing a command, its peak memory, the test wheels."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run_timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one command, run in its own process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
    return elapsed, usage.ru_maxrss


def best_of(n: int, cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    runs = [run_timed(cmd, env) for _ in range(n)]
    return min(t for t, _ in runs), max(m for _, m in runs)


def bin_of(tool: str) -> str:
    return str(Path(sys.executable).parent / tool)


__all__ = ["ROOT", "best_of", "bin_of", "resource", "run_timed"]
