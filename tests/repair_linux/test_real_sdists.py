"""Wheels built from real sdists against Debian libraries (PyYAML + libyaml, cffi + libffi) repair,
install into a fresh venv, pass a smoke test of the project with the vendored copy of the library
loaded (proved through /proc/self/maps), and match auditwheel's vendored set and tag."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.sdists import build_from_sdist
from tests.fixtures.venv import fresh_venv, install, site_packages

MAPS = "maps = sorted({l.split()[-1] for l in open('/proc/self/maps') if '/' in l})"
CASES = {
    "pyyaml": (
        "PyYAML==6.0.2",
        "PyYAML",
        "libyaml",
        "import yaml\nassert yaml.__with_libyaml__\n"
        "data = yaml.load('a: [1, 2, {b: c}]', Loader=yaml.CLoader)\nassert data == {'a': [1, 2, {'b': 'c'}]}\n"
        "out = yaml.dump(data, Dumper=yaml.CDumper)\nassert yaml.load(out, Loader=yaml.CLoader) == data\n",
    ),
    "cffi": (
        "cffi==1.17.1",
        "cffi",
        "libffi",
        "import _cffi_backend as b\nint_t = b.new_primitive_type('int')\n"
        "fn_t = b.new_function_type((int_t,), int_t, False)\n"
        "libc = b.load_library(None)\nabs_ = libc.load_function(fn_t, 'abs')\nassert abs_(-42) == 42\n",
    ),
}


def wheelrepair(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_sdist_built_wheel_repairs_and_runs_with_the_vendored_library(case: str, tmp_path: Path) -> None:
    requirement, dist, library, smoke = CASES[case]
    wheel = build_from_sdist(requirement, dist)
    report = json.loads(wheelrepair("repair", str(wheel), "-w", str(tmp_path / "ours"), "--json").stdout)
    repaired = Path(report["output"])
    assert any(Path(v["dest"]).name.startswith(library + "-") for v in report["vendored"]), report["vendored"]

    subprocess.run(
        ["auditwheel", "repair", "-w", str(tmp_path / "theirs"), str(wheel)], check=True, capture_output=True
    )
    (theirs,) = (tmp_path / "theirs").glob("*.whl")
    with zipfile.ZipFile(theirs) as zf:
        their_libs = sorted(
            Path(m).name.split("-")[0] for m in zf.namelist() if ".libs/" in m and not m.endswith("/")
        )
    assert sorted(Path(v["dest"]).name.split("-")[0] for v in report["vendored"]) == their_libs
    assert report["tag"] in theirs.name and report["tag"] in repaired.name

    python = fresh_venv(tmp_path / "venv")
    install(python, repaired)
    probe = smoke + MAPS + "\nimport json; print(json.dumps(maps))\n"
    run = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, env={"PATH": os.environ["PATH"]}
    )
    assert run.returncode == 0, run.stderr
    loaded = [p for p in json.loads(run.stdout) if Path(p).name.startswith(library)]
    site = str(site_packages(python))
    assert loaded and all(p.startswith(site) for p in loaded), loaded
