"""``--include`` on macOS: a dylib no binary links (the extension dlopen()s ``@rpath/libplug.dylib``)
is vendored under its own name, its dependency under a mangled one; the extension gets an LC_RPATH
to the libs directory, so dlopen's @rpath search from it finds the library, and an independent dyld
walk and signature check pass."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.macho_build import LIBB_C, build_dylib, compile_object, link_bundle, missing_tools
from tests.fixtures.wheels import make_wheel
from tests.macho import dyldwalk, sigcheck

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason="Mach-O toolchain missing")

PLUG_C = "int b_value(void);\nint plug_value(void) { return b_value() + 5; }\n"


def test_included_dylib_is_found_through_the_extensions_rpath(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    libb = build_dylib(lib / "libb.dylib", LIBB_C, "arm64", "@rpath/libb.dylib")
    build_dylib(
        lib / "libplug.dylib", PLUG_C, "arm64", "@rpath/libplug.dylib", link=[libb], rpaths=[str(lib)]
    )
    obj = compile_object(tmp_path / "ext.o", "int ext_value(void) { return 1; }\n", "arm64")
    ext = link_bundle(tmp_path / "_ext.so", [obj], "arm64", [], [], headerpad=0x1000)
    wheel = make_wheel(tmp_path / "in", {"demo/__init__.py": b"", "demo/_ext.so": ext},
                       tag="cp311-cp311-macosx_11_0_arm64")  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "wheelrepair", "repair", str(wheel), "-w", str(tmp_path / "out"), "--json",
         "--lib-path", str(lib), "--include", "libplug.dylib"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    dests = sorted(v["dest"] for v in report["vendored"])
    assert dests[0].startswith("demo.libs/libb-") and dests[1] == "demo.libs/libplug.dylib"
    root = tmp_path / "installed"
    binaries = dyldwalk.install(Path(report["output"]), root)
    assert dyldwalk.unresolved(root, binaries) == []
    assert all(sigcheck.verify(path) for path in binaries)  # arm64: every edited file signed again
    [ext_slice] = sigcheck.commands(root / "demo" / "_ext.so")
    assert ext_slice.rpaths == ["@loader_path/../demo.libs"]
    assert sigcheck.commands(root / "demo.libs" / "libplug.dylib")[0].install_name == "@rpath/libplug.dylib"
    assert (root / "demo" / ".." / "demo.libs" / "libplug.dylib").resolve().is_file()
