"""The loader patch: a marked block after the docstring and __future__ imports of the package's
__init__.py, replaced (never duplicated) by a later repair, and valid Python."""

from __future__ import annotations

import ast
import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

from wheelrepair.formats.pe.backend import PEBackend
from wheelrepair.formats.pe.loader import (
    BEGIN,
    END,
    extra_libs_dirs,
    libs_dir_for,
    loader_block,
    package_for,
    patch_init,
)

SOURCE = b'''#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""The package.

Spans lines."""
from __future__ import annotations
from __future__ import division

import os

VALUE = 1
'''


def support(
    members: dict[str, bytes], users: list[str], vendored: list[str], libs: str = "demo.libs"
) -> dict[str, bytes]:
    return dict(PEBackend().support_files(libs, vendored, users, list(members), members.__getitem__))


def compiles(source: bytes, tmp_path: Path) -> None:
    path = tmp_path / "__init__.py"
    path.write_bytes(source)
    py_compile.compile(str(path), doraise=True)


def test_block_goes_after_docstring_and_future_imports(tmp_path: Path) -> None:
    out = patch_init(SOURCE, loader_block(1, "demo.libs", ["libB-1.dll", "libA-2.dll"]))
    lines = out.decode().splitlines()
    assert lines.index(BEGIN) == lines.index("from __future__ import division") + 1
    assert lines.index("import os") > lines.index(END)
    compiles(out, tmp_path)


def test_patching_twice_replaces_the_block(tmp_path: Path) -> None:
    once = patch_init(SOURCE, loader_block(1, "demo.libs", ["libA-1.dll"]))
    assert patch_init(once, loader_block(1, "demo.libs", ["libA-1.dll"])) == once
    twice = patch_init(once, loader_block(1, "demo.libs", ["libA-3.dll"]))
    assert twice.count(BEGIN.encode()) == 1 and b"libA-3.dll" in twice and b"libA-1.dll" not in twice
    compiles(twice, tmp_path)


@pytest.mark.parametrize(
    "source",
    [
        b"",
        b"x = 1",
        b'"""Only a docstring."""',
        b"from __future__ import annotations\r\nx = 1\r\n",
        "é = 1\n".encode(),
    ],
)
def test_any_init_stays_valid(source: bytes, tmp_path: Path) -> None:
    out = patch_init(source, loader_block(2, "demo.libs", ["a.dll"]))
    compiles(out, tmp_path)
    assert out.count(BEGIN.encode()) == 1
    if b"\r\n" in source:
        assert b"\n" not in out.replace(b"\r\n", b"")


@pytest.mark.parametrize("odd", ["\x0c", "\x1c", "\x85", "\u2028"])
def test_characters_str_splitlines_breaks_at_stay_inside_the_docstring(odd: str, tmp_path: Path) -> None:
    # Python does not end a line at these; a block counted by str.splitlines landed inside the
    # docstring, where it never runs.
    docstring = f"Section one.{odd}Section two."
    source = f'"""{docstring}"""\nimport os\n'.encode()
    out = patch_init(source, loader_block(1, "demo.libs", ["a.dll"]))
    compiles(out, tmp_path)
    tree = ast.parse(out)
    assert ast.get_docstring(tree, clean=False) == docstring
    assert isinstance(tree.body[1], ast.FunctionDef) and tree.body[1].name == "_wheelrepair_load_dlls"


def test_latin1_encoded_init_keeps_its_encoding(tmp_path: Path) -> None:
    source = "# -*- coding: latin-1 -*-\nname = 'café'\n".encode("latin-1")
    out = patch_init(source, loader_block(1, "demo.libs", ["a.dll"]))
    compiles(out, tmp_path)
    assert "café".encode("latin-1") in out


