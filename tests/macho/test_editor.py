"""Editing load commands of real binaries: the result re-reads (by macholib and llvm-objdump), carries a
valid signature when it had one, edits are idempotent, and a lack of room is a clear error."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.macho_build import EXT_C, MachOSet, compile_object, find_tool, link_bundle, lipo
from tests.macho import sigcheck
from wheelrepair.errors import EditError, UsageError
from wheelrepair.formats.base import PatchRequest
from wheelrepair.formats.macho.backend import MachOBackend
from wheelrepair.model import BinaryEdit

BACKEND = MachOBackend()
CS_ADHOC = 0x2


def copy(src: Path, tmp_path: Path) -> Path:
    dest = tmp_path / src.parent.name / src.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)
    return dest


def repair_edit(old: str) -> BinaryEdit:
    """What repair asks of an extension whose liba is vendored into ../demo.libs."""
    return BinaryEdit(
        replace_needed={old: "@rpath/liba-0123abcd.dylib"},
        add_search_paths=("../demo.libs",),
        keep_search_paths=(),
    )


def objdump_ok(path: Path) -> str:
    result = subprocess.run(
        ["llvm-objdump", "--macho", "--private-headers", "--arch=all", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "malformed" not in result.stderr, result.stderr
    return result.stdout


@pytest.mark.parametrize("kind", ["arm64", "x86_64", "fat"])
@pytest.mark.parametrize("padding", ["ext", "ext_roomy"])
def test_repair_edit_of_extension(tree: dict[str, MachOSet], tmp_path: Path, kind: str, padding: str) -> None:
    src = getattr(tree[kind], padding)
    path = copy(src, tmp_path)
    before = BACKEND.read(path.read_bytes(), path.name)
    BACKEND.rewrite(path, repair_edit(before.needed[0]))
    for info in sigcheck.commands(path):
        assert info.needed == ["@rpath/liba-0123abcd.dylib"]
        assert info.rpaths == ["@loader_path/../demo.libs"]
    text = objdump_ok(path)
    assert "@rpath/liba-0123abcd.dylib" in text and str(tree[kind].dir) not in text
    signatures = {s.arch: s for s in sigcheck.verify(path)}
    expected_signed = {s.archs[0] for s in (before.slices or (before,)) if s.signed}
    assert set(signatures) == expected_signed  # arm64 re-signed, x86_64 left unsigned
    for sig in signatures.values():
        assert sig.flags == CS_ADHOC and sig.blob_types == (0, 2, 0x10000)
        assert sig.identifier == path.name and sig.page_size == 4096
    after = BACKEND.read(path.read_bytes(), path.name)
    assert after.archs == before.archs and after.min_os == before.min_os


@pytest.mark.parametrize("kind", ["arm64", "fat"])
def test_edits_are_idempotent(tree: dict[str, MachOSet], tmp_path: Path, kind: str) -> None:
    path = copy(tree[kind].ext, tmp_path)
    edit = repair_edit(BACKEND.read(path.read_bytes(), path.name).needed[0])
    BACKEND.rewrite(path, edit)
    BACKEND.finalize(path)
    once = path.read_bytes()
    BACKEND.rewrite(path, edit)
    BACKEND.finalize(path)
    assert path.read_bytes() == once
    keep = BinaryEdit(add_search_paths=("../demo.libs",), keep_search_paths=("@loader_path/../demo.libs",))
    BACKEND.rewrite(path, keep)
    assert path.read_bytes() == once


def test_tight_padding_fits_by_reusing_deleted_rpaths(tree: dict[str, MachOSet], tmp_path: Path) -> None:
    path = copy(tree["arm64"].ext, tmp_path)
    assert BACKEND.read(path.read_bytes(), path.name).rpaths  # build-machine entries to drop
    old = BACKEND.read(path.read_bytes(), path.name).needed[0]
    long_name = "@rpath/" + "x" * (len(old) + 24) + ".dylib"
    with pytest.raises(EditError):
        BACKEND.rewrite(path, BinaryEdit(replace_needed={old: long_name}, add_search_paths=("../demo.libs",)))
    BACKEND.rewrite(
        path,
        BinaryEdit(replace_needed={old: long_name}, add_search_paths=("../demo.libs",), keep_search_paths=()),
    )  # dropping rpaths frees room
    assert BACKEND.read(path.read_bytes(), path.name).needed == (long_name,)


def test_no_room_is_an_error_naming_file_and_bytes(tree: dict[str, MachOSet], tmp_path: Path) -> None:
    path = copy(tree["arm64"].ext, tmp_path)
    original = path.read_bytes()
    old = BACKEND.read(original, path.name).needed[0]
    with pytest.raises(EditError) as info:
        BACKEND.rewrite(
            path, BinaryEdit(replace_needed={old: "@rpath/" + "y" * 400 + ".dylib"}, keep_search_paths=())
        )
    message = str(info.value)
    assert message.startswith("_ext.so") and "more bytes" in message
    assert "-headerpad_max_install_names" in message and "\n" not in message
    assert path.read_bytes() == original  # never a half-edited file


def test_vendored_library_gets_rpath_install_name_and_matching_identifier(
    tree: dict[str, MachOSet], tmp_path: Path
) -> None:
    path = copy(tree["arm64"].liba, tmp_path)
    BACKEND.rewrite(
        path, BinaryEdit(set_own_name="liba-0123abcd.dylib", add_search_paths=(".",), keep_search_paths=())
    )
    info = sigcheck.commands(path)[0]
    assert info.install_name == "@rpath/liba-0123abcd.dylib"
    assert info.rpaths == ["@loader_path/"]
    assert info.needed == ["/usr/lib/libSystem.B.dylib", "@rpath/libb.dylib"]
    (sig,) = sigcheck.verify(path)
    assert sig.identifier == "liba-0123abcd.dylib"


def test_finalize_resigns_a_file_edited_without_signing(tree: dict[str, MachOSet], tmp_path: Path) -> None:
    path = copy(tree["arm64"].ext_roomy, tmp_path)
    data = path.read_bytes()
    build = str(tree["arm64"].dir).encode()
    # What a naive tool does: rewrite an LC_RPATH string in place and leave the signature stale.
    path.write_bytes(data.replace(build + b"/unused\0", build + b"/UNUSED\0", 1))
    with pytest.raises(AssertionError):
        sigcheck.verify(path)
    BACKEND.finalize(path)
    (sig,) = sigcheck.verify(path)
    assert sig.flags == CS_ADHOC
    untouched = copy(tree["arm64"].libb, tmp_path / "untouched")
    before = untouched.read_bytes()
    BACKEND.finalize(untouched)  # a valid (linker) signature is left alone
    assert untouched.read_bytes() == before


def test_bundle_keeps_its_identifier_whatever_the_edited_copy_is_called(
    tree: dict[str, MachOSet], tmp_path: Path
) -> None:
    # repair edits scratch copies named "<n>-<file>": the signature must not take that name
    src = tree["fat"].ext_roomy
    before = {s.arch: s.identifier for s in sigcheck.verify(src)}
    scratch = tmp_path / f"3-{src.name}"
    shutil.copy2(src, scratch)
    old = BACKEND.read(scratch.read_bytes(), scratch.name).needed[0]
    edit = BinaryEdit(replace_needed={old: "@rpath/liba-0123abcd.dylib"}, add_search_paths=("../demo.libs",))
    BACKEND.rewrite(scratch, edit)
    after = {s.arch: s.identifier for s in sigcheck.verify(scratch)}
    assert before and after == before and scratch.name not in after.values()
    # the same when finalize signs a file another tool left with a stale signature
    data = bytearray(scratch.read_bytes())
    start = sigcheck.commands(scratch)[0].offset
    (sizeofcmds,) = struct.unpack_from("<I", data, start + 20)
    data[start + 32 + sizeofcmds + 4] = 1  # a header padding byte: page 0's hash goes stale
    scratch.write_bytes(bytes(data))
    BACKEND.finalize(scratch)
    assert {s.arch: s.identifier for s in sigcheck.verify(scratch)} == before


@pytest.mark.parametrize(("min_os", "hash_types"), [("10.9", (1, 2)), ("10.11.4", (2,)), ("10.13", (2,))])
def test_intel_image_for_old_macos_gets_sha1_and_sha256_directories(
    tree: dict[str, MachOSet], tmp_path: Path, min_os: str, hash_types: tuple[int, ...]
) -> None:
    # kernels before macOS 10.11.4 accept only a SHA-1 code directory (and dyld then refuses the
    # library): codesign signs such images with SHA-1 in slot 0 and SHA-256 as an alternate
    intel = tree["x86_64"]
    path = link_bundle(
        tmp_path / "_old.so", [intel.dir / "ext.o"], "x86_64", [intel.liba], [], min_os=min_os, sign=True
    )
    liba = f"{intel.dir}/liba.dylib"
    assert liba in BACKEND.read(path.read_bytes(), path.name).needed
    edit = BinaryEdit(replace_needed={liba: "@rpath/liba-0123abcd.dylib"}, add_search_paths=("../demo.libs",))
    BACKEND.rewrite(path, edit)
    (sig,) = sigcheck.verify(path)  # every directory's page hashes, each with its own algorithm
    assert sig.hash_types == hash_types and sig.flags == CS_ADHOC
    assert sig.blob_types == ((0, 2, 0x1000, 0x10000) if len(hash_types) == 2 else (0, 2, 0x10000))
    objdump_ok(path)
    before = path.read_bytes()
    BACKEND.finalize(path)  # both directories hold: nothing to sign again
    assert path.read_bytes() == before


def test_patch_operations(tree: dict[str, MachOSet], tmp_path: Path) -> None:
    path = copy(tree["fat"].liba, tmp_path)
    build = str(tree["fat"].dir)
    BACKEND.patch(path, PatchRequest(replace_needed=(("@rpath/libb.dylib", "@loader_path/libb.dylib"),)))
    BACKEND.patch(path, PatchRequest(set_soname="@rpath/liba.dylib", add_rpath=("@loader_path/../lib",)))
    described = BACKEND.describe(path.read_bytes(), path.name)
    assert described["install_name"] == "@rpath/liba.dylib"
    assert described["needed"] == ["/usr/lib/libSystem.B.dylib", "@loader_path/libb.dylib"]
    assert described["rpaths"] == [build, "@loader_path/../lib"]
    assert described["min_os"] == {"x86_64": "10.13", "arm64": "11.0"}
    BACKEND.patch(path, PatchRequest(delete_rpath=(build,)))
    assert BACKEND.describe(path.read_bytes(), path.name)["rpaths"] == ["@loader_path/../lib"]
    BACKEND.patch(path, PatchRequest(set_rpath=("@loader_path/a", "@loader_path/b", "@loader_path/a")))
    assert BACKEND.describe(path.read_bytes(), path.name)["rpaths"] == ["@loader_path/a", "@loader_path/b"]
    BACKEND.patch(path, PatchRequest(set_rpath=("@loader_path/b", "@loader_path/a")))
    assert BACKEND.describe(path.read_bytes(), path.name)["rpaths"] == ["@loader_path/b", "@loader_path/a"]
    BACKEND.patch(path, PatchRequest(remove_rpath=True))
    assert BACKEND.describe(path.read_bytes(), path.name)["rpaths"] == []
    objdump_ok(path)
    assert [s.arch for s in sigcheck.verify(path)] == ["arm64"]


def test_patch_rejects_what_mach_o_cannot_do(tree: dict[str, MachOSet], tmp_path: Path) -> None:
    path = copy(tree["arm64"].liba, tmp_path)
    for request in (PatchRequest(add_needed=("libz.dylib",)), PatchRequest(remove_needed=("x",)),
                    PatchRequest(force_rpath=True), PatchRequest(delete_rpath=("/not/there",))):  # fmt: skip
        with pytest.raises(UsageError) as info:
            BACKEND.patch(path, request)
        assert str(info.value).startswith("liba.dylib: ")
    bundle = copy(tree["arm64"].ext, tmp_path)
    with pytest.raises(UsageError, match="_ext.so: has no install name"):
        BACKEND.patch(bundle, PatchRequest(set_soname="@rpath/x.so"))


def test_fat_file_with_every_slice_signed(tree: dict[str, MachOSet], tmp_path: Path) -> None:
    slices = []
    for arch in ("x86_64", "arm64"):
        obj = compile_object(tmp_path / f"{arch}.o", EXT_C, arch)
        liba = tree[arch].liba
        slices.append(link_bundle(tmp_path / f"{arch}.so", [obj], arch, [liba], ["/build/x"], sign=True))
    path = lipo(tmp_path / "_ext.so", slices)
    assert [s.arch for s in sigcheck.verify(path)] == ["x86_64", "arm64"]  # linker-signed
    names = BACKEND.read(path.read_bytes(), path.name).needed
    BACKEND.rewrite(
        path,
        BinaryEdit(
            replace_needed={n: "@rpath/liba-0123abcd.dylib" for n in names},
            add_search_paths=("../demo.libs",),
            keep_search_paths=(),
        ),
    )
    signatures = sigcheck.verify(path)
    assert [s.arch for s in signatures] == ["x86_64", "arm64"] and all(
        s.flags == CS_ADHOC for s in signatures
    )
    data = path.read_bytes()
    count = struct.unpack_from(">I", data, 4)[0]
    for k in range(count):
        _cpu, _sub, offset, size, align = struct.unpack_from(">5I", data, 8 + 20 * k)
        assert offset % (1 << align) == 0 and offset + size <= len(data)
    objdump_ok(path)
    info = subprocess.run(
        [find_tool("llvm-lipo") or "llvm-lipo", "-archs", str(path)], capture_output=True, text=True
    )
    assert info.returncode == 0 and info.stdout.split() == ["x86_64", "arm64"]


def test_reexport_keeps_its_command_type_when_renamed(tree: dict[str, MachOSet], tmp_path: Path) -> None:
    arm = tree["arm64"]
    lld = find_tool("ld64.lld") or "ld64.lld"
    path = tmp_path / "libre.dylib"
    flags = ["-arch", "arm64", "-platform_version", "macos", "11.0", "11.0", "-dylib", "-headerpad", "0x100"]
    flags += ["-install_name", "@rpath/libre.dylib", "-undefined", "dynamic_lookup", "-o", str(path)]
    flags += [str(arm.dir / "ext.o"), "-reexport_library", str(arm.libb)]
    subprocess.run([lld, *flags], check=True, capture_output=True)
    assert "@rpath/libb.dylib" in BACKEND.read(path.read_bytes(), path.name).needed
    BACKEND.rewrite(
        path,
        BinaryEdit(
            replace_needed={"@rpath/libb.dylib": "@rpath/libb-0123abcd.dylib"},
            add_search_paths=(".",),
            keep_search_paths=(),
        ),
    )
    text = objdump_ok(path)
    assert "LC_REEXPORT_DYLIB\n      cmdsize 56\n         name @rpath/libb-0123abcd.dylib" in text
    (sig,) = sigcheck.verify(path)
    assert sig.identifier == "libre.dylib"
