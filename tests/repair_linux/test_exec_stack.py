"""A wheel whose extension and a library it needs ask for an executable stack (PT_GNU_STACK RWE, as
``gcc -Wl,-z,execstack`` writes it), which glibc 2.41+ refuses to dlopen: show and check report it,
repair clears the request with a warning, and the output still loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.elf_project import ChainProject, build_gcc_wheel
from tests.fixtures.venv import fresh_venv, install

EXECSTACK = "-Wl,-z,execstack"


def wheelrepair(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True)


def gnu_stack_flags(path: Path) -> str:
    """The Flg column of readelf's GNU_STACK line ("RW" or "RWE")."""
    out = subprocess.run(["readelf", "-lW", str(path)], check=True, capture_output=True, text=True).stdout
    (line,) = [row for row in out.splitlines() if row.split()[:1] == ["GNU_STACK"]]
    return " ".join(line.split()[6:-1])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> ChainProject:
    return build_gcc_wheel(tmp_path_factory.mktemp("execstack"), ext_flags=[EXECSTACK], lib_a_flags=[EXECSTACK])


def _extract(wheel: Path, target: Path) -> dict[str, Path]:
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
        return {m: target / m for m in zf.namelist() if ".so" in m}


def test_fixture_asks_for_an_executable_stack(project: ChainProject, tmp_path: Path) -> None:
    files = _extract(project.wheel, tmp_path)
    assert [gnu_stack_flags(p) for p in files.values()] == ["RWE"]
    assert gnu_stack_flags(project.libdir / "libA.so.1") == "RWE"
    assert gnu_stack_flags(project.libdir / "libB.so.2") == "RW"


def test_show_names_each_library_and_check_fails(project: ChainProject) -> None:
    shown = wheelrepair("show", "--json", str(project.wheel))
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    (ext,) = report["binaries"]
    assert ext["exec_stack"] is True
    warnings = [w for w in report["verdict"]["warnings"] if "executable stack" in w]
    assert sorted(w.split(":")[0] for w in warnings) == sorted([ext["path"], str(project.libdir / "libA.so.1")])

    checked = wheelrepair("check", str(project.wheel))
    assert checked.returncode == 1
    assert f"{ext['path']}: asks for an executable stack" in checked.stdout


def test_repair_clears_it_with_a_warning_and_the_wheel_still_loads(project: ChainProject, tmp_path: Path) -> None:
    result = wheelrepair("repair", str(project.wheel), "-w", str(tmp_path / "out"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sum("executable stack" in w for w in report["warnings"]) == 2
    human = wheelrepair("repair", str(project.wheel), "-w", str(tmp_path / "human"))
    assert human.returncode == 0 and "warning:" in human.stderr and "executable stack" in human.stderr
    output = Path(report["output"])
    files = _extract(output, tmp_path / "unpacked")
    assert len(files) == 3  # the extension and both vendored libraries
    assert {m: gnu_stack_flags(p) for m, p in files.items()} == dict.fromkeys(files, "RW")
    for path in files.values():
        lint = subprocess.run(["eu-elflint", "--gnu-ld", str(path)], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr
    assert wheelrepair("check", str(output)).returncode == 0

    python = fresh_venv(tmp_path / "venv")
    install(python, output)
    hidden = project.libdir.with_name("lib-hidden")
    project.libdir.rename(hidden)
    try:
        run = subprocess.run([str(python), "-c", "import demo; print(demo.answer())"], capture_output=True,
                             text=True, env={"PATH": os.environ["PATH"]})
    finally:
        hidden.rename(project.libdir)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "42"


def test_a_32_bit_library_is_cleared_in_place(tmp_path: Path) -> None:
    """The 32-bit program header layout puts p_flags elsewhere: clear it on an i386 library (compiled
    by gcc -m32, linked by GNU ld, as zig's linker has no ``-z execstack``)."""
    from wheelrepair.formats.elf.reader import read_elf
    from wheelrepair.formats.elf.stack import clear_exec_stack, clear_exec_stack_bytes

    (tmp_path / "s.c").write_text("int s(int x) { return x + 1; }\n")
    lib = tmp_path / "libs.so"
    subprocess.run(["gcc", "-m32", "-O2", "-fPIC", "-c", "-o", str(tmp_path / "s.o"), str(tmp_path / "s.c")],
                   check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-shared", "-z", "execstack", "-o", str(lib), str(tmp_path / "s.o")],
                   check=True)
    assert read_elf(lib.read_bytes(), lib.name).archs == ("i686",)
    assert gnu_stack_flags(lib) == "RWE"
    assert read_elf(lib.read_bytes(), lib.name).exec_stack
    before = lib.read_bytes()
    assert clear_exec_stack(lib) is True
    after = lib.read_bytes()
    assert clear_exec_stack_bytes(before, lib.name) == after  # as repair edits it, in memory
    assert clear_exec_stack_bytes(after, lib.name) is None
    assert gnu_stack_flags(lib) == "RW"
    assert not read_elf(after, lib.name).exec_stack
    assert len(after) == len(before) and sum(a != b for a, b in zip(before, after)) == 1
    assert clear_exec_stack(lib) is False


def test_a_wheel_whose_only_fault_is_the_stack_flag_is_rewritten(tmp_path: Path) -> None:
    from tests.fixtures.wheels import make_wheel

    (tmp_path / "m.c").write_text("int m(int x) { return x * 3; }\n")
    lib = tmp_path / "_m.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", EXECSTACK, "-o", str(lib), str(tmp_path / "m.c")], check=True)
    wheel = make_wheel(tmp_path / "in", {"solo/__init__.py": b"", "solo/_m.so": lib}, name="solo")
    result = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["changed"] is True and report["vendored"] == [] and report["sbom"] is None
    files = _extract(Path(report["output"]), tmp_path / "unpacked")
    assert [gnu_stack_flags(p) for p in files.values()] == ["RW"]
    again = wheelrepair("repair", report["output"], "-w", str(tmp_path / "again"), "--json")
    assert json.loads(again.stdout)["changed"] is False
