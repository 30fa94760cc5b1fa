"""A macOS wheel with an executable in ``<dist>.data/scripts`` that needs a vendored dylib: repair moves
it into site-packages behind a launcher, as on Linux, and the moved program resolves by dyld's rules
from its new place with a valid signature."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.fixtures.macho_build import MachOSet, zig_cc
from tests.fixtures.wheels import make_wheel
from tests.macho import dyldwalk, sigcheck

MAIN_C = '#include <stdio.h>\nint a_value(void);\nint main(void) { printf("%d\\n", a_value()); return 0; }\n'


def test_a_script_executable_moves_and_resolves_from_its_new_place(
    tree: dict[str, MachOSet], tmp_path: Path
) -> None:
    files = tree["arm64"]
    (tmp_path / "main.c").write_text(MAIN_C)
    program = tmp_path / "prog"
    zig_cc(["-o", str(program), str(tmp_path / "main.c"), str(files.liba)], "aarch64-macos.11.0")
    wheel = make_wheel(tmp_path / "in", {"demo/__init__.py": b"", "demo-1.0.data/scripts/prog": program},
                       tag="py3-none-macosx_11_0_arm64")
    result = subprocess.run([sys.executable, "-m", "wheelrepair", "repair", str(wheel), "-w", str(tmp_path / "out"),
                             "--json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["moved_scripts"] == [{"from": "demo-1.0.data/scripts/prog", "to": "demo.scripts/prog"}]
    output = Path(report["output"])
    with zipfile.ZipFile(output) as zf:
        assert zf.read("demo-1.0.data/scripts/prog").startswith(b"#!python\n")
    root = tmp_path / "installed"
    binaries = dyldwalk.install(output, root)
    moved = root / "demo.scripts" / "prog"
    assert moved in binaries
    assert "@loader_path/../demo.libs" in sigcheck.commands(moved)[0].rpaths
    assert dyldwalk.unresolved(root, binaries) == []
    assert [s.arch for s in sigcheck.verify(moved)] == ["arm64"]
