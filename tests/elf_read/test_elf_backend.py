"""The ELF backend's rewrite: a format-neutral BinaryEdit applied to real gcc-built libraries, read back
with readelf and loaded by the real loader."""

from __future__ import annotations

import shutil
from pathlib import Path

from wheelrepair.formats import backend_for
from wheelrepair.formats.elf.backend import ElfBackend, edit_request
from wheelrepair.formats.elf.reader import read_elf
from wheelrepair.model import BinaryEdit

from .conftest import NativeLibs
from .toolchain import readelf_dynamic, real_load


def test_registry_finds_the_elf_backend(native: NativeLibs) -> None:
    backend = backend_for(native.rpath.read_bytes()[:64])
    assert backend is not None and backend.format == "elf"


def test_rewrite_renames_needed_and_sets_runpath(native: NativeLibs, tmp_path: Path) -> None:
    """libA needs libB.so.1; after the edit it needs the mangled copy in ../demo.libs and loads."""
    pkg, libs = tmp_path / "pkg", tmp_path / "demo.libs"
    pkg.mkdir()
    libs.mkdir()
    target = pkg / "libA.so"
    shutil.copy(native.runpath, target)
    backend = ElfBackend()
    new_b = backend.library_filename("libB.so.1", str(native.root / "b" / "libB.so.1"), "0badc0de")
    new_c = backend.library_filename("libC.so.1", str(native.libc_dir / "libC.so.1"), "00c0ffee")
    shutil.copy(native.root / "b" / "libB.so.1", libs / new_b)
    shutil.copy(native.libc_dir / "libC.so.1", libs / new_c)
    backend.rewrite(
        target,
        BinaryEdit(
            replace_needed={"libB.so.1": new_b}, add_search_paths=("../demo.libs",), keep_search_paths=()
        ),
    )
    backend.rewrite(
        libs / new_b,
        BinaryEdit(replace_needed={"libC.so.1": new_c}, set_own_name=new_b, add_search_paths=(".",)),
    )
    backend.finalize(target)
    edited = readelf_dynamic(target)
    assert edited["needed"] == [new_b] and edited["runpath"] == "$ORIGIN/../demo.libs"
    assert readelf_dynamic(libs / new_b)["soname"] == new_b
    assert read_elf((libs / new_b).read_bytes(), new_b).runpaths == ("$ORIGIN",)
    loaded = real_load(target, tmp_path)
    assert loaded.get("mapped") == sorted(str(p) for p in (target, libs / new_b, libs / new_c))


def test_edit_request_keeps_existing_entries_when_asked(native: NativeLibs) -> None:
    rpath_lib = read_elf(native.rpath.read_bytes(), "a")
    runpath_lib = read_elf(native.runpath.read_bytes(), "a")
    kept = edit_request(BinaryEdit(add_search_paths=("../x.libs", "../x.libs", ".")), lambda: rpath_lib)
    assert kept.set_rpath == ("$ORIGIN/../b", "/opt/x", "$ORIGIN/../x.libs", "$ORIGIN")
    assert kept.force_rpath is True  # the file relied on DT_RPATH (inherited by its dependencies)
    dropped = edit_request(
        BinaryEdit(add_search_paths=("../x.libs",), keep_search_paths=("${ORIGIN}/../b",)),
        lambda: runpath_lib,
    )
    assert dropped.set_rpath == ("${ORIGIN}/../b", "$ORIGIN/../x.libs") and dropped.force_rpath is False
    untouched = edit_request(BinaryEdit(replace_needed={"a": "b"}), lambda: runpath_lib)
    assert untouched.set_rpath is None and untouched.replace_needed == (("a", "b"),)
