"""`show` on real manylinux wheels from PyPI gives the same best tag as `auditwheel show`, finds every
dependency inside the wheel or provided by the platform, and `check` passes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.pypi import fetch_wheel, local_torch_wheel

PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
PROJECTS = ["numpy", "scipy", "pillow", "lxml", "pyyaml"]


def wheelrepair(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True)


def auditwheel_json(wheel: Path) -> dict:
    result = subprocess.run(["auditwheel", "show", "--json", str(wheel)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_agrees_with_auditwheel(wheel: Path) -> None:
    ours = json.loads(wheelrepair("show", str(wheel), "--json").stdout)
    theirs = auditwheel_json(wheel)
    assert ours["tag"] == theirs["overall_tag"], (ours["verdict"], theirs["overall_tag"])
    assert [e for e in ours["external"] if e["action"] in ("vendor", "missing")] == []
    assert sorted(theirs["external_libs"]) == []
    check = wheelrepair("check", str(wheel))
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.network
@pytest.mark.parametrize("project", PROJECTS)
def test_show_agrees_with_auditwheel_on_pypi_wheels(project: str) -> None:
    assert_agrees_with_auditwheel(fetch_wheel(project, PLATFORMS))


@pytest.mark.slow
def test_show_agrees_with_auditwheel_on_torch() -> None:
    wheel = local_torch_wheel()
    if wheel is None:
        pytest.skip("no local torch wheel on this machine")
    ours = json.loads(wheelrepair("show", str(wheel), "--json").stdout)
    assert ours["tag"] == "manylinux_2_28_x86_64" == wheel.name[:-4].split("-")[-1]
    assert [e for e in ours["external"] if e["action"] in ("vendor", "missing")] == []
