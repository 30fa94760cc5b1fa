"""The strongest proof: python.org's Windows CPython, under wine, imports an extension module from
a wheel repaired on this Linux host and calls through it into the vendored DLLs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.pe_build import build_dll, build_python_extension, run_wine, windows_path
from tests.fixtures.wheels import make_wheel

pytestmark = [pytest.mark.wine, pytest.mark.network]

CALL = (
    "import sys; sys.path.insert(0, {site!r}); {prelude}import pkg._ext as e; print('result', e.ext_value())"
)


@pytest.fixture(scope="module", params=["mingw_chain", "delay_chain"])
def wheels(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(unrepaired, repaired) wheels holding a real abi3 extension that needs libA.dll -> libB.dll
    (with delay_chain, libA.dll delay-loads libB.dll)."""
    chain = request.getfixturevalue(request.param)
    root = tmp_path_factory.mktemp(f"cpython-{request.param}")
    ext = build_python_extension(root / "build" / "_ext.pyd", chain["libA"])
    init = b'"""Demo."""\nfrom __future__ import annotations\n\nVALUE = 1\n'
    wheel = make_wheel(
        root / "dist", {"pkg/__init__.py": init, "pkg/_ext.pyd": ext}, tag="cp38-abi3-win_amd64"
    )
    result = subprocess.run(
        [sys.executable, "-m", "wheelrepair", "repair", str(wheel), "-w", str(root / "out"),
         "--lib-path", str(chain["libA"].parent), "--lib-path", str(chain["libB"].parent)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [repaired] = (root / "out").glob("*.whl")
    return wheel, repaired


def run_python(python: Path, prefix: Path, wheel: Path, site: Path, prelude: str = "") -> str:
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    code = CALL.format(site=windows_path(site), prelude=prelude)
    result = run_wine(prefix, [str(python), "-c", code])
    return result.stdout + result.stderr


def test_cpython_imports_the_repaired_extension(
    wheels: tuple[Path, Path], cpython_under_wine: Path, wine_prefix: Path, tmp_path: Path
) -> None:
    _unrepaired, repaired = wheels
    output = run_python(cpython_under_wine, wine_prefix, repaired, tmp_path / "site")
    assert output.strip() == "result 420", output


def test_preloading_alone_suffices_where_added_directories_are_ignored(
    wheels: tuple[Path, Path], cpython_under_wine: Path, wine_prefix: Path, tmp_path: Path
) -> None:
    # conda's Python and embedding applications do not honour os.add_dll_directory for extensions.
    prelude = "import os; os.add_dll_directory = lambda path: None; "
    output = run_python(cpython_under_wine, wine_prefix, wheels[1], tmp_path / "site", prelude)
    assert output.strip() == "result 420", output


def test_cpython_cannot_import_the_unrepaired_extension(
    wheels: tuple[Path, Path], cpython_under_wine: Path, wine_prefix: Path, tmp_path: Path
) -> None:
    output = run_python(cpython_under_wine, wine_prefix, wheels[0], tmp_path / "site")
    assert "ImportError: DLL load failed while importing _ext" in output


def test_a_vendored_dll_that_cannot_load_does_not_break_the_import(
    mingw_chain: dict[str, Path], cpython_under_wine: Path, wine_prefix: Path, tmp_path: Path
) -> None:
    """A plugin DLL of the package needs libP.dll, whose own dependency libQ.dll is --exclude'd and
    absent on the user's machine (netCDF4's HDF5 filter plugins: blosc needs snappy). The loader
    patch preloads libP and fails: the package and its extension must import all the same."""
    lib_q = build_dll(tmp_path / "q" / "libQ.dll", "__declspec(dllexport) int q_value(void) { return 1; }\n")
    lib_p = build_dll(
        tmp_path / "p" / "libP.dll",
        "__declspec(dllimport) int q_value(void);\n__declspec(dllexport) int p_value(void) { return q_value(); }\n",
        links=[lib_q],
    )
    plugin = build_dll(
        tmp_path / "build" / "plugin.dll",
        "__declspec(dllimport) int p_value(void);\n__declspec(dllexport) int plugin_value(void) { return p_value(); }\n",
        links=[lib_p],
    )
    ext = build_python_extension(tmp_path / "build" / "_ext.pyd", mingw_chain["libA"])
    files = {"pkg/__init__.py": b"VALUE = 1\n", "pkg/_ext.pyd": ext, "pkg/plugins/plugin.dll": plugin}
    wheel = make_wheel(tmp_path / "dist", files, tag="cp38-abi3-win_amd64")
    dirs = [str(d) for d in (mingw_chain["libA"].parent, mingw_chain["libB"].parent, lib_p.parent, lib_q.parent)]
    result = subprocess.run(
        [sys.executable, "-m", "wheelrepair", "repair", str(wheel), "-w", str(tmp_path / "out"),
         "--exclude", "libQ.dll", *[a for d in dirs for a in ("--lib-path", d)]],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [repaired] = (tmp_path / "out").glob("*.whl")
    with zipfile.ZipFile(repaired) as zf:
        assert any(n.startswith("demo.libs/libP-") for n in zf.namelist())
    output = run_python(cpython_under_wine, wine_prefix, repaired, tmp_path / "site")
    assert output.strip() == "result 420", output


def test_namespace_package_extension_with_dlls_beside_it(
    mingw_chain: dict[str, Path], cpython_under_wine: Path, wine_prefix: Path, tmp_path: Path
) -> None:
    # No __init__.py runs before ns/_ext.pyd (PEP 420), so its DLLs go into its own directory.
    ext = build_python_extension(tmp_path / "build" / "_ext.pyd", mingw_chain["libA"])
    wheel = make_wheel(tmp_path / "dist", {"ns/_ext.pyd": ext}, tag="cp38-abi3-win_amd64")
    lib_path = ["--lib-path", str(mingw_chain["libA"].parent), "--lib-path", str(mingw_chain["libB"].parent)]
    run = [sys.executable, "-m", "wheelrepair", "repair", str(wheel), *lib_path, "--json"]
    # Without --lib-sdir the Windows backend chooses the extension's own directory by itself.
    result = subprocess.run([*run, "-w", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["libs_dir"] == "ns"
    [repaired] = (tmp_path / "out").glob("*.whl")
    with zipfile.ZipFile(repaired) as zf:
        assert not [n for n in zf.namelist() if n.endswith("__init__.py")]
        zf.extractall(tmp_path / "site")
    code = f"import sys; sys.path.insert(0, {windows_path(tmp_path / 'site')!r}); import ns._ext as e; print('result', e.ext_value())"
    output = run_wine(wine_prefix, [str(cpython_under_wine), "-c", code])
    assert output.stdout.strip() == "result 420", output.stdout + output.stderr


@pytest.mark.parametrize("prelude", ["", "import os; os.add_dll_directory = lambda path: None; "])
def test_included_dll_that_the_extension_loads_by_name_is_found(
    mingw_chain: dict[str, Path], cpython_under_wine: Path, wine_prefix: Path, tmp_path: Path, prelude: str
) -> None:
    """--include libC.dll: no import directory names it (the extension calls LoadLibraryA("libC.dll")
    at run time); repair vendors it under its own name with libB.dll, which it imports, mangled."""
    from tests.fixtures.pe_build import PY_EXT_LOADLIBRARY, build_dll

    lib_c = build_dll(
        tmp_path / "plugins" / "libC.dll",
        "__declspec(dllimport) int b_value(void);\n__declspec(dllexport) int c_value(void) { return b_value() + 2; }\n",
        links=[mingw_chain["libB"]],
    )
    ext = build_python_extension(tmp_path / "build" / "_ext.pyd", None, source=PY_EXT_LOADLIBRARY)
    init = b'"""Demo."""\n'
    wheel = make_wheel(
        tmp_path / "dist", {"pkg/__init__.py": init, "pkg/_ext.pyd": ext}, tag="cp38-abi3-win_amd64"
    )
    unrepaired = run_python(cpython_under_wine, wine_prefix, wheel, tmp_path / "plain", prelude)
    assert unrepaired.strip() == "result -126", unrepaired  # -ERROR_MOD_NOT_FOUND
    result = subprocess.run(
        [sys.executable, "-m", "wheelrepair", "repair", str(wheel), "-w", str(tmp_path / "out"), "--json",
         "--include", "libC.dll", "--add-path", f"{lib_c.parent}{os.pathsep}{mingw_chain['libB'].parent}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    dests = sorted(v["dest"] for v in json.loads(result.stdout)["vendored"])
    assert dests[0].startswith("demo.libs/libB-") and dests[1] == "demo.libs/libC.dll"
    [repaired] = (tmp_path / "out").glob("*.whl")
    output = run_python(cpython_under_wine, wine_prefix, repaired, tmp_path / "site", prelude)
    assert output.strip() == "result 420", output


def test_namespace_packages_of_every_kind_import(
    mingw_chain: dict[str, Path], cpython_under_wine: Path, wine_prefix: Path, tmp_path: Path
) -> None:
    """One wheel: an extension in a PEP 420 namespace package, one in a pkgutil-style namespace
    package (whose __init__.py must stay as it is), and one in a regular package below it. Each
    imports under CPython with its DLLs where Windows looks for it."""
    ext = build_python_extension(tmp_path / "build" / "_ext.pyd", mingw_chain["libA"])
    pkgutil_init = b"__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
    files = {"ns/_ext.pyd": ext, "pu/__init__.py": pkgutil_init, "pu/_ext.pyd": ext,
             "pu/reg/__init__.py": b"", "pu/reg/_ext.pyd": ext}  # fmt: skip
    wheel = make_wheel(tmp_path / "dist", files, tag="cp38-abi3-win_amd64")
    result = subprocess.run(
        [sys.executable, "-m", "wheelrepair", "repair", str(wheel), "-w", str(tmp_path / "out"), "--json",
         "--lib-path", str(mingw_chain["libA"].parent), "--lib-path", str(mingw_chain["libB"].parent)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["libs_dir"], report["copied_to"]) == ("demo.libs", ["ns", "pu"])
    [repaired] = (tmp_path / "out").glob("*.whl")
    with zipfile.ZipFile(repaired) as zf:
        assert zf.read("pu/__init__.py") == pkgutil_init
        assert "wheelrepair loader patch" in zf.read("pu/reg/__init__.py").decode()
        zf.extractall(tmp_path / "site")
    code = (
        f"import sys; sys.path.insert(0, {windows_path(tmp_path / 'site')!r}); "
        "import ns._ext, pu._ext, pu.reg._ext; "
        "print('result', ns._ext.ext_value(), pu._ext.ext_value(), pu.reg._ext.ext_value())"
    )
    output = run_wine(wine_prefix, [str(cpython_under_wine), "-c", code])
    assert output.stdout.strip() == "result 420 420 420", output.stdout + output.stderr
