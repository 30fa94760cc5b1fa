"""A wheel with an executable in ``<dist>.data/scripts`` that needs libraries from the build machine
(auditwheel's ``testpackage`` shape, with our own sources): repair moves the program into
site-packages, leaves a launcher in scripts/, and the command runs from a fresh venv's bin/ with the
build libraries gone. auditwheel, run on the same wheel, is the reference for names and layout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.elf_project import ChainProject, build_script_wheel
from tests.fixtures.venv import fresh_venv, install, site_packages

DATA = "tool-1.0.data/scripts"


def wheelrepair(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> ChainProject:
    return build_script_wheel(tmp_path_factory.mktemp("scripts"))


@pytest.fixture(scope="module")
def repaired(project: ChainProject, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("wheelhouse")
    report = json.loads(wheelrepair("repair", str(project.wheel), "-w", str(out), "--json").stdout)
    return Path(report["output"]), report


def _run_hidden(project: ChainProject, command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    hidden = project.libdir.with_name("lib-hidden")
    project.libdir.rename(hidden)
    try:
        return subprocess.run(command, capture_output=True, text=True, env=env)
    finally:
        hidden.rename(project.libdir)


def test_the_program_moves_into_site_packages_and_a_launcher_takes_its_place(repaired) -> None:
    wheel, report = repaired
    assert report["moved_scripts"] == [{"from": f"{DATA}/tool-prog", "to": "tool.scripts/tool-prog"}]
    with zipfile.ZipFile(wheel) as zf:
        launcher = zf.read(f"{DATA}/tool-prog")
        program = zf.read("tool.scripts/tool-prog")
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
        record = zf.read("tool-1.0.dist-info/RECORD").decode()
    assert launcher.startswith(b"#!python\n")
    assert program[:4] == b"\x7fELF"
    assert modes[f"{DATA}/tool-prog"] == modes["tool.scripts/tool-prog"] == 0o755
    assert "tool.scripts/tool-prog,sha256=" in record
    # The program that needs nothing stays where it was.
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read(f"{DATA}/tool-plain")[:4] == b"\x7fELF"


def test_the_moved_program_searches_the_libs_dir_from_its_new_place(repaired, tmp_path: Path) -> None:
    wheel, _ = repaired
    with zipfile.ZipFile(wheel) as zf:
        zf.extract("tool.scripts/tool-prog", tmp_path)
    dynamic = subprocess.run(["readelf", "-dW", str(tmp_path / "tool.scripts/tool-prog")], check=True,
                             capture_output=True, text=True).stdout
    assert "[$ORIGIN/../tool.libs]" in dynamic
    assert "build" not in dynamic and str(tmp_path) not in dynamic


def test_the_command_runs_from_a_fresh_venv_with_the_build_libraries_gone(
    project: ChainProject, repaired, tmp_path: Path
) -> None:
    wheel, _ = repaired
    python = fresh_venv(tmp_path / "venv")
    install(python, wheel)
    bin_dir = python.parent
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    run = _run_hidden(project, [str(bin_dir / "tool-prog")], env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "42"
    assert (site_packages(python) / "tool.scripts" / "tool-prog").is_file()
    # By name through PATH too, as a user types it.
    assert _run_hidden(project, ["tool-prog"], env).stdout.strip() == "42"
    assert subprocess.run([str(bin_dir / "tool-plain")], capture_output=True, text=True).stdout.strip() == "plain"


def test_the_launcher_also_finds_a_target_install_on_sys_path(project: ChainProject, repaired, tmp_path: Path) -> None:
    """``pip install --target DIR`` puts the program in DIR, which sysconfig does not name (so a
    launcher that only asks sysconfig fails there); ours searches sys.path as well."""
    wheel, _ = repaired
    target = tmp_path / "target"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target),
                    str(wheel)], check=True)
    run = _run_hidden(project, [str(target / "bin" / "tool-prog")],
                      {"PATH": os.environ["PATH"], "PYTHONPATH": str(target)})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "42"


def test_a_second_repair_changes_nothing(repaired, tmp_path: Path) -> None:
    wheel, _ = repaired
    again = json.loads(wheelrepair("repair", str(wheel), "-w", str(tmp_path), "--json").stdout)
    assert again["changed"] is False
    assert (tmp_path / wheel.name).read_bytes() == wheel.read_bytes()


@pytest.mark.skipif(shutil.which("auditwheel") is None, reason="auditwheel is not installed")
def test_same_name_layout_and_vendored_set_as_auditwheel(project: ChainProject, repaired, tmp_path: Path) -> None:
    wheel, report = repaired
    env = {**os.environ, "LD_LIBRARY_PATH": str(project.libdir)}
    subprocess.run(["auditwheel", "repair", "-w", str(tmp_path), str(project.wheel)], check=True,
                   capture_output=True, env=env)
    (theirs,) = tmp_path.glob("*.whl")
    assert theirs.name == wheel.name
    with zipfile.ZipFile(theirs) as zf:
        their_files = [m for m in zf.namelist() if not m.endswith("/")]
        their_launcher = zf.read(f"{DATA}/tool-prog")
    with zipfile.ZipFile(wheel) as zf:
        our_files = zf.namelist()

    def layout(files: list[str]) -> list[str]:
        # auditwheel writes an SBOM only for libraries a package owns (none here); ours lists all.
        return sorted(m if ".libs/" not in m else m.split("-")[0] for m in files if "/sboms/" not in m)

    assert layout(our_files) == layout(their_files)
    assert their_launcher.startswith(b"#!python")
    # Where ours does better: auditwheel's launcher asks sysconfig alone, which does not know a
    # ``pip install --target`` directory (ours runs there: the test above).
    target = tmp_path / "their-target"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target),
                    str(theirs)], check=True, capture_output=True)
    run = subprocess.run([str(target / "bin" / "tool-prog")], capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"], "PYTHONPATH": str(target)})
    assert run.returncode != 0 and "FileNotFoundError" in run.stderr
