"""End to end on a real project: numpy's Windows wheel from PyPI, with delvewheel's work undone, is
repaired on this Linux host, installed, and runs linear algebra through its vendored OpenBLAS in
python.org's Windows CPython under wine, with the build machine's DLL directory gone."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.pe_build import run_wine, windows_path
from tests.fixtures.pe_unrepair import plain_name, unrepair_windows
from tests.fixtures.pypi import fetch_wheel
from wheelrepair.formats.pe.backend import PEBackend
from wheelrepair.formats.pe.system_dlls import is_system_dll

pytestmark = [pytest.mark.network, pytest.mark.wine, pytest.mark.slow]

# The embeddable CPython the wine fixture runs (tests/fixtures/pe_build.py: embedded_cpython).
PYTHON_VERSION = "3.13"

# Inverting a random matrix goes through numpy.linalg's LAPACK calls into OpenBLAS; the module
# handle then shows which copy of the DLL the Windows loader actually mapped.
SMOKE = """
import sys
sys.path.insert(0, {site!r})
import ctypes, ctypes.wintypes
import numpy as np
a = np.random.default_rng(0).random((50, 50))
print(np.allclose(a @ np.linalg.inv(a), np.eye(50)))
kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
kernel32.GetModuleHandleW.restype = ctypes.wintypes.HMODULE
handle = kernel32.GetModuleHandleW({dll!r})
buffer = ctypes.create_unicode_buffer(1024)
kernel32.GetModuleFileNameW(ctypes.wintypes.HMODULE(handle), buffer, 1024)
print("loaded", buffer.value if handle else None)
"""


@dataclass(frozen=True)
class Repaired:
    unrepaired: Path
    repaired: Path
    report: dict[str, object]
    plain_dlls: frozenset[str]


@pytest.fixture(scope="module")
def numpy_wheels(tmp_path_factory: pytest.TempPathFactory) -> Repaired:
    """numpy for the wine CPython, unrepaired, then repaired from a DLL directory that is removed
    afterwards (nothing outside the wheel is left for the loader to find)."""
    original = fetch_wheel("numpy", ["win_amd64"], python_version=PYTHON_VERSION)
    work = tmp_path_factory.mktemp("numpy-unrepaired")
    unrepaired, dlldir = unrepair_windows(original, work)
    plain = frozenset(p.name for p in dlldir.iterdir())
    result = subprocess.run(
        [sys.executable, "-m", "wheelrepair", "repair", str(unrepaired), "-w", str(work / "out"),
         "--lib-path", str(dlldir), "--json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shutil.rmtree(dlldir)
    [repaired] = (work / "out").glob("*.whl")
    return Repaired(unrepaired, repaired, json.loads(result.stdout), plain)


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


def install(wheel: Path, site: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    return site


def run_smoke(python: Path, prefix: Path, site: Path, dll: str) -> str:
    code = SMOKE.format(site=windows_path(site), dll=dll)
    result = run_wine(prefix, [str(python), "-c", code], timeout=600)
    return result.stdout + result.stderr


def test_unrepaired_wheel_imports_the_plain_names(numpy_wheels: Repaired) -> None:
    # The rebuilt wheel looks like the build machine's: no libs directory, plain DLL names.
    imports = pe_members(numpy_wheels.unrepaired)
    assert not [m for m in imports if m.split("/")[0].endswith(".libs")]
    external = {n for names in imports.values() for n in names if not is_system_dll(n)}
    assert {n.casefold() for n in external} == {n.casefold() for n in numpy_wheels.plain_dlls}


def test_every_import_is_a_system_dll_or_a_vendored_mangled_dll(numpy_wheels: Repaired) -> None:
    report = numpy_wheels.report
    assert report["libs_dir"] == "numpy.libs"
    imports = pe_members(numpy_wheels.repaired)
    vendored = {Path(m).name for m in imports if m.startswith("numpy.libs/")}
    # Each vendored DLL is one of the plain ones from the build machine, renamed with a digest.
    assert {plain_name(n).casefold() for n in vendored} == {n.casefold() for n in numpy_wheels.plain_dlls}
    assert all(re.fullmatch(r".+-[0-9a-f]{8}\.dll", n) for n in vendored), vendored
    assert vendored == {Path(v["dest"]).name for v in report["vendored"]}  # type: ignore[index,union-attr]
    for member, names in imports.items():
        stray = [n for n in names if not is_system_dll(n) and n not in vendored]
        assert not stray, f"{member} imports {stray}"
    # And the extensions that use OpenBLAS now import the vendored copy.
    openblas = next(n for n in vendored if n.startswith("libscipy_openblas"))
    assert openblas in imports["numpy/linalg/_umath_linalg.cp313-win_amd64.pyd"]


def test_repaired_numpy_runs_openblas_under_wine(
    numpy_wheels: Repaired, cpython_under_wine: Path, wine_prefix: Path, tmp_path: Path
) -> None:
    site = install(numpy_wheels.repaired, tmp_path / "site")
    openblas = next(p.name for p in (site / "numpy.libs").iterdir() if p.name.startswith("libscipy_openblas"))
    output = run_smoke(cpython_under_wine, wine_prefix, site, openblas)
    lines = output.strip().splitlines()
    assert lines[:1] == ["True"], output
    expected = windows_path(site / "numpy.libs" / openblas)
    assert lines[1:2] == [f"loaded {expected}"], output


def test_unrepaired_numpy_fails_to_import_under_wine(
    numpy_wheels: Repaired, cpython_under_wine: Path, wine_prefix: Path, tmp_path: Path
) -> None:
    site = install(numpy_wheels.unrepaired, tmp_path / "site")
    output = run_smoke(cpython_under_wine, wine_prefix, site, "libscipy_openblas64_.dll")
    assert "True" not in output.splitlines()
    assert re.search(r"ImportError: DLL load failed while importing _multiarray_umath", output), output
