"""Repair a real setuptools-built wheel whose extension needs libA.so.1 -> libB.so.2 from outside the
wheel, install it into a fresh venv, and import it with the original libraries out of reach."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.elf_project import ChainProject, build_chain_wheel
from tests.fixtures.venv import fresh_venv, install, site_packages

PROBE = (
    "import chain, json; maps = open('/proc/self/maps').read().split('\\n');"
    "libs = sorted({l.split()[-1] for l in maps if 'libA' in l or 'libB' in l});"
    "print(json.dumps({'answer': chain.answer(), 'libs': libs}))"
)


def wheelrepair(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"wheelrepair {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> ChainProject:
    return build_chain_wheel(tmp_path_factory.mktemp("chain"))


@pytest.fixture(scope="module")
def repaired(project: ChainProject, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("wheelhouse")
    result = wheelrepair("repair", str(project.wheel), "-w", str(out), "--json")
    report = json.loads(result.stdout)
    return Path(report["output"]), report


def test_repaired_wheel_imports_with_the_build_libraries_gone(
    project: ChainProject, repaired, tmp_path: Path
) -> None:
    wheel, _ = repaired
    python = fresh_venv(tmp_path / "venv")
    install(python, wheel)
    hidden = project.libdir.with_name("lib-hidden")
    project.libdir.rename(hidden)
    try:
        out = subprocess.run(
            [str(python), "-c", PROBE], capture_output=True, text=True, env={"PATH": os.environ["PATH"]}
        )
    finally:
        hidden.rename(project.libdir)
    assert out.returncode == 0, out.stderr
    probe = json.loads(out.stdout)
    assert probe["answer"] == 42
    site = str(site_packages(python))
    assert len(probe["libs"]) == 2
    assert all(lib.startswith(site + "/chain.libs/") for lib in probe["libs"]), probe["libs"]


def test_vendored_names_are_mangled_and_tag_is_manylinux(repaired) -> None:
    wheel, report = repaired
    names = sorted(Path(v["dest"]).name for v in report["vendored"])
    assert [n.split("-")[0] for n in names] == ["libA", "libB"]
    assert names[0].endswith(".so.1") and names[1].endswith(".so.2")
    assert report["tag"].startswith("manylinux_2_")
    assert f"{report['tag']}" in wheel.name
    with zipfile.ZipFile(wheel) as zf:
        members = zf.namelist()
        wheel_file = zf.read("chain-1.0.dist-info/WHEEL").decode()
    assert sorted(m for m in members if m.startswith("chain.libs/")) == sorted(
        f"chain.libs/{n}" for n in names
    )
    assert f"Tag: cp{sys.version_info[0]}{sys.version_info[1]}" in wheel_file
    assert report["tag"] in wheel_file


def test_build_machine_runpath_is_dropped(repaired, tmp_path: Path) -> None:
    wheel, _ = repaired
    with zipfile.ZipFile(wheel) as zf:
        ext = next(m for m in zf.namelist() if m.startswith("chain/_chain") and m.endswith(".so"))
        zf.extract(ext, tmp_path)
    dynamic = subprocess.run(["readelf", "-d", str(tmp_path / ext)], capture_output=True, text=True).stdout
    runpath = [line for line in dynamic.splitlines() if "RUNPATH" in line or "RPATH" in line]
    assert runpath and "$ORIGIN/../chain.libs" in runpath[0]
    assert sys.prefix not in runpath[0] and "/lib" not in runpath[0].split("[")[1].replace("chain.libs", "")


def test_check_passes_on_the_output_and_fails_on_the_input(project: ChainProject, repaired) -> None:
    wheel, _ = repaired
    assert wheelrepair("check", str(wheel)).returncode == 0
    failed = wheelrepair("check", str(project.wheel), check=False)
    assert failed.returncode == 1
    assert "libA.so.1" in failed.stdout + failed.stderr


def test_repair_of_a_repaired_wheel_is_a_no_op(repaired, tmp_path: Path) -> None:
    wheel, _ = repaired
    result = wheelrepair("repair", str(wheel), "-w", str(tmp_path), "--json")
    report = json.loads(result.stdout)
    assert report["changed"] is False
    assert (tmp_path / wheel.name).read_bytes() == wheel.read_bytes()


def test_repair_is_reproducible(project: ChainProject, repaired, tmp_path: Path) -> None:
    wheel, _ = repaired
    again = json.loads(wheelrepair("repair", str(project.wheel), "-w", str(tmp_path), "--json").stdout)
    assert Path(again["output"]).read_bytes() == wheel.read_bytes()


def test_same_vendored_set_and_tag_as_auditwheel(project: ChainProject, repaired, tmp_path: Path) -> None:
    if shutil.which("auditwheel") is None:
        pytest.fail("auditwheel (a test dependency) is not installed")
    _, report = repaired
    subprocess.run(
        ["auditwheel", "repair", "-w", str(tmp_path), str(project.wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    (theirs,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(theirs) as zf:
        their_libs = sorted(
            Path(m).name.split("-")[0] for m in zf.namelist() if ".libs/" in m and not m.endswith("/")
        )
    ours = sorted(Path(v["dest"]).name.split("-")[0] for v in report["vendored"])
    assert ours == their_libs
    assert set(report["tags"]) <= set(theirs.name[:-4].split("-")[-1].split(".")) | {report["tag"]}
    assert report["tag"] in theirs.name


def test_missing_library_is_a_clear_error(project: ChainProject, tmp_path: Path) -> None:
    hidden = project.libdir.with_name("lib-away")
    project.libdir.rename(hidden)
    try:
        result = wheelrepair("repair", str(project.wheel), "-w", str(tmp_path), check=False)
    finally:
        hidden.rename(project.libdir)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "libA.so.1" in lines[0] and "chain/_chain" in lines[0] and "--lib-path" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_exclude_keeps_a_library_external(project: ChainProject, tmp_path: Path) -> None:
    report = json.loads(
        wheelrepair(
            "repair", str(project.wheel), "-w", str(tmp_path), "--exclude", "libB.so.*", "--json"
        ).stdout
    )
    assert [Path(v["dest"]).name.split("-")[0] for v in report["vendored"]] == ["libA"]
    assert report["excluded"] == ["libB.so.2"]
