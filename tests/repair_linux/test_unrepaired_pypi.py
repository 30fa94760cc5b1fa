"""Real manylinux wheels from PyPI taken apart and rebuilt unrepaired (tests/fixtures/unrepair.py):
wheelrepair repairs them from the plain libraries, the repaired wheels install into a fresh venv and
work with the library directory gone, loading every vendored library from site-packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.pypi import fetch_wheel
from tests.fixtures.unrepair import unrepair
from tests.fixtures.venv import fresh_venv, install, site_packages

PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
MAPS = "\nimport json; print(json.dumps(sorted({l.split()[-1] for l in open('/proc/self/maps') if '.so' in l})))\n"
SMOKE = {
    "numpy": "import numpy as np\na = np.random.default_rng(0).random((60, 60))\n"
    "assert np.allclose(a @ np.linalg.inv(a), np.eye(60), atol=1e-8)\n",
    "pillow": "from PIL import Image, features\nimport io\nim = Image.new('RGB', (64, 64), (10, 200, 30))\n"
    "for fmt in ('PNG', 'JPEG', 'TIFF', 'WEBP'):\n    buf = io.BytesIO(); im.save(buf, fmt); buf.seek(0)\n"
    "    assert Image.open(buf).convert('RGB').size == (64, 64)\nassert features.check('freetype2')\n",
}


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("project", sorted(SMOKE))
def test_unrepaired_pypi_wheel_repairs_installs_and_runs(project: str, tmp_path: Path) -> None:
    original = fetch_wheel(project, PLATFORMS)
    wheel, libdir = unrepair(original, tmp_path / "work")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "wheelrepair",
            "repair",
            "--lib-path",
            str(libdir),
            "-w",
            str(tmp_path / "out"),
            "--json",
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(Path(v["source"]).name for v in report["vendored"]) == sorted(
        p.name for p in libdir.iterdir()
    )
    # The original wheel's tag is what the same binaries and libraries can honestly claim.
    assert report["tag"] in original.name

    python = fresh_venv(tmp_path / "venv")
    install(python, Path(report["output"]))
    hidden = libdir.rename(libdir.with_name("lib-hidden"))
    try:
        run = subprocess.run(
            [str(python), "-c", SMOKE[project] + MAPS],
            capture_output=True,
            text=True,
            env={"PATH": os.environ["PATH"]},
        )
    finally:
        hidden.rename(libdir)
    assert run.returncode == 0, run.stderr
    libs_dir = str(site_packages(python) / report["libs_dir"])
    loaded = [p for p in json.loads(run.stdout) if p.startswith(libs_dir)]
    assert loaded, "no vendored library was loaded"
    assert not [p for p in json.loads(run.stdout) if p.startswith(str(tmp_path / "work"))]
