"""End to end on real projects: numpy's, scipy's and shapely's Windows wheels from PyPI, with
delvewheel's work undone, are repaired on this Linux host, installed, and run through their vendored
DLLs (OpenBLAS; GEOS -> msvcp140, a chain) in python.org's Windows CPython under wine, with the
build machine's DLL directory gone."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest

from tests.fixtures.pe_build import embedded_cpython, run_wine, windows_path
from tests.fixtures.pe_unrepair import plain_name, unrepair_windows
from tests.fixtures.pypi import CACHE, fetch_wheel
from wheelrepair.formats.pe.backend import PEBackend
from wheelrepair.formats.pe.system_dlls import is_system_dll

pytestmark = [pytest.mark.network, pytest.mark.wine, pytest.mark.slow]

# numpy 2's _multiarray_umath calls ucrtbase's crealf, which wine 8.0 does not implement: PyPI's
# own numpy 2 wheels abort at import under it. numpy 1.26 (last for CPython 3.12) runs, and so
# do scipy 1.14 and shapely 2.0 on top of it.
PYTHON_VERSION = "3.12"
PROJECTS = {"numpy": "numpy==1.26.4", "scipy": "scipy==1.14.1", "shapely": "shapely==2.0.6"}

# The module handle shows which copy of a vendored DLL the Windows loader actually mapped.
WHERE_LOADED = """
import ctypes, ctypes.wintypes
kernel32 = ctypes.WinDLL("kernel32")
kernel32.GetModuleHandleW.restype = ctypes.wintypes.HMODULE
handle = kernel32.GetModuleHandleW({dll!r})
buffer = ctypes.create_unicode_buffer(1024)
kernel32.GetModuleFileNameW(ctypes.wintypes.HMODULE(handle), buffer, 1024)
print("loaded", buffer.value if handle else None)
"""
# Inverting a random matrix goes through numpy.linalg's LAPACK calls into OpenBLAS.
NUMPY_SMOKE = """
import numpy as np
a = np.random.default_rng(0).random((50, 50))
print(np.allclose(a @ np.linalg.inv(a), np.eye(50)))
"""
# scipy.linalg's Fortran LAPACK wrappers, QUADPACK and the special functions.
SCIPY_SMOKE = """
import numpy as np, scipy.linalg as sl, scipy.integrate as si, scipy.special as sp
a = np.random.default_rng(0).random((40, 40))
print(np.allclose(sl.lu_solve(sl.lu_factor(a), a), np.eye(40)))
print(round(si.quad(np.sin, 0, np.pi)[0], 9), float(sp.gamma(5)))
"""
# shapely's extension -> geos_c.dll -> geos.dll -> msvcp140.dll, all vendored.
SHAPELY_SMOKE = """
import shapely
from shapely.geometry import Point
print(round(Point(0, 0).buffer(1).area, 4), shapely.geos_version_string.startswith("3."))
"""
# project -> (code, the lines it prints, the vendored DLL whose loaded copy is checked). shapely's
# geos.dll is a second hop (only geos_c.dll imports it): renamed imports resolve past the first.
SMOKES = {
    "numpy": (NUMPY_SMOKE, ["True"], "libopenblas"),
    "scipy": (SCIPY_SMOKE, ["True", "2.0 24.0"], "libscipy_openblas"),
    "shapely": (SHAPELY_SMOKE, ["3.1365 True"], "geos-"),
}


@dataclass(frozen=True)
class Repaired:
    unrepaired: Path
    repaired: Path
    report: dict[str, object]
    #: The DLLs the build machine had, under their plain names (the directory itself is gone).
    plain_dlls: frozenset[str]


def unrepair_and_repair(requirement: str, work: Path) -> Repaired:
    original = fetch_wheel(requirement, ["win_amd64"], python_version=PYTHON_VERSION)
    # fetch_wheel's cache is keyed by project, not version: make a stale entry visible.
    assert original.name.startswith(requirement.replace("==", "-") + "-"), original.name
    unrepaired, dlldir = unrepair_windows(original, work)
    plain = frozenset(p.name for p in dlldir.iterdir())
    result = subprocess.run(
        [sys.executable, "-m", "wheelrepair", "repair", str(unrepaired), "-w", str(work / "out"),
         "--lib-path", str(dlldir), "--json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # Nothing outside the wheel is left for the loader to find.
    shutil.rmtree(dlldir)
    [repaired] = (work / "out").glob("*.whl")
    return Repaired(unrepaired, repaired, json.loads(result.stdout), plain)


@pytest.fixture(scope="module")
def cpython312_under_wine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """python.exe of python.org's embeddable CPython 3.12 for x64."""
    return embedded_cpython(CACHE, tmp_path_factory.mktemp("cpython312"), version=f"{PYTHON_VERSION}.0")


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Repaired]:
    return {
        project: unrepair_and_repair(requirement, tmp_path_factory.mktemp(f"{project}-unrepaired"))
        for project, requirement in PROJECTS.items()
    }


def pe_members(wheel: Path) -> dict[str, tuple[str, ...]]:
    """Every PE file of ``wheel`` -> the DLLs it imports (delay-loaded included)."""
    backend = PEBackend()
    found = {}
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            with zf.open(info) as fh:
                if not backend.sniff(fh.read(64)):
                    continue
            binary = backend.read(zf.read(info), info.filename)
            found[info.filename] = tuple(dict.fromkeys(binary.needed + binary.delay_needed))
    return found


