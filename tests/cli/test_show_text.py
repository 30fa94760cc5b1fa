"""The human `show` output: the dependency tree's guides and nesting, plain text when piped, the same
text in colour when colour is asked for. The wheel is a real gcc-built one: two copies of an extension
that needs libA.so.1, which needs libB.so.2, both outside the wheel."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.elf_project import build_chain_wheel
from tests.fixtures.wheels import make_wheel

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def show(wheel: Path, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    result = subprocess.run([sys.executable, "-m", "wheelrepair", "show", str(wheel)], capture_output=True,
                            text=True, env={**environment, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def two_extensions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tree")
    project = build_chain_wheel(root)
    with zipfile.ZipFile(project.wheel) as built:
        (ext,) = (n for n in built.namelist() if n.endswith(".so"))
        data = built.read(ext)
    name = ext.rsplit("/", 1)[1]
    wheel = make_wheel(root / "two", {"chain/__init__.py": b"", f"chain/{name}": data, f"chain/sub/{name}": data},
                       name="chain")
    return wheel, project.libdir


def test_the_tree_nests_each_vendored_library_under_what_needs_it(two_extensions: tuple[Path, Path]) -> None:
    wheel, libdir = two_extensions
    lines = show(wheel).splitlines()
    ext = next(line for line in lines if line.startswith("├── ")).split()[1].rsplit("/", 1)[1]
    assert lines[0] == f"{wheel.name}  (linux)"
    tree = [re.sub(r",? +[0-9.]+ KiB$", "", line) for line in lines[1:7]]
    assert tree == [
        f"├── chain/{ext}  x86_64",
        f"│   └── libA.so.1  vendor  {libdir}/libA.so.1",
        f"│       └── libB.so.2  vendor  {libdir}/libB.so.2.0.1",
        f"└── chain/sub/{ext}  x86_64",
        f"    └── libA.so.1  vendor  {libdir}/libA.so.1",
        f"        └── libB.so.2  vendor  {libdir}/libB.so.2.0.1",
    ]
    assert lines[7] == "External libraries: 2 vendor"
    assert not ANSI.search("\n".join(lines))


def test_colour_adds_styles_and_changes_no_text(two_extensions: tuple[Path, Path]) -> None:
    wheel, _ = two_extensions
    plain = show(wheel)
    coloured = show(wheel, FORCE_COLOR="1")
    assert "\x1b[33mvendor\x1b[0m" in coloured  # the action in its colour
    assert ANSI.sub("", coloured).splitlines()[:8] == plain.splitlines()[:8]


def test_a_long_member_path_stays_on_one_line(tmp_path: Path, two_extensions: tuple[Path, Path]) -> None:
    wheel, _ = two_extensions
    with zipfile.ZipFile(wheel) as built:
        (ext,) = (n for n in built.namelist() if n.startswith("chain/sub/"))
        data = built.read(ext)
    deep = "chain/" + "/".join(f"level{i:02d}" for i in range(40)) + "/" + ext.rsplit("/", 1)[1]
    long_wheel = make_wheel(tmp_path, {"chain/__init__.py": b"", deep: data}, name="chain")
    assert len(deep) > 300
    assert any(line.startswith(f"└── {deep}  x86_64") for line in show(long_wheel).splitlines())


def test_an_output_without_box_drawing_gets_ascii_guides(two_extensions: tuple[Path, Path]) -> None:
    wheel, _ = two_extensions
    lines = show(wheel, PYTHONIOENCODING="cp1252").splitlines()  # a Windows pipe's encoding
    assert lines[1].startswith("+-- chain/") and lines[2].startswith("|   `-- libA.so.1  vendor")
    assert lines[4].startswith("`-- chain/sub/") and lines[5].startswith("    `-- libA.so.1  vendor")


def test_control_characters_in_a_member_name_cannot_forge_tree_lines(
    tmp_path: Path, two_extensions: tuple[Path, Path]
) -> None:
    wheel, _ = two_extensions
    with zipfile.ZipFile(wheel) as built:
        data = built.read(next(n for n in built.namelist() if n.startswith("chain/sub/")))
    hostile = make_wheel(tmp_path, {"chain/__init__.py": b"", "chain/a\n└── fake\r/_x.so": data}, name="chain")
    for env in ({}, {"FORCE_COLOR": "1"}):
        lines = ANSI.sub("", show(hostile, **env)).splitlines()
        assert lines[1].startswith("└── chain/a\\x0a└── fake\\x0d/_x.so  x86_64")
        assert lines[2].startswith("    └── libA.so.1  vendor")
