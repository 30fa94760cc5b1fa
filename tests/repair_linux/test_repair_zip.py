"""The zip side of repair on a real gcc-built wheel: SOURCE_DATE_EPOCH as auditwheel applies it, and
--zip-compression-level, with the result installed by uv (strict zip reader) and imported."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.elf_project import ChainProject, build_gcc_wheel
from tests.fixtures.venv import fresh_venv, uv_install

EPOCH = "1700000000"  # 2023-11-14 22:13:20 UTC


def wheelrepair(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> ChainProject:
    return build_gcc_wheel(tmp_path_factory.mktemp("zip"), name="zipdemo")


def _repair(project: ChainProject, out: Path, *extra: str, env: dict[str, str] | None = None) -> Path:
    result = wheelrepair("repair", str(project.wheel), "--lib-path", str(project.libdir), "-w", str(out), "--json",
                         *extra, env=env)
    assert result.returncode == 0, result.stderr
    return Path(json.loads(result.stdout)["output"])


def _dates(wheel: Path) -> set[tuple[int, ...]]:
    with zipfile.ZipFile(wheel) as zf:
        return {info.date_time for info in zf.infolist()}


def test_source_date_epoch_dates_every_member_as_auditwheel_does(project: ChainProject, tmp_path: Path) -> None:
    if shutil.which("auditwheel") is None:
        pytest.fail("auditwheel (a test dependency) is not installed")
    env = {"SOURCE_DATE_EPOCH": EPOCH}
    ours = _repair(project, tmp_path / "ours", env=env)
    theirs_dir = tmp_path / "theirs"
    subprocess.run(["auditwheel", "repair", "-w", str(theirs_dir), str(project.wheel)], check=True,
                   capture_output=True, env={**os.environ, **env, "LD_LIBRARY_PATH": str(project.libdir)})
    (theirs,) = theirs_dir.glob("*.whl")
    assert _dates(theirs) == {(2023, 11, 14, 22, 13, 20)}
    assert _dates(ours) == _dates(theirs)
    # Two runs give the same bytes, and the input's own dates (build time) are gone.
    again = _repair(project, tmp_path / "again", env=env)
    assert again.read_bytes() == ours.read_bytes()
    assert _dates(project.wheel) != _dates(ours)


def test_level_zero_stores_new_members_and_the_wheel_installs(project: ChainProject, tmp_path: Path) -> None:
    stored = _repair(project, tmp_path / "stored", "-z", "0")
    default = _repair(project, tmp_path / "default")
    with zipfile.ZipFile(stored) as zf:
        methods = {i.filename: i.compress_type for i in zf.infolist()}
        assert zf.testzip() is None
    new = [m for m in methods if m.startswith("zipdemo.libs/") or m.endswith(".so") or m.endswith("RECORD")]
    assert new and all(methods[m] == zipfile.ZIP_STORED for m in new)
    assert methods["zipdemo/__init__.py"] == zipfile.ZIP_DEFLATED  # copied raw, as it was
    assert stored.stat().st_size > default.stat().st_size
    python = fresh_venv(tmp_path / "venv")
    uv_install(python, stored)
    hidden = project.libdir.with_name("lib-hidden")
    project.libdir.rename(hidden)
    try:
        probe = subprocess.run([str(python), "-c", "import zipdemo; print(zipdemo.answer())"],
                               capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    finally:
        hidden.rename(project.libdir)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "42"


@pytest.mark.parametrize("value", ["10", "-1", "fast"])
def test_invalid_level_is_a_one_line_usage_error(project: ChainProject, tmp_path: Path, value: str) -> None:
    result = wheelrepair("repair", str(project.wheel), "-w", str(tmp_path), "-z", value)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []
