"""Windows: abi3 extensions built with mingw-w64 against the providers' real win_amd64 wheels, repaired
here, and imported by python.org's CPython under wine with the provider installed beside them."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.pe_build import have, run_wine, windows_path
from tests.fixtures.providers import (
    CASES,
    WINDOWS,
    ProviderCase,
    build_windows_extension,
    provider_wheel,
    unpack,
)
from tests.fixtures.wheels import make_wheel

pytestmark = [
    pytest.mark.wine,
    pytest.mark.network,
    pytest.mark.skipif(not have("x86_64-w64-mingw32-gcc"), reason="needs mingw-w64"),
]

PROBE = """
import sys, json, ctypes
sys.path.insert(0, {site!r})
import demo._ext as e
kernel32 = ctypes.WinDLL("kernel32")
kernel32.GetModuleHandleW.restype = ctypes.c_void_p
kernel32.GetModuleFileNameW.argtypes = [ctypes.c_void_p, ctypes.c_wchar_p, ctypes.c_uint]
buffer = ctypes.create_unicode_buffer(1024)
kernel32.GetModuleFileNameW(kernel32.GetModuleHandleW({library!r}), buffer, 1024)
print(json.dumps({{"value": e.value(), "loaded": buffer.value}}))
"""


@pytest.fixture(scope="module", params=sorted(CASES))
def repaired(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[ProviderCase, Path, Path, dict]:
    case = CASES[request.param]
    root = tmp_path_factory.mktemp(f"win-{case.key}")
    provider = provider_wheel(case, WINDOWS)
    unpacked = unpack(provider, root / "build" / "provider")
    ext = build_windows_extension(case, unpacked, root / "build" / "demo" / "_ext.pyd")
    files = {"demo/__init__.py": b'"""Demo."""\n', "demo/_ext.pyd": ext.read_bytes()}
    wheel = make_wheel(root / "dist", files, tag="cp38-abi3-win_amd64", requires=(case.name,))
    result = subprocess.run(
        [sys.executable, "-m", "wheelrepair", "repair", str(wheel), "-w", str(root / "out"), "--json",
         "--provider", str(provider)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return case, provider, Path(json.loads(result.stdout)["output"]), json.loads(result.stdout)


def test_repair_vendors_nothing_and_patches_the_package(repaired: tuple[ProviderCase, Path, Path, dict]) -> None:
    case, _provider, wheel, report = repaired
    _, libdir, library = case.windows
    assert report["vendored"] == []
    assert report["provided"] == [{"name": library, "provider": case.name, "path": f"{libdir}/{library}"}]
    with zipfile.ZipFile(wheel) as zf:
        init = zf.read("demo/__init__.py").decode()
        assert not [n for n in zf.namelist() if ".libs/" in n]
    assert init.startswith('"""Demo."""\n')
    assert repr(libdir) in init and repr(f"{libdir}/{library}") in init


def test_cpython_under_wine_loads_the_dll_from_the_provider(
    repaired: tuple[ProviderCase, Path, Path, dict], provider_cpython: Path, provider_wine_prefix: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    case, provider, wheel, _ = repaired
    _, libdir, library = case.windows
    site = tmp_path / "site"
    unpack(wheel, site)
    unpack(provider, site)  # installed beside it, in the same site-packages
    code = PROBE.format(site=windows_path(site), library=library)
    result = run_wine(provider_wine_prefix, [str(provider_cpython), "-c", code])
    assert result.returncode == 0, result.stdout + result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    if case.key == "openblas":
        assert loaded["value"] == 1 * 4 + 2 * 5 + 3 * 6
    else:
        major, minor = provider.name.split("-")[1].split(".")[:2]
        assert loaded["value"] == 1000 * int(major) + 10 * int(minor)
    assert loaded["loaded"].casefold() == windows_path(site / libdir / library).casefold()


def test_without_the_provider_the_import_names_it(
    repaired: tuple[ProviderCase, Path, Path, dict], provider_cpython: Path, provider_wine_prefix: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    case, _provider, wheel, _ = repaired
    site = tmp_path / "site"
    unpack(wheel, site)
    code = f"import sys; sys.path.insert(0, {windows_path(site)!r}); import demo._ext"
    result = run_wine(provider_wine_prefix, [str(provider_cpython), "-c", code])
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "ImportError" in output and case.windows[2] in output and f"install {case.name}" in output


def test_a_second_repair_changes_nothing(repaired: tuple[ProviderCase, Path, Path, dict], tmp_path: Path) -> None:
    _case, provider, wheel, _ = repaired
    result = subprocess.run(
        [sys.executable, "-m", "wheelrepair", "repair", str(wheel), "-w", str(tmp_path), "--json",
         "--provider", str(provider)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["changed"] is False
    assert (tmp_path / wheel.name).read_bytes() == wheel.read_bytes()
