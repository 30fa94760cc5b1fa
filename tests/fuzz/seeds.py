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

    def wheel(self, out_dir: Path, binary: bytes | None = None) -> Path:
        """A valid wheel (RECORD matching) holding ``binary`` (default: the seed's own bytes)."""
        files = {"demo/__init__.py": b"", self.member: self.binary if binary is None else binary}
        return make_wheel(out_dir, files, tag=self.tag)


def _py() -> str:
    return f"cp{sys.version_info[0]}{sys.version_info[1]}"


def elf_seeds(root: Path) -> list[Seed]:
    family = build_gcc(root / "elf", "default")
    lib_path = (str(family.directory),)
    tag = f"{_py()}-{_py()}-linux_x86_64"
    return [
        Seed("elf-libbar", "elf", family.bar.read_bytes(), "demo/_bar.so", tag, lib_path),
        Seed("elf-main", "elf", family.main.read_bytes() if family.main else b"", "demo/main", tag, lib_path),
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
        Seed("macho-ext", "macho", thin.ext.read_bytes(), "demo/_ext.so", "cp311-cp311-macosx_11_0_arm64",
             (str(thin.dir),)),
        Seed("macho-fat", "macho", fat.read_bytes(), "demo/liba.dylib",
             "cp311-cp311-macosx_11_0_universal2", (str(thin.dir), str(other.dir))),
    ]  # fmt: skip


def pe_seeds(root: Path) -> list[Seed]:
    from tests.fixtures.pe_build import MINGW_PREFIX, build_chain, have

    if not have(f"{MINGW_PREFIX['x86_64']}-gcc"):
        return []
    chain = build_chain(root / "pe")
    lib_path = (str(chain["libA"].parent), str(chain["libB"].parent))
    return [Seed("pe-ext", "pe", chain["ext"].read_bytes(), "demo/_ext.pyd", "cp311-cp311-win_amd64", lib_path)]


def build_seeds(root: Path, formats: tuple[str, ...] = ("elf", "macho", "pe")) -> list[Seed]:
    """Every seed whose toolchain is installed, built under ``root``."""
    builders = {"elf": elf_seeds, "macho": macho_seeds, "pe": pe_seeds}
    seeds: list[Seed] = []
    for fmt in formats:
        seeds += builders[fmt](root / fmt)
    return seeds
