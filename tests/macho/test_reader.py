"""Reading real Mach-O files agrees with macholib and llvm-objdump; bad input is one clear error."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.macho_build import MachOSet
from tests.macho import sigcheck
from wheelrepair.errors import InvalidBinary
from wheelrepair.formats import backend_for
from wheelrepair.formats.macho.backend import MachOBackend

BACKEND = MachOBackend()


def test_every_fixture_reads_like_macholib(all_files: list[Path]) -> None:
    for path in all_files:
        binary = BACKEND.read(path.read_bytes(), path.name)
        independent = sigcheck.commands(path)
        slices = binary.slices or (binary,)
        assert [s.archs[0] for s in slices] == [i.arch for i in independent]
        for mine, theirs in zip(slices, independent):
            assert list(mine.needed) == theirs.needed, path
            assert sorted(mine.weak) == sorted(theirs.weak)
            assert list(mine.rpaths) == theirs.rpaths
            assert mine.soname == theirs.install_name
            assert mine.min_os == theirs.minos
            assert mine.signed == (theirs.codesig is not None)


def test_fixture_properties_are_what_the_toolchains_emit(tree: dict[str, MachOSet]) -> None:
    arm = BACKEND.read(tree["arm64"].liba.read_bytes(), "liba.dylib")
    assert arm.archs == ("arm64",) and arm.min_os == (11, 0) and arm.signed
    assert arm.soname == f"{tree['arm64'].dir}/liba.dylib"
    assert arm.needed == ("/usr/lib/libSystem.B.dylib", "@rpath/libb.dylib")
    intel = BACKEND.read(tree["x86_64"].ext.read_bytes(), "_ext.so")
    assert intel.archs == ("x86_64",) and intel.min_os == (10, 13) and not intel.signed
    assert intel.soname is None and not intel.executable
    fat = BACKEND.read(tree["fat"].ext.read_bytes(), "_ext.so")
    assert set(fat.archs) == {"x86_64", "arm64"} and len(fat.slices) == 2
    assert {s.archs[0]: s.min_os for s in fat.slices} == {"x86_64": (10, 13), "arm64": (11, 0)}
    assert fat.rpaths == (str(tree["fat"].dir), str(tree["fat"].dir / "unused"))


@pytest.mark.skipif(shutil.which("llvm-objdump") is None, reason="llvm-objdump not installed")
def test_dependencies_match_llvm_objdump(all_files: list[Path]) -> None:
    for path in all_files:
        out = subprocess.run(
            ["llvm-objdump", "--macho", "--dylibs-used", "--arch=all", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        listed = {line.split(" (")[0].strip() for line in out.splitlines()[1:] if "(compatibility" in line}
        binary = BACKEND.read(path.read_bytes(), path.name)
        own = {binary.soname} if binary.soname else set()  # objdump lists LC_ID_DYLIB too
        assert listed == set(binary.needed) | own, path


def test_weak_dependency_is_flagged(tmp_path: Path, tree: dict[str, MachOSet]) -> None:
    from tests.fixtures.macho_build import compile_object, link_bundle

    obj = compile_object(tmp_path / "w.o", "int w(void) { return 1; }\n", "arm64")
    bundle = link_bundle(
        tmp_path / "w.so", [obj], "arm64", [tree["arm64"].liba], [], weak_libs=[tree["arm64"].libb]
    )
    binary = BACKEND.read(bundle.read_bytes(), "w.so")
    assert binary.weak == frozenset({"@rpath/libb.dylib"})
    assert "@rpath/libb.dylib" in binary.needed


def test_executable_is_recognised(tmp_path: Path) -> None:
    from tests.fixtures.macho_build import zig_cc

    src = tmp_path / "main.c"
    src.write_text("int main(void) { return 0; }\n")
    zig_cc(["-o", str(tmp_path / "prog"), str(src)], "aarch64-macos.11.0")
    assert BACKEND.read((tmp_path / "prog").read_bytes(), "prog").executable


def test_sniff_accepts_mach_o_and_rejects_others(all_files: list[Path], tree: dict[str, MachOSet]) -> None:
    for path in all_files:
        head = path.read_bytes()[:64]
        assert BACKEND.sniff(head), path
        found = backend_for(head)
        assert found is not None and found.format == "macho"
    assert not BACKEND.sniff(Path(sys.executable).resolve().read_bytes()[:64])  # an ELF program
    assert not BACKEND.sniff((tree["arm64"].dir / "ext.o").read_bytes()[:64])  # relocatable object


@pytest.mark.skipif(shutil.which("javac") is None, reason="javac not installed")
def test_sniff_rejects_java_class_files(tmp_path: Path) -> None:
    # Java class files start with 0xCAFEBABE too, the fat Mach-O magic.
    (tmp_path / "Hello.java").write_text("class Hello { }\n")
    subprocess.run(
        ["javac", "-d", str(tmp_path), str(tmp_path / "Hello.java")], check=True, capture_output=True
    )
    head = (tmp_path / "Hello.class").read_bytes()[:64]
    assert head[:4] == b"\xca\xfe\xba\xbe"
    assert not BACKEND.sniff(head)


@pytest.mark.parametrize("cut", [20, 100, 1000, 5000])
def test_truncated_files_raise_one_line_invalid_binary(tree: dict[str, MachOSet], cut: int) -> None:
    data = tree["fat"].liba.read_bytes()
    for blob in (tree["arm64"].ext.read_bytes()[:cut], data[:cut]):
        with pytest.raises(InvalidBinary) as info:
            BACKEND.read(blob, "broken.dylib")
        assert str(info.value).startswith("broken.dylib: ") and "\n" not in str(info.value)


def test_sniff_rejects_universal_static_archives(tree: dict[str, MachOSet], tmp_path: Path) -> None:
    # A lipo'd .a has the fat magic and real CPU types, but holds ar archives that are never loaded.
    from tests.fixtures.macho_build import find_tool, lipo

    ar = find_tool("llvm-ar")
    if ar is None:
        pytest.skip("llvm-ar not installed")
    archives = []
    for arch in ("x86_64", "arm64"):
        archives.append(tmp_path / f"lib{arch}.a")
        subprocess.run([ar, "rcs", str(archives[-1]), str(tree[arch].dir / "ext.o")], check=True)
    fat = lipo(tmp_path / "libdemo.a", archives)
    assert fat.read_bytes()[:4] == b"\xca\xfe\xba\xbe"
    assert not BACKEND.sniff(fat.read_bytes()[:64])
