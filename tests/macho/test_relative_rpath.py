"""A relative LC_RPATH (a build tree's ``libs/``) is searched under the current directory, as dyld
does at run time and delocate does when it resolves dependencies (``resolve_dynamic_paths``, pure
Python, is the truth here), with a warning that the answer depends on where the command runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.macho_build import LIBB_C, build_dylib, compile_object, link_bundle, missing_tools
from tests.fixtures.wheels import make_wheel
from tests.macho import dyldwalk, sigcheck

NEEDS_B = "int b_value(void);\nint ext_value(void) { return b_value() * 2; }\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if missing_tools():
        pytest.skip(f"Mach-O toolchain missing: {', '.join(missing_tools())}")
    work = tmp_path_factory.mktemp("relrpath")
    build = work / "build"
    (build / "libs").mkdir(parents=True)
    libb = build_dylib(build / "libs" / "libb.dylib", LIBB_C, "arm64", "@rpath/libb.dylib")
    obj = compile_object(build / "ext.o", NEEDS_B, "arm64")
    ext = link_bundle(build / "_ext.so", [obj], "arm64", [libb], ["libs"])
    wheel = make_wheel(work / "in", {"demo/_ext.so": ext}, tag="cp311-cp311-macosx_11_0_arm64")
    return build, wheel


def wheelrepair(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True, cwd=cwd
    )


def test_relative_rpath_resolves_against_the_current_directory(
    project: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build, wheel = project
    shown = wheelrepair("show", "--json", str(wheel), cwd=build)
    assert shown.returncode == 0, shown.stderr
    (vendor,) = [e for e in json.loads(shown.stdout)["external"] if e["action"] == "vendor"]
    libsana = pytest.importorskip("delocate.libsana")
    monkeypatch.chdir(build)
    theirs = libsana.resolve_dynamic_paths("@rpath/libb.dylib", ["libs"], str(build))
    assert vendor["path"] == theirs == str(build / "libs" / "libb.dylib")
    assert "LC_RPATH 'libs' is relative" in shown.stderr and str(build / "libs") in shown.stderr

    result = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"), "--json", cwd=build)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("is relative") == 1  # once, however often it is looked at
    output = Path(json.loads(result.stdout)["output"])
    root = tmp_path / "installed"
    binaries = dyldwalk.install(output, root)
    assert dyldwalk.unresolved(root, binaries) == []
    (ext_slice,) = sigcheck.commands(root / "demo" / "_ext.so")
    assert "libs" not in ext_slice.rpaths  # the build tree's entry is gone
    assert all(sigcheck.verify(p) for p in binaries)


def test_from_another_directory_the_library_is_missing(project: tuple[Path, Path], tmp_path: Path) -> None:
    _build, wheel = project
    result = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 1
    assert f"{tmp_path}/libs/libb.dylib" in result.stderr and "is relative" in result.stderr
