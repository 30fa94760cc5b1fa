"""Seed inputs for the fuzzer: small real binaries built here (gcc ELF; zig Mach-O, thin and fat via
llvm-lipo; mingw PE) and real wheels wrapping each, with the --lib-path their repair needs.

Every seed is a file a toolchain wrote; mutations of it are what the fuzzer feeds the commands.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures.elf_build import build_gcc
from tests.fixtures.wheels import make_wheel


@dataclass(frozen=True)
class Seed:
    """One real binary and a wheel holding it at ``member``."""

    name: str
    format: str
    binary: bytes
    member: str
    tag: str
    #: Directories holding the libraries the binary needs (its repair's --lib-path).
    lib_path: tuple[str, ...]
    #: (offset, length) of the structures the readers and editors parse, where mutations aim.
    hot: tuple[tuple[int, int], ...] = ()

    def wheel(self, out_dir: Path, binary: bytes | None = None, member: str | None = None) -> Path:
        """A valid wheel (RECORD matching) holding ``binary`` (default: the seed's own bytes) at
        ``member`` (default: the seed's member path)."""
        files = {"demo/__init__.py": b"", member or self.member: self.binary if binary is None else binary}
        return make_wheel(out_dir, files, tag=self.tag)


def hot_spans(data: bytes, fmt: str) -> tuple[tuple[int, int], ...]:
    """Where the parsed structures lie, found with the reference parsers (pyelftools, pefile), so
    mutations hit the dynamic section, string and version tables and import directories that sit
    past the first page as well as the headers before it."""
    spans = [(0, min(len(data), 4096))]
    if fmt == "elf":
        import io

        from elftools.elf.elffile import ELFFile

        elf = ELFFile(io.BytesIO(data))
        for segment in elf.iter_segments():
            if segment["p_type"] in ("PT_DYNAMIC", "PT_INTERP", "PT_NOTE"):
                spans.append((segment["p_offset"], segment["p_filesz"]))
        for section in elf.iter_sections():
            if section.name in (".dynstr", ".dynsym", ".gnu.version_r", ".gnu.version_d", ".gnu.version"):
                spans.append((section["sh_offset"], section["sh_size"]))
        spans.append((elf["e_shoff"], elf["e_shnum"] * elf["e_shentsize"]))
    elif fmt == "pe":
        import pefile

        pe = pefile.PE(data=data, fast_load=True)
        for entry in pe.OPTIONAL_HEADER.DATA_DIRECTORY:
            if entry.VirtualAddress and entry.Size:
                offset = pe.get_offset_from_rva(entry.VirtualAddress)
                if offset is not None:
                    spans.append((offset, min(entry.Size, 4096)))
    return tuple((offset, length) for offset, length in spans if length > 0 and offset < len(data))


def _seed(name: str, fmt: str, path: Path, member: str, tag: str, lib_path: tuple[str, ...]) -> Seed:
    data = path.read_bytes()
    return Seed(name, fmt, data, member, tag, lib_path, hot_spans(data, fmt))


def _py() -> str:
    return f"cp{sys.version_info[0]}{sys.version_info[1]}"


def elf_seeds(root: Path) -> list[Seed]:
    family = build_gcc(root / "elf", "default")
    lib_path = (str(family.directory),)
    tag = f"{_py()}-{_py()}-linux_x86_64"
    assert family.main is not None
    return [
        _seed("elf-libbar", "elf", family.bar, "demo/_bar.so", tag, lib_path),
        _seed("elf-main", "elf", family.main, "demo/main", tag, lib_path),
    ]


def macho_seeds(root: Path) -> list[Seed]:
    from tests.fixtures.macho_build import build_set, lipo, missing_tools

    if missing_tools():
        return []
    thin = build_set(root / "arm64", "arm64", root / "arm64")
    other = build_set(root / "x86_64", "x86_64", root / "x86_64")
    fat_dir = root / "fat"
    fat_dir.mkdir(parents=True, exist_ok=True)
    fat = lipo(fat_dir / "liba.dylib", [thin.liba, other.liba])
    return [
        _seed("macho-ext", "macho", thin.ext, "demo/_ext.so", "cp311-cp311-macosx_11_0_arm64", (str(thin.dir),)),
        _seed("macho-fat", "macho", fat, "demo/liba.dylib", "cp311-cp311-macosx_11_0_universal2",
              (str(thin.dir), str(other.dir))),
    ]  # fmt: skip


def pe_seeds(root: Path) -> list[Seed]:
    from tests.fixtures.pe_build import MINGW_PREFIX, build_chain, have

    if not have(f"{MINGW_PREFIX['x86_64']}-gcc"):
        return []
    chain = build_chain(root / "pe")
    lib_path = (str(chain["libA"].parent), str(chain["libB"].parent))
    return [_seed("pe-ext", "pe", chain["ext"], "demo/_ext.pyd", "cp311-cp311-win_amd64", lib_path)]


def build_seeds(root: Path, formats: tuple[str, ...] = ("elf", "macho", "pe")) -> list[Seed]:
    """Every seed whose toolchain is installed, built under ``root``."""
    builders = {"elf": elf_seeds, "macho": macho_seeds, "pe": pe_seeds}
    seeds: list[Seed] = []
    for fmt in formats:
        seeds += builders[fmt](root / fmt)
    return seeds
