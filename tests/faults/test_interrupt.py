"""Ctrl-C and SIGTERM halfway through writing a wheel: the run stops with the shell's code (130,
143) and one line, leaving no partial wheel in the output directory and no scratch files."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.faults.conftest import Case, everything, make_case, one_error_line, paused, start, wait_for_partial


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_write_leaves_nothing(case: Case, tmp_path: Path, signum: int, code: int) -> None:
    out = tmp_path / "out"
    scratch = tmp_path / "scratch"
    before = case.wheel.read_bytes()
    process = start(case.repair_args(out), paused(60, scratch))
    wait_for_partial(out, process)
    assert everything(scratch), "the scratch copies exist while the wheel is written"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert f"interrupted by {signal.Signals(signum).name}" in one_error_line(stderr)
    assert everything(out) == []
    assert everything(scratch) == []
    assert case.wheel.read_bytes() == before


def test_sigterm_stops_parallel_repairs_cleanly(tmp_path: Path, family_dir: Path) -> None:
    cases = [make_case(tmp_path / "in", family_dir, name) for name in ("alpha", "beta", "gamma")]
    out = tmp_path / "out"
    scratch = tmp_path / "scratch"
    args = ["repair", *(str(c.wheel) for c in cases), "-w", str(out), "--lib-path", str(family_dir), "-j", "2"]
    process = start(args, paused(60, scratch))
    wait_for_partial(out, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=90)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert everything(out) == []
    assert everything(scratch) == []
