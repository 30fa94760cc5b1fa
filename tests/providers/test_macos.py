"""macOS: an arm64 extension built with zig against scipy-openblas32's real macOS wheel, repaired to
find the provider's dylib through an LC_RPATH relative to itself, checked by the independent dyld
walk and signature check in tests/macho."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.macho_build import build_dylib, compile_object, link_bundle, missing_tools
from tests.fixtures.providers import CASES, MACOS_ARM64, build_macos_extension, provider_wheel, unpack
from tests.fixtures.wheels import make_wheel
from tests.macho import dyldwalk, sigcheck

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(bool(missing_tools()), reason=f"needs {', '.join(missing_tools())}"),
]


MEMBER = "demo/_ext.cpython-311-darwin.so"


def _repaired_with(provider: Path, ext: Path, requires: str, tmp_path: Path) -> dict[str, Any]:
    """Wrap ``ext`` into an arm64 wheel declaring ``requires`` and repair it with ``--provider``."""
    wheel = make_wheel(tmp_path / "dist", {"demo/__init__.py": b"", MEMBER: ext.read_bytes()},
                       tag="cp311-cp311-macosx_11_0_arm64", requires=(requires,))  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "wheelrepair", "repair", str(wheel), "-w", str(tmp_path / "out"), "--json",
         "--provider", str(provider)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_openblas_consumer_resolves_inside_itself_and_the_provider(tmp_path: Path) -> None:
    case = CASES["openblas"]
    provider = provider_wheel(case, MACOS_ARM64)
    unpacked = unpack(provider, tmp_path / "build" / "provider")
    ext = build_macos_extension(case, unpacked, tmp_path / "build" / "_ext.so")
    report = _repaired_with(provider, ext, case.name, tmp_path)
    _, libdir, library = case.macos
    assert report["vendored"] == []
    assert report["provided"] == [{"name": f"@rpath/{library}", "provider": case.name, "path": f"{libdir}/{library}"}]

    site = tmp_path / "site"
    ours = dyldwalk.install(Path(report["output"]), site)
    [repaired_ext] = ours
    [info] = sigcheck.commands(repaired_ext)
    assert info.rpaths == [f"@loader_path/../{libdir}"]  # the build tree's LC_RPATH is gone
    assert len(sigcheck.verify(repaired_ext)) == 1
    # Without the provider installed, dyld finds nothing; with it beside, every name resolves.
    assert dyldwalk.unresolved(site, ours) == [f"{MEMBER}: @rpath/{library}"]
    theirs = dyldwalk.install(provider, site)
    assert dyldwalk.unresolved(site, [*ours, *theirs]) == []
    with zipfile.ZipFile(report["output"]) as zf:
        assert not [n for n in zf.namelist() if ".libs/" in n]


def test_an_absolute_install_name_from_the_build_machine_becomes_rpath(tmp_path: Path) -> None:
    """Linked against a build-tree copy whose install name is its absolute path: the reference is
    renamed to @rpath/<file> and found in the provider through the new LC_RPATH."""
    case = CASES["openblas"]
    provider = provider_wheel(case, MACOS_ARM64)
    _, libdir, library = case.macos
    build = tmp_path / "build"
    build.mkdir()
    copy = build_dylib(build / library, "double scipy_cblas_ddot(int n, const double *x, int incx, const double *y, "
                       "int incy) { return 0; }\n", "arm64", str(build / library))  # fmt: skip
    obj = compile_object(build / "ext.o", "double scipy_cblas_ddot(int, const double *, int, const double *, int);\n"
                         "double f(void) { double x = 1; return scipy_cblas_ddot(1, &x, 1, &x, 1); }\n", "arm64")  # fmt: skip
    ext = link_bundle(build / "_ext.so", [obj], "arm64", [copy], [])
    report = _repaired_with(provider, ext, case.name, tmp_path)
    assert report["vendored"] == [] and [p["name"] for p in report["provided"]] == [str(build / library)]
    site = tmp_path / "site"
    ours = dyldwalk.install(Path(report["output"]), site)
    [info] = sigcheck.commands(ours[0])
    assert f"@rpath/{library}" in info.needed and str(build / library) not in info.needed
    assert info.rpaths == [f"@loader_path/../{libdir}"]
    assert len(sigcheck.verify(ours[0])) == 1
    assert dyldwalk.unresolved(site, [*ours, *dyldwalk.install(provider, site)]) == []
