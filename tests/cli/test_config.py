"""[tool.wheelrepair] in pyproject.toml and WHEELREPAIR_* supply defaults; the command line wins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.elf_project import ChainProject, build_gcc_wheel


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> ChainProject:
    return build_gcc_wheel(tmp_path_factory.mktemp("cfg"))


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True, cwd=cwd, env=full_env
    )


def vendored(report: dict) -> list[str]:
    return sorted(Path(v["dest"]).name.split("-")[0] for v in report["vendored"])


def test_pyproject_supplies_exclude_and_show_names_the_file(project: ChainProject, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.wheelrepair]\nexclude = ["libB.so.2"]\n')
    shown = json.loads(run(tmp_path, "show", str(project.wheel), "--json").stdout)
    assert shown["config_file"] == str(tmp_path / "pyproject.toml")
    assert {e["name"]: e["action"] for e in shown["external"]}["libB.so.2"] == "excluded"
    human = run(tmp_path, "show", str(project.wheel)).stdout
    assert str(tmp_path / "pyproject.toml") in human
    report = json.loads(run(tmp_path, "repair", str(project.wheel), "-w", "out", "--json").stdout)
    assert vendored(report) == ["libA"]


def test_environment_overrides_pyproject_and_cli_overrides_both(
    project: ChainProject, tmp_path: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.wheelrepair]\nexclude = ["libB.so.2"]\n')
    env = {"WHEELREPAIR_EXCLUDE": "libA.so.1"}
    report = json.loads(run(tmp_path, "repair", str(project.wheel), "-w", "o1", "--json", env=env).stdout)
    assert report["excluded"] == ["libA.so.1"]
    report = json.loads(
        run(
            tmp_path, "repair", str(project.wheel), "-w", "o2", "--json", "--exclude", "nothing*", env=env
        ).stdout
    )
    assert vendored(report) == ["libA", "libB"]


def test_pyproject_lib_sdir_and_only_plat(project: ChainProject, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.wheelrepair]\nlib-sdir = "vendored"\nonly-plat = true\nplat = "manylinux_2_17_x86_64"\n'
    )
    report = json.loads(run(tmp_path, "repair", str(project.wheel), "-w", "out", "--json").stdout)
    assert all(v["dest"].startswith("vendored/") for v in report["vendored"])
    platform_part = Path(report["output"]).name[:-4].split("-")[-1]
    # --only-plat: the requested tag and its legacy alias, not the better manylinux_2_5 it also meets.
    assert platform_part == "manylinux2014_x86_64.manylinux_2_17_x86_64"


@pytest.mark.parametrize(
    "content",
    ['[tool.wheelrepair]\nexclud = ["x"]\n', "[tool.wheelrepair]\nstrip = 3\n", "[tool.wheelrepair\n"],
)
def test_bad_configuration_is_one_line_exit_2(project: ChainProject, tmp_path: Path, content: str) -> None:
    (tmp_path / "pyproject.toml").write_text(content)
    result = run(tmp_path, "repair", str(project.wheel), "-w", "out")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "pyproject.toml" in result.stderr


def test_cibuildwheel_command_string(project: ChainProject, tmp_path: Path) -> None:
    """cibuildwheel formats repair-wheel-command with quoted paths and runs it through the shell."""
    import shlex

    command = "wheelrepair repair -w {dest_dir} {wheel}"
    dest = tmp_path / "dest dir"
    formatted = command.format(dest_dir=shlex.quote(str(dest)), wheel=shlex.quote(str(project.wheel)))
    bindir = Path(sys.executable).parent
    result = subprocess.run(
        formatted,
        shell=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"},
    )
    assert result.returncode == 0, result.stderr
    (out,) = dest.glob("*.whl")
    assert "manylinux" in out.name
