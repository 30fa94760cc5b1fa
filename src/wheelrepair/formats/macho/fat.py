"""Universal (fat) Mach-O containers: the fat header, its slices, and rebuilding it when slices change size."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .layout import KNOWN_CPU_TYPES, MachOFormatError, arch_name

FAT_MAGIC = 0xCAFEBABE
FAT_MAGIC_64 = 0xCAFEBABF
#: How a fat file starts (its header is big-endian).
FAT_MAGIC_BYTES = tuple(struct.pack(">I", m) for m in (FAT_MAGIC, FAT_MAGIC_64))
# Java class files share FAT_MAGIC; their next word (class file version, >= 45) is never a plausible
# slice count, and their bytes after it are never a table of known CPU types.
_MAX_SLICES = 16
# The kernel and dyld map slices of loadable images, so those are page aligned; universal static
# archives (lipo'd ``.a`` files, never loaded) use small alignments.
_MIN_LOADABLE_ALIGN = 12


@dataclass(frozen=True)
class FatArch:
    cputype: int
    cpusubtype: int
    offset: int
    size: int
    align: int  # log2 of the slice alignment

    @property
    def arch(self) -> str:
        return arch_name(self.cputype, self.cpusubtype)


@dataclass(frozen=True)
class FatHeader:
    is64: bool
    archs: tuple[FatArch, ...]


def is_fat(head: bytes) -> bool:
    """True when ``head`` starts a plausible fat header of loadable images (not a Java class file, not a
    universal static archive)."""
    if len(head) < 8:
        return False
    magic, count = struct.unpack_from(">2I", head)
    if magic not in (FAT_MAGIC, FAT_MAGIC_64) or not 1 <= count <= _MAX_SLICES:
        return False
    entry, align_at = (32, 24) if magic == FAT_MAGIC_64 else (20, 16)
    checked = 0
    for k in range(count):
        at = 8 + k * entry
        if at + align_at + 4 > len(head):
            break
        cputype = struct.unpack_from(">I", head, at)[0]
        align = struct.unpack_from(">I", head, at + align_at)[0]
        if cputype not in KNOWN_CPU_TYPES or align < _MIN_LOADABLE_ALIGN:
            return False
        checked += 1
    return checked > 0


def parse_fat(buf: bytes | memoryview) -> FatHeader | None:
    """The fat header of ``buf``, or None for a thin file."""
    if not is_fat(bytes(buf[:64])):
        return None
    magic, count = struct.unpack_from(">2I", buf)
    is64 = magic == FAT_MAGIC_64
    entry, fmt = (32, ">2I2Q2I") if is64 else (20, ">5I")
    if 8 + count * entry > len(buf):
        raise MachOFormatError("fat header is truncated")
    archs: list[FatArch] = []
    for k in range(count):
        fields = struct.unpack_from(fmt, buf, 8 + k * entry)
        arch = FatArch(*fields[:5])
        if arch.offset < 8 + count * entry or arch.offset + arch.size > len(buf) or arch.align > 31:
            raise MachOFormatError(f"fat slice {k} ({arch.arch}) lies outside the file")
        archs.append(arch)
    return FatHeader(is64, tuple(archs))


def build_fat(header: FatHeader, slices: Sequence[bytes]) -> bytes:
    """A fat file holding ``slices`` (one per ``header.archs`` entry), each placed at its alignment.

    The first slice keeps its original offset; later ones follow at the next aligned offset, which is
    how lipo lays files out, so an unchanged set of slices reproduces the original layout."""
    entry = 32 if header.is64 else 20
    placed: list[FatArch] = []
    position = header.archs[0].offset if header.archs else 8
    for arch, data in zip(header.archs, slices):
        alignment = 1 << arch.align
        position = -(-position // alignment) * alignment
        placed.append(replace(arch, offset=position, size=len(data)))
        position += len(data)
    out = bytearray(position)
    magic = FAT_MAGIC_64 if header.is64 else FAT_MAGIC
    struct.pack_into(">2I", out, 0, magic, len(placed))
    for k, arch in enumerate(placed):
        if header.is64:
            struct.pack_into(
                ">2I2Q2I",
                out,
                8 + k * entry,
                arch.cputype,
                arch.cpusubtype,
                arch.offset,
                arch.size,
                arch.align,
                0,
            )
        else:
            struct.pack_into(
                ">5I", out, 8 + k * entry, arch.cputype, arch.cpusubtype, arch.offset, arch.size, arch.align
            )
    for arch, data in zip(placed, slices):
        out[arch.offset : arch.offset + arch.size] = data
    return bytes(out)
