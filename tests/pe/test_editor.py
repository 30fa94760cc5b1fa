"""Renaming imported DLLs in real PE files: in place, in section slack, in a new section, with
overlays and signatures; the result re-reads with pefile and carries a valid checksum."""

from __future__ import annotations

import json
import logging
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pefile
import pytest

from wheelrepair.errors import EditError
from wheelrepair.formats.pe.editor import NEW_SECTION_NAME, rename_imports, rewrite_file
from wheelrepair.formats.pe.reader import read_binary


def check_valid(data: bytes, original: bytes | None = None) -> pefile.PE:
    """pefile parses the file without new complaints and its checksum is right."""
    pe = pefile.PE(data=data)
    assert pe.verify_checksum()
    before = set(pefile.PE(data=original).get_warnings()) if original is not None else set()
    # pefile's zero-byte statistic changes with any edit that adds a section.
    assert {w for w in pe.get_warnings() if not w.startswith("Byte 0x00")} <= before
    return pe


def longer_than_any_slack(data: bytes, prefix: str) -> dict[str, str]:
    """Renames for every import of ``data`` whose new names together exceed every section's slack."""
    pe = pefile.PE(data=data)
    slack = max(s.SizeOfRawData - s.Misc_VirtualSize for s in pe.sections)
    names = read_binary(data, "x").needed
    length = max(20, slack // len(names) + 20)
    assert length < 500, "pefile reads DLL names up to 512 bytes"
    return {name: f"{prefix}{i}-" + "x" * length + ".dll" for i, name in enumerate(names)}


def imports_of(pe: pefile.PE) -> list[str]:
    names = [e.dll.decode() for e in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])]
    return names + [e.dll.decode() for e in getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", [])]


def section_names(pe: pefile.PE) -> list[bytes]:
    return [s.Name.rstrip(b"\0") for s in pe.sections]


def test_same_length_name_is_written_in_place(mingw_chain: dict[str, Path]) -> None:
    data = mingw_chain["libA"].read_bytes()
    out = rename_imports(data, {"libB.dll": "libC.dll"}, "libA.dll")
    assert out is not None and len(out) == len(data)
    pe = check_valid(out)
    assert imports_of(pe)[-1] == "libC.dll"
    # Only the name itself and the checksum changed.
    changed = [i for i, (a, b) in enumerate(zip(data, out)) if a != b]
    name_at = data.index(b"libB.dll\0", 0x400)
    assert all(
        i == name_at + 3
        or pe.OPTIONAL_HEADER.get_file_offset() + 64 <= i < pe.OPTIONAL_HEADER.get_file_offset() + 68
        for i in changed
    )


def test_mangled_name_uses_read_only_slack(zig_chains: dict[str, dict[str, Path]]) -> None:
    data = zig_chains["x86_64"]["libA"].read_bytes()
    before = pefile.PE(data=data)
    out = rename_imports(data, {"libB.dll": "libB-0123abcd.dll"}, "libA.dll")
    assert out is not None and len(out) == len(data)
    pe = check_valid(out)
    assert imports_of(pe)[0] == "libB-0123abcd.dll"
    assert len(pe.sections) == len(before.sections)
    grown = [
        (a.Name, a.Misc_VirtualSize, b.Misc_VirtualSize)
        for a, b in zip(before.sections, pe.sections)
        if a.Misc_VirtualSize != b.Misc_VirtualSize
    ]
    assert len(grown) == 1 and grown[0][0].startswith(b".rdata")


@pytest.mark.parametrize("arch", ["x86_64", "x86", "arm64"])
def test_long_name_goes_to_a_new_section(zig_chains: dict[str, dict[str, Path]], arch: str) -> None:
    data = zig_chains[arch]["libA"].read_bytes()
    before = pefile.PE(data=data)
    renames = longer_than_any_slack(data, "lib")
    out = rename_imports(data, renames, "libA.dll")
    assert out is not None
    pe = check_valid(out, data)
    assert imports_of(pe) == [renames[n] for n in imports_of(before)]
    assert section_names(pe) == [*section_names(before), NEW_SECTION_NAME]
    new = pe.sections[-1]
    opt = pe.OPTIONAL_HEADER
    assert new.PointerToRawData % opt.FileAlignment == 0 and new.SizeOfRawData % opt.FileAlignment == 0
    assert new.VirtualAddress % opt.SectionAlignment == 0
    assert (
        opt.SizeOfImage
        == new.VirtualAddress + -(-new.Misc_VirtualSize // opt.SectionAlignment) * opt.SectionAlignment
    )
    assert opt.SizeOfInitializedData == before.OPTIONAL_HEADER.SizeOfInitializedData + new.SizeOfRawData
    assert read_binary(out, "libA.dll").needed == tuple(renames[n] for n in read_binary(data, "x").needed)


def test_overlay_moves_behind_the_new_section(mingw_debug_chain: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "libA.dll"
    shutil.copyfile(mingw_debug_chain["libA"], path)
    data = path.read_bytes()
    before = pefile.PE(data=data)
    symbols_at = before.FILE_HEADER.PointerToSymbolTable
    raw_end = max(s.PointerToRawData + s.SizeOfRawData for s in before.sections)
    assert symbols_at >= raw_end and len(data) > raw_end  # MinGW's -g output carries an overlay
    assert rewrite_file(path, longer_than_any_slack(data, "y"))
    out = path.read_bytes()
    pe = check_valid(out, data)
    shift = pe.FILE_HEADER.PointerToSymbolTable - symbols_at
    assert shift == pe.sections[-1].SizeOfRawData > 0
    assert out[pe.FILE_HEADER.PointerToSymbolTable :] == data[symbols_at:]
    # The symbol table and the long section names it holds still read with binutils.
    objdump = shutil.which("x86_64-w64-mingw32-objdump")
    if objdump:
        result = subprocess.run([objdump, "-h", "-t", str(path)], capture_output=True, text=True, check=True)
        assert ".debug_info" in result.stdout and "a_value" in result.stdout


def test_delay_load_names_are_renamed(delay_chain: dict[str, Path]) -> None:
    data = delay_chain["libA"].read_bytes()
    out = rename_imports(data, {"libB.dll": "libB-89abcdef.dll"}, "libA.dll")
    assert out is not None
    pe = check_valid(out, data)
    assert [e.dll for e in pe.DIRECTORY_ENTRY_DELAY_IMPORT] == [b"libB-89abcdef.dll"]
    assert read_binary(out, "libA.dll").delay_needed == ("libB-89abcdef.dll",)


def test_names_match_case_insensitively(mingw_chain: dict[str, Path]) -> None:
    out = rename_imports(mingw_chain["ext"].read_bytes(), {"LIBA.DLL": "libA-00000000.dll"}, "_ext.pyd")
    assert out is not None and "libA-00000000.dll" in read_binary(out, "_ext.pyd").needed


def test_rewrite_is_idempotent(mingw_chain: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "_ext.pyd"
    shutil.copyfile(mingw_chain["ext"], path)
    renames = longer_than_any_slack(path.read_bytes(), "z")
    assert rewrite_file(path, renames)
    once = path.read_bytes()
    assert not rewrite_file(path, renames)
    assert path.read_bytes() == once
    assert rename_imports(once, {"nothere.dll": "x.dll"}, "_ext.pyd") is None


def test_renaming_again_reuses_the_added_section(zig_chains: dict[str, dict[str, Path]]) -> None:
    data = zig_chains["x86_64"]["libA"].read_bytes()
    renames = longer_than_any_slack(data, "first")
    first = rename_imports(data, renames, "libA.dll")
    assert first is not None
    # One longer name now fits in the slack of the section the first edit added.
    second = rename_imports(first, {renames["libB.dll"]: "c" * 300 + ".dll"}, "libA.dll")
    assert second is not None and len(second) == len(first)
    pe = check_valid(second, data)
    assert section_names(pe).count(NEW_SECTION_NAME) == 1
    assert imports_of(pe)[0] == "c" * 300 + ".dll"


def test_no_room_for_a_section_header_is_an_edit_error(zig_chains: dict[str, dict[str, Path]]) -> None:
    data: bytes | None = zig_chains["x86_64"]["libB"].read_bytes()
    assert data is not None
    names = list(read_binary(data, "libB.dll").needed)
    assert len(names) >= 4
    with pytest.raises(EditError, match="no room in the PE headers") as info:
        for i in range(14):
            # Longer every round (no room in place) and together longer than any slack.
            new = [f"{n}-" + "k" * (200 + 20 * i) + ".dll" for n in range(len(names))]
            assert data is not None
            data = rename_imports(data, dict(zip(names, new)), "libB.dll")
            assert data is not None
            check_valid(data)
            names = new
    assert str(info.value).startswith("libB.dll: ") and "\n" not in str(info.value)


def test_signature_is_dropped_with_a_warning(
    signed_dll: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    signed = pefile.PE(str(signed_dll))
    security = signed.OPTIONAL_HEADER.DATA_DIRECTORY[4]
    assert security.Size > 0
    path = tmp_path / "libA.dll"
    shutil.copyfile(signed_dll, path)
    with caplog.at_level(logging.WARNING, logger="wheelrepair"):
        assert rewrite_file(path, {"libB.dll": "libB-" + "s" * 240 + ".dll"})
    assert "Authenticode signature" in caplog.text
    pe = check_valid(path.read_bytes())
    assert pe.OPTIONAL_HEADER.DATA_DIRECTORY[4].Size == 0
    assert path.stat().st_size < signed_dll.stat().st_size + pe.sections[-1].SizeOfRawData
    verify = subprocess.run(["osslsigncode", "verify", "-in", str(path)], capture_output=True, text=True)
    assert verify.returncode != 0 and "signature" in (verify.stdout + verify.stderr).lower()


def test_dependent_load_flags_that_skip_added_directories_are_cleared(system32_only_dll: Path) -> None:
    data = system32_only_dll.read_bytes()
    assert pefile.PE(data=data).DIRECTORY_ENTRY_LOAD_CONFIG.struct.DependentLoadFlags == 0x800
    out = rename_imports(data, {"libB.dll": "libB-0123abcd.dll"}, "libA.dll")
    assert out is not None
    assert check_valid(out, data).DIRECTORY_ENTRY_LOAD_CONFIG.struct.DependentLoadFlags == 0


def test_dependent_load_flags_that_search_added_directories_are_kept(system32_only_dll: Path) -> None:
    data = bytearray(system32_only_dll.read_bytes())
    config = pefile.PE(data=bytes(data)).DIRECTORY_ENTRY_LOAD_CONFIG.struct
    # LOAD_LIBRARY_SEARCH_DEFAULT_DIRS includes the directories added with AddDllDirectory.
    struct.pack_into("<H", data, config.get_field_absolute_offset("DependentLoadFlags"), 0x1000)
    out = rename_imports(bytes(data), {"libB.dll": "libB-0123abcd.dll"}, "libA.dll")
    assert out is not None
    assert pefile.PE(data=out).DIRECTORY_ENTRY_LOAD_CONFIG.struct.DependentLoadFlags == 0x1000


def test_patch_command_renames_and_prints(mingw_chain: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "libA.dll"
    shutil.copyfile(mingw_chain["libA"], path)
    run = [sys.executable, "-m", "wheelrepair", "patch", str(path)]
    result = subprocess.run([*run, "--replace-needed", "libB.dll", "libB-feedf00d.dll", "--print", "--json"],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "libB-feedf00d.dll" in json.loads(result.stdout)["needed"]
    check_valid(path.read_bytes())
    refused = subprocess.run([*run, "--add-needed", "x.dll"], capture_output=True, text=True)
    assert refused.returncode == 2 and "--add-needed is not supported for PE" in refused.stderr