def beside(imports: dict[str, tuple[str, ...]], member: str) -> set[str]:
    """The DLLs shipped in ``member``'s own directory (where the loader looks for an extension's
    imports; scipy/special/libsf_error_state.dll is one)."""
    folder = member.rpartition("/")[0]
    return {m.rpartition("/")[2] for m in imports if m.rpartition("/")[0] == folder and m.endswith(".dll")}


def run_installed(python: Path, prefix: Path, wheels: list[Path], site: Path, code: str, dll: str) -> str:
    """Extract ``wheels`` into ``site`` (what pip does with a platlib wheel), run ``code`` there."""
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(site)
    script = f"import sys\nsys.path.insert(0, {windows_path(site)!r})\n{code}{WHERE_LOADED.format(dll=dll)}"
    result = run_wine(prefix, [str(python), "-c", script], timeout=600)
    return result.stdout + result.stderr


def pick(names: Iterable[str], prefix: str) -> str:
    """The one DLL name in ``names`` whose plain name starts with ``prefix`` ("geos-" matches geos.dll)."""
    [found] = [n for n in names if (plain_name(n).rsplit(".", 1)[0] + "-").casefold().startswith(prefix)]
    return found


def vendored_files(wheel: Repaired) -> set[str]:
    """File names of the DLLs the repair report says it vendored."""
    entries = cast("list[dict[str, str]]", wheel.report["vendored"])
    return {Path(entry["dest"]).name for entry in entries}


@pytest.mark.parametrize("project", PROJECTS)
def test_unrepaired_wheel_is_what_the_build_machine_made(projects: dict[str, Repaired], project: str) -> None:
    wheel = projects[project]
    imports = pe_members(wheel.unrepaired)
    assert not [m for m in imports if m.split("/")[0].endswith(".libs")]
    external = {
        n.casefold()
        for member, names in imports.items()
        for n in names
        if not is_system_dll(n) and n not in beside(imports, member)
    }
    # The wheel imports some of the build machine's DLLs directly (shapely: geos_c.dll only; GEOS
    # itself and msvcp140.dll come through it).
    assert external and external <= {n.casefold() for n in wheel.plain_dlls}
    with zipfile.ZipFile(wheel.unrepaired) as zf:
        init = zf.read(f"{project}/__init__.py").decode()
    assert "delvewheel" not in init
    ast.parse(init)


@pytest.mark.parametrize("project", PROJECTS)
def test_check_fails_before_repair_and_passes_after(projects: dict[str, Repaired], project: str) -> None:
    def check(wheel: Path) -> subprocess.CompletedProcess[str]:
        run = [sys.executable, "-m", "wheelrepair", "check", str(wheel)]
        return subprocess.run(run, capture_output=True, text=True, timeout=600)

    before, after = check(projects[project].unrepaired), check(projects[project].repaired)
    assert before.returncode == 1 and "not found" in before.stdout + before.stderr, before
    assert after.returncode == 0, after.stdout + after.stderr


@pytest.mark.parametrize("project", PROJECTS)
def test_every_import_is_a_system_dll_or_a_vendored_mangled_dll(
    projects: dict[str, Repaired], project: str
) -> None:
    wheel = projects[project]
    assert wheel.report["libs_dir"] == f"{project}.libs"
    imports = pe_members(wheel.repaired)
    vendored = {Path(m).name for m in imports if m.startswith(f"{project}.libs/")}
    # Each vendored DLL is one of the plain ones from the build machine, renamed with a digest.
    assert {plain_name(n).casefold() for n in vendored} == {n.casefold() for n in wheel.plain_dlls}
    assert all(re.fullmatch(r".+-[0-9a-f]{8}\.dll", n) for n in vendored), vendored
    assert vendored == vendored_files(wheel)
    for member, names in imports.items():
        stray = [n for n in names if not (is_system_dll(n) or n in vendored or n in beside(imports, member))]
        assert not stray, f"{member} imports {stray}"
    # Every vendored DLL is imported, under its new name, by some file of the wheel.
    imported = {n for names in imports.values() for n in names}
    assert vendored <= imported


@pytest.mark.parametrize("project", PROJECTS)
def test_repaired_wheel_runs_under_wine(
    projects: dict[str, Repaired],
    project: str,
    cpython312_under_wine: Path,
    wine_prefix: Path,
    tmp_path: Path,
) -> None:
    code, expected, prefix = SMOKES[project]
    wheel = projects[project]
    # scipy and shapely need numpy: the repaired one.
    wheels = [projects["numpy"].repaired] if project != "numpy" else []
    wheels.append(wheel.repaired)
    site = tmp_path / "site"
    dll = pick(vendored_files(wheel), prefix)
    output = run_installed(cpython312_under_wine, wine_prefix, wheels, site, code, dll)
    loaded = f"loaded {windows_path(site / f'{project}.libs' / dll)}"
    assert output.strip().splitlines() == [*expected, loaded], output


@pytest.mark.parametrize("project", PROJECTS)
def test_unrepaired_wheel_fails_to_import_under_wine(
    projects: dict[str, Repaired],
    project: str,
    cpython312_under_wine: Path,
    wine_prefix: Path,
    tmp_path: Path,
) -> None:
    # The project's own DLLs are missing; the numpy beneath it is the working, repaired one.
    code, expected, prefix = SMOKES[project]
    wheels = [projects["numpy"].repaired] if project != "numpy" else []
    wheels.append(projects[project].unrepaired)
    dll = pick(projects[project].plain_dlls, prefix)
    output = run_installed(cpython312_under_wine, wine_prefix, wheels, tmp_path / "site", code, dll)
    assert not set(expected) & set(output.splitlines()), output
    assert re.search(r"ImportError: DLL load failed while importing \w+", output), output
