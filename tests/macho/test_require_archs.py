"""``--require-archs`` and the default architecture rule, in the shape of delocate's
test_fix_wheel_archs (test_scripts.py): a universal2 wheel whose vendored library, and then also its
extension, are thinned to one architecture. delocate's CLI needs otool, so its test's expectations are
the truth: which invocations pass and which fail, and that the failure names the file and the arch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.macho_build import fat_bundle, fat_dylib, missing_tools, thin
from tests.fixtures.wheels import make_wheel
from tests.macho import dyldwalk

NEEDS_B = "int b_value(void);\nint ext_value(void) { return b_value() * 2; }\n"
SLICES = {"x86_64": "10.13", "arm64": "11.0"}
TAGS = {
    "x86_64": "macosx_10_13_x86_64",
    "arm64": "macosx_11_0_arm64",
    "universal2": "macosx_10_13_universal2",
}


@pytest.fixture(autouse=True, scope="module")
def _toolchain() -> None:
    if missing_tools():
        pytest.skip(f"Mach-O toolchain missing: {', '.join(missing_tools())}")


def wheelrepair(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True)


def built(work: Path, lib_arch: str | None = None, ext_arch: str | None = None) -> Path:
    """A wheel whose extension loads libstray.dylib from the build tree; either may be thinned."""
    lib = fat_dylib(work / "build" / "libstray.dylib", SLICES, str(work / "build" / "libstray.dylib"))
    ext = fat_bundle(work / "ext" / "_ext.so", SLICES, NEEDS_B, dict.fromkeys(SLICES, lib))
    if lib_arch:
        thin(lib, lib_arch)
    if ext_arch:
        thin(ext, ext_arch)
    tag = TAGS[ext_arch or "universal2"]
    return make_wheel(work / "in", {"demo/__init__.py": b"", "demo/_ext.so": ext}, tag=f"cp311-cp311-{tag}")


@pytest.mark.parametrize("ok", ["universal2", "arm64", "x86_64", "arm64,x86_64", "x86_64 arm64"])
def test_fixed_wheel_meets_each_requirement_it_can(ok: str, tmp_path: Path) -> None:
    wheel = built(tmp_path)
    result = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"), "--require-archs", ok, "--json")
    assert result.returncode == 0, result.stderr
    output = Path(json.loads(result.stdout)["output"])
    root = tmp_path / "installed"
    assert dyldwalk.unresolved(root, dyldwalk.install(output, root)) == []


@pytest.mark.parametrize("arch", ["arm64", "x86_64"])
def test_thinned_wheel_fails_every_requirement_it_cannot_meet(arch: str, tmp_path: Path) -> None:
    other = ({"arm64", "x86_64"} - {arch}).pop()
    wheel = built(tmp_path, lib_arch=arch, ext_arch=arch)
    assert (
        wheelrepair("repair", str(wheel), "-w", str(tmp_path / "fine"), "--require-archs", arch).returncode
        == 0
    )
    for not_ok in ("intel", "arm64,x86_64", other):
        out = tmp_path / f"out-{not_ok}"
        result = wheelrepair("repair", str(wheel), "-w", str(out), "--require-archs", not_ok)
        assert result.returncode == 1, (not_ok, result.stderr)
        (line,) = result.stderr.strip().splitlines()
        lacking = "i386" if not_ok == "intel" else other
        # every Mach-O file is named: the extension and the library repair would vendor
        assert f"demo/_ext.so ({arch} macOS {SLICES[arch]}) lacks {lacking}" in line
        assert "libstray.dylib" in line and f"--require-archs {not_ok}" in line
        assert not out.exists() or not list(out.glob("*.whl"))


@pytest.mark.parametrize("arch", ["arm64", "x86_64"])
def test_thin_library_under_a_fat_extension_is_refused_by_default(arch: str, tmp_path: Path) -> None:
    # delocate-wheel passes this unless -k is given; a universal2 tag promises both slices load, so
    # wheelrepair refuses it as delocate -k does: naming the library and the arch it lacks
    other = ({"arm64", "x86_64"} - {arch}).pop()
    wheel = built(tmp_path, lib_arch=arch)
    result = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"))
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "libstray.dylib" in line and f"holds {arch} macOS {SLICES[arch]}, not {other}" in line


def test_unknown_arch_is_a_usage_error(tmp_path: Path) -> None:
    wheel = built(tmp_path)
    result = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"), "--require-archs", "x86-64")
    assert result.returncode == 2 and "--require-archs 'x86-64'" in result.stderr
