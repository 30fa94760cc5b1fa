"""The ELF reader against GNU readelf and pyelftools, on gcc/zig-built files, host libraries and a
real PyPI wheel; truncated and corrupted files must raise InvalidBinary and nothing else."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

from tests.fixtures.pypi import fetch_wheel
from wheelrepair.errors import InvalidBinary
from wheelrepair.formats.elf.reader import needed_extent, read_elf, sniff
from wheelrepair.model import Binary

from .conftest import CROSS_TARGETS, NativeLibs
from .toolchain import readelf_dynamic, readelf_header, readelf_imports

HOST_LIBS = [
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib/x86_64-linux-gnu/libm.so.6",
    "/lib/x86_64-linux-gnu/libstdc++.so.6",
    "/lib/x86_64-linux-gnu/libz.so.1",
    "/lib64/ld-linux-x86-64.so.2",
]


def assert_matches_readelf(binary: Binary, path: Path) -> None:
    expected = readelf_dynamic(path)
    assert list(binary.needed) == expected["needed"]
    assert binary.soname == expected["soname"]
    assert ":".join(binary.rpaths) == (expected["rpath"] or "")
    assert ":".join(binary.runpaths) == (expected["runpath"] or "")
    assert dict(binary.symbol_versions) == expected["versions"]
    undefined, level = readelf_imports(path)
    assert binary.undefined_symbols == undefined
    assert binary.isa_level == level


def pyelftools_view(data: bytes) -> dict[str, object]:
    elf = ELFFile(io.BytesIO(data))
    view: dict[str, object] = {"needed": [], "soname": None, "rpath": None, "runpath": None, "versions": {}}
    needed: list[str] = []
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            for tag in section.iter_tags():
                kind = tag.entry.d_tag
                if kind == "DT_NEEDED":
                    needed.append(tag.needed)
                elif kind == "DT_SONAME":
                    view["soname"] = tag.soname
                elif kind == "DT_RPATH":
                    view["rpath"] = tag.rpath
                elif kind == "DT_RUNPATH":
                    view["runpath"] = tag.runpath
        elif isinstance(section, GNUVerNeedSection):
            versions: dict[str, frozenset[str]] = {}
            for verneed, aux in section.iter_versions():
                versions[verneed.name] = versions.get(verneed.name, frozenset()) | {a.name for a in aux}
            view["versions"] = versions
    view["needed"] = needed
    return view


def assert_matches_pyelftools(binary: Binary, data: bytes) -> None:
    expected = pyelftools_view(data)
    assert list(binary.needed) == expected["needed"]
    assert binary.soname == expected["soname"]
    assert ":".join(binary.rpaths) == (expected["rpath"] or "")
    assert ":".join(binary.runpaths) == (expected["runpath"] or "")
    assert dict(binary.symbol_versions) == expected["versions"]


def read_with_extent(data: bytes) -> tuple[Binary, int]:
    """Read as the core will: start from the first 4 KiB and grow as needed_extent asks."""
    have = min(len(data), 4096)
    for _ in range(8):
        extent = needed_extent(data[:have])
        assert extent is not None
        if extent <= have:
            return read_elf(data[:extent], "partial"), extent
        have = min(len(data), extent)
    raise AssertionError("needed_extent did not settle")


def test_rpath_and_runpath_libraries_match_readelf(native: NativeLibs) -> None:
    rpath = read_elf(native.rpath.read_bytes(), "libA-rpath.so")
    runpath = read_elf(native.runpath.read_bytes(), "libA-runpath.so")
    assert_matches_readelf(rpath, native.rpath)
    assert_matches_readelf(runpath, native.runpath)
    assert rpath.rpaths == ("$ORIGIN/../b", "/opt/x") and rpath.runpaths == ()
    assert runpath.runpaths == ("${ORIGIN}/../b",) and runpath.rpaths == ()
    assert rpath.soname == "libA.so.1" and rpath.needed == ("libB.so.1",)


def test_symbol_versions_match_readelf_and_pyelftools(native: NativeLibs) -> None:
    for path in (native.versioned, native.cxx):
        data = path.read_bytes()
        binary = read_elf(data, path.name)
        assert_matches_readelf(binary, path)
        assert_matches_pyelftools(binary, data)
        assert binary.archs == ("x86_64",) and binary.format == "elf"
    versioned = read_elf(native.versioned.read_bytes(), "v")
    assert {"GLIBC_2.34", "GLIBC_2.36"} <= versioned.symbol_versions["libc.so.6"]
    cxx = read_elf(native.cxx.read_bytes(), "cxx")
    assert any(v.startswith("GLIBCXX_") for v in cxx.symbol_versions["libstdc++.so.6"])


@pytest.mark.parametrize("path", HOST_LIBS)
def test_host_libraries_match_pyelftools(path: str) -> None:
    if not Path(path).is_file():
        pytest.skip(f"{path} not on this machine")
    data = Path(path).read_bytes()
    binary = read_elf(data, path)
    assert_matches_pyelftools(binary, data)
    assert_matches_readelf(binary, Path(path))
    assert binary.executable is False  # libc and ld.so have PT_INTERP but are libraries


def test_executable_flag(native: NativeLibs) -> None:
    assert read_elf(native.program.read_bytes(), "program").executable is True
    assert read_elf(native.program.read_bytes(), "program").interpreter == readelf_interp(native.program)
    assert read_elf(native.rpath.read_bytes(), "lib").executable is False
    assert read_elf(native.rpath.read_bytes(), "lib").interpreter is None


def readelf_interp(path: Path) -> str:
    import subprocess

    out = subprocess.run(["readelf", "-lW", str(path)], check=True, capture_output=True, text=True).stdout
    return out.split("[Requesting program interpreter: ", 1)[1].split("]", 1)[0]


def test_sniff_accepts_loadable_elf_only(native: NativeLibs) -> None:
    assert sniff(native.rpath.read_bytes()[:64])
    assert sniff(native.program.read_bytes()[:64])
    assert not sniff(native.obj.read_bytes()[:64])  # a relocatable .o is never loaded
    assert not sniff(b"PK\x03\x04" + bytes(60))
    assert not sniff(b"\x7fELF")


@pytest.mark.parametrize("target", sorted(CROSS_TARGETS))
def test_cross_architectures(cross: dict[str, Path | None], target: str) -> None:
    path = cross[target]
    if path is None:
        pytest.skip(f"zig cannot build for {target} here")
    arch, cls, endian = CROSS_TARGETS[target]
    header = readelf_header(path)
    assert header["Class"] == cls and endian in header["Data"]
    binary = read_elf(path.read_bytes(), path.name)
    assert binary.archs == (arch,)
    assert_matches_readelf(binary, path)
    assert binary.soname == "libport.so.3"


def test_section_headers_are_not_needed(native: NativeLibs, tmp_path: Path) -> None:
    """A file whose section headers are gone (as sstrip leaves it) reads the same."""
    data = bytearray(native.versioned.read_bytes())
    # ELF64 little endian: e_shoff at 0x28, e_shnum at 0x3c, e_shstrndx at 0x3e.
    struct.pack_into("<Q", data, 0x28, 0)
    struct.pack_into("<HH", data, 0x3C, 0, 0)
    stripped = tmp_path / "sstripped.so"
    stripped.write_bytes(bytes(data))
    assert read_elf(bytes(data), "x") == read_elf(native.versioned.read_bytes(), "x")
    assert_matches_readelf(read_elf(bytes(data), "x"), native.versioned)


def test_needed_extent_reads_only_a_prefix(native: NativeLibs) -> None:
    for path in [native.versioned, native.cxx, *[Path(p) for p in HOST_LIBS if Path(p).is_file()]]:
        data = path.read_bytes()
        binary, extent = read_with_extent(data)
        assert binary == read_elf(data, "partial")
        assert extent <= len(data)
    # Debug sections, the symbol table and the section headers at the end are never needed.
    assert read_with_extent(native.debug.read_bytes())[1] < native.debug.stat().st_size / 2


def test_needed_extent_rejects_non_elf() -> None:
    assert needed_extent(b"not an elf file at all") is None


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.01, 0.05, 0.2, 0.5, 0.9])
def test_truncated_file_raises_invalid_binary(native: NativeLibs, fraction: float) -> None:
    data = native.versioned.read_bytes()
    extent = read_with_extent(data)[1]
    cut = data[: int(extent * fraction)] if fraction else data[:10]
    try:
        read_elf(cut, "demo/_ext.so")
    except InvalidBinary as exc:
        message = str(exc)
        assert message.startswith("demo/_ext.so: ") and "\n" not in message
        assert "truncated" in message or "malformed" in message
    else:
        # Only a cut past everything the loader reads may parse.
        assert len(cut) >= extent


def test_corrupted_headers_raise_invalid_binary_only(native: NativeLibs) -> None:
    data = native.versioned.read_bytes()
    headers_end = 64 + 56 * struct.unpack_from("<H", data, 0x38)[0]
    outcomes = {"ok": 0, "invalid": 0}
    for offset in range(16, headers_end, 3):
        for value in (0x00, 0xFF, 0x7F):
            mutated = bytearray(data)
            mutated[offset] = value
            try:
                read_elf(bytes(mutated), "fuzz.so")
                outcomes["ok"] += 1
            except InvalidBinary as exc:
                assert str(exc).startswith("fuzz.so: ")
                outcomes["invalid"] += 1
    assert outcomes["invalid"] > 0 and outcomes["ok"] > 0


@pytest.mark.parametrize("level", ["x86-64-v2", "x86-64-v3", "x86-64-v4"])
def test_isa_level_from_the_gnu_property_note(level: str, tmp_path: Path) -> None:
    """binutils marks GNU_PROPERTY_X86_ISA_1_NEEDED with -z <level>; the section headers are not needed
    to find it (PT_GNU_PROPERTY), and a prefix read through needed_extent finds it too."""
    from tests.fixtures.elf_build import strip_section_headers

    from .toolchain import gcc

    lib = gcc(tmp_path / "isa.so", "int f(int x) { return x * 3; }\n", f"-march={level}", f"-Wl,-z,{level}")
    assert readelf_imports(lib)[1] == level
    assert read_elf(lib.read_bytes(), "isa.so").isa_level == level
    strip_section_headers(lib)
    data = lib.read_bytes()
    assert read_elf(data, "isa.so").isa_level == level
    assert read_with_extent(data)[0].isa_level == level


def test_libc_from_needed_names_interpreter_or_extension_suffix(native: NativeLibs, tmp_path: Path) -> None:
    from .toolchain import gcc

    assert read_elf(native.program.read_bytes(), "main").libc == "glibc"
    bare = gcc(tmp_path / "bare.so", "int f(void) { return 1; }\n", "-nostdlib").read_bytes()
    assert read_elf(bare, "pkg/_x.cpython-312-x86_64-linux-gnu.so").libc is None
    assert read_elf(bare, "pkg/_x.cpython-312-x86_64-linux-musl.so").libc == "musl"
    assert read_elf(bare, "pkg/_x.cpython-312-arm-linux-musleabihf.so").libc == "musl"


@pytest.mark.network
def test_every_elf_in_a_real_numpy_wheel_matches_pyelftools() -> None:
    wheel = fetch_wheel("numpy", ["manylinux_2_28_x86_64", "manylinux2014_x86_64"])
    checked = 0
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            with zf.open(info) as fh:
                head = fh.read(64)
            if not sniff(head):
                continue
            data = zf.read(info)
            binary = read_elf(data, info.filename)
            assert_matches_pyelftools(binary, data)
            assert read_with_extent(data)[0] == binary
            checked += 1
    assert checked >= 5
