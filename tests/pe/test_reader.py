"""Reading real DLLs from three toolchains and three machines agrees with pefile."""

from __future__ import annotations

import struct
from pathlib import Path

import pefile
import pytest

from wheelrepair.errors import InvalidBinary
from wheelrepair.formats.pe.backend import PEBackend
from wheelrepair.formats.pe.reader import read_binary

MACHINE_NAMES = {0x14C: "x86", 0x8664: "x86_64", 0xAA64: "arm64"}


def pefile_view(path: Path) -> dict[str, object]:
    pe = pefile.PE(str(path))
    imports = [e.dll.decode() for e in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])]
    delayed = [e.dll.decode() for e in getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", [])]
    export = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
    return {
        "needed": tuple(dict.fromkeys(imports + delayed)),
        "delay_needed": tuple(delayed),
        "archs": (MACHINE_NAMES[pe.FILE_HEADER.Machine],),
        "soname": export.name.decode() if export is not None and export.name else None,
        "linker_version": (pe.OPTIONAL_HEADER.MajorLinkerVersion, pe.OPTIONAL_HEADER.MinorLinkerVersion),
        "executable": not pe.is_dll(),
        "pe32_plus": pe.OPTIONAL_HEADER.Magic == 0x20B,
    }


def ours(path: Path) -> dict[str, object]:
    binary = read_binary(path.read_bytes(), path.name)
    return {
        "needed": binary.needed,
        "delay_needed": binary.delay_needed,
        "archs": binary.archs,
        "soname": binary.soname,
        "linker_version": binary.linker_version,
        "executable": binary.executable,
    }


def test_reader_matches_pefile_on_every_machine(zig_chains: dict[str, dict[str, Path]]) -> None:
    seen_archs = set()
    for arch, chain in zig_chains.items():
        for path in chain.values():
            expected = pefile_view(path)
            assert expected.pop("pe32_plus") is (arch != "x86")
            assert ours(path) == expected, path
            seen_archs.add(read_binary(path.read_bytes(), path.name).arch)
    assert seen_archs == {"x86", "x86_64", "arm64"}


def test_reader_matches_pefile_on_mingw_and_lld_link(
    mingw_chain: dict[str, Path], mingw_debug_chain: dict[str, Path], delay_chain: dict[str, Path]
) -> None:
    for path in [*mingw_chain.values(), *mingw_debug_chain.values(), *delay_chain.values()]:
        expected = pefile_view(path)
        expected.pop("pe32_plus")
        assert ours(path) == expected, path


def test_chain_dependencies_are_read(mingw_chain: dict[str, Path], delay_chain: dict[str, Path]) -> None:
    ext = read_binary(mingw_chain["ext"].read_bytes(), "_ext.pyd")
    assert "libA.dll" in ext.needed and ext.soname == "_ext.pyd" and not ext.executable
    lib_a = read_binary(delay_chain["libA"].read_bytes(), "libA.dll")
    # Delay-loaded DLLs are dependencies like any other: listed, and not weak.
    assert lib_a.delay_needed == ("libB.dll",)
    assert "libB.dll" in lib_a.needed and not lib_a.weak


def test_executable_flag(load_like_python: Path) -> None:
    assert read_binary(load_like_python.read_bytes(), "loadext.exe").executable


def test_sniff_accepts_pe_and_rejects_others(mingw_chain: dict[str, Path]) -> None:
    backend = PEBackend()
    head = mingw_chain["libA"].read_bytes()[:64]
    assert backend.sniff(head)
    assert not backend.sniff(b"\x7fELF" + head[4:])
    assert not backend.sniff(b"MZ" + b"\0" * 10)  # too short to be a PE header
    assert not backend.sniff(head[:0x3C] + struct.pack("<I", 0xFFFFFFF0))  # e_lfanew nowhere near


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d[:0x3C], "no MZ header"),
        (lambda d: d[:0x80] + b"XX" + d[0x82:], "no PE signature"),
        (lambda d: d[:600], "truncated"),
    ],
)
def test_malformed_files_raise_one_line_invalid_binary(mingw_chain: dict[str, Path], damage, message) -> None:  # type: ignore[no-untyped-def]
    data = mingw_chain["libA"].read_bytes()
    e_lfanew = struct.unpack_from("<I", data, 0x3C)[0]
    assert e_lfanew == 0x80  # the damage above targets mingw's layout
    with pytest.raises(InvalidBinary) as info:
        read_binary(damage(data), "libA.dll")
    text = str(info.value)
    assert text.startswith("libA.dll: ") and message in text and "\n" not in text


def test_import_directory_outside_the_file_is_invalid(mingw_chain: dict[str, Path]) -> None:
    data = bytearray(mingw_chain["libA"].read_bytes())
    pe = pefile.PE(data=bytes(data), fast_load=True)
    entry = pe.OPTIONAL_HEADER.DATA_DIRECTORY[1]
    struct.pack_into("<I", data, entry.get_file_offset(), 0x7FFFFF00)
    with pytest.raises(InvalidBinary, match="import directory at RVA 0x7fffff00 is outside the file"):
        read_binary(bytes(data), "libA.dll")


def test_describe(delay_chain: dict[str, Path]) -> None:
    described = PEBackend().describe(delay_chain["libA"].read_bytes(), "libA.dll")
    assert described["delay_needed"] == ["libB.dll"]
    assert described["arch"] == "x86_64"
    assert described["export_name"] == "libA.dll"
    assert described["linker_version"] == "14.0"  # lld-link reports itself as linker 14.0