def test_block_runs_and_does_nothing_off_windows(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_bytes(patch_init(SOURCE, loader_block(1, "demo.libs", ["a.dll"])))
    result = subprocess.run(
        [sys.executable, "-c", "import pkg; print(pkg.VALUE, [n for n in vars(pkg) if 'wheelrepair' in n])"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert result.stdout.split() == ["1", "[]"]


def test_support_files_patch_each_top_level_package_once() -> None:
    members = {
        "pkg/__init__.py": b"x = 1\n",
        "pkg/sub/__init__.py": b"",
        "pkg/sub/_a.pyd": b"",
        "pkg/_b.pyd": b"",
        "other/__init__.py": b"",
        "demo-1.0.data/platlib/plat/__init__.py": b"",
        "demo-1.0.data/platlib/plat/_c.pyd": b"",
    }
    files = support(
        members,
        ["pkg/sub/_a.pyd", "pkg/_b.pyd", "demo-1.0.data/platlib/plat/_c.pyd"],
        ["demo.libs/libB-1.dll", "demo.libs/libA-2.dll"],
    )
    assert sorted(files) == ["demo-1.0.data/platlib/plat/__init__.py", "pkg/__init__.py"]
    text = files["pkg/__init__.py"].decode()
    assert "os.path.join(os.path.dirname(__file__), os.pardir, 'demo.libs')" in text
    assert text.index("libB-1.dll") < text.index("libA-2.dll")  # dependencies first


def test_namespace_packages_patch_the_first_regular_package() -> None:
    members = {"ns/sub/__init__.py": b"", "ns/sub/_ext.pyd": b""}
    assert package_for("ns/sub/_ext.pyd", members) == "ns/sub"
    files = support(members, ["ns/sub/_ext.pyd"], ["demo.libs/libA-2.dll"])
    assert list(files) == ["ns/sub/__init__.py"]
    assert "os.pardir, os.pardir, 'demo.libs'" in files["ns/sub/__init__.py"].decode()


def test_extensions_without_a_package_get_their_dlls_beside_them() -> None:
    members = ["_root.pyd", "pkg/__init__.py", "pkg/_ext.pyd", "ns/_nsext.pyd"]
    assert libs_dir_for("demo.libs", ["pkg/_ext.pyd"], members) == "demo.libs"
    assert libs_dir_for("demo.libs", ["_root.pyd", "pkg/_ext.pyd"], members) == ""
    assert libs_dir_for("demo.libs", ["ns/_nsext.pyd"], members) == "ns"
    # Several such directories: one holds the DLLs, the others get copies.
    assert libs_dir_for("demo.libs", ["_root.pyd", "ns/_nsext.pyd"], members) == ""
    assert extra_libs_dirs("", ["_root.pyd", "ns/_nsext.pyd"], members) == ("ns",)
    assert libs_dir_for("demo.libs", ["pkg/_ext.pyd", "ns/_nsext.pyd"], members) == "demo.libs"
    assert extra_libs_dirs("demo.libs", ["pkg/_ext.pyd", "ns/_nsext.pyd"], members) == ("ns",)
    # With the DLLs at the root, the package's block adds the root directory.
    files = support({m: b"" for m in members}, ["_root.pyd", "pkg/_ext.pyd"], ["libA-2.dll"], libs="")
    assert list(files) == ["pkg/__init__.py"]
    assert "os.path.join(os.path.dirname(__file__), os.pardir))" in files["pkg/__init__.py"].decode()


def test_a_later_repair_keeps_earlier_preloads() -> None:
    first = support({"pkg/__init__.py": b"", "pkg/_a.pyd": b""}, ["pkg/_a.pyd"], ["demo.libs/libA-1.dll"])
    members = {**first, "pkg/_a.pyd": b"", "pkg/_c.pyd": b"", "demo.libs/libA-1.dll": b""}
    second = support(members, ["pkg/_c.pyd"], ["demo.libs/libC-3.dll"])
    text = second["pkg/__init__.py"].decode()
    assert text.count(BEGIN) == 1 and text.index("libA-1.dll") < text.index("libC-3.dll")


def test_an_extension_outside_any_package_gets_no_patch() -> None:
    members = {"_root.pyd": b"", "ns/_nsext.pyd": b""}
    assert support(members, ["ns/_nsext.pyd"], ["ns/libA-2.dll"], libs="ns") == {}
    assert support(members, ["_root.pyd", "ns/_nsext.pyd"], ["libA-2.dll"], libs="") == {}
