"""Struct-level ELF headers (file, program and section headers) and address mapping, for the editor
and the stripper: parsed from any byte buffer, packed back exactly."""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from typing import Union

from ...errors import InvalidBinary

Data = Union[bytes, bytearray, mmap.mmap]

ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2

PT_NULL, PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_SHLIB, PT_PHDR = range(7)
PT_GNU_RELRO = 0x6474E552
PF_X, PF_W, PF_R = 1, 2, 4

SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA = 0, 1, 2, 3, 4
SHT_DYNAMIC, SHT_NOBITS, SHT_REL, SHT_DYNSYM, SHT_SYMTAB_SHNDX = 6, 8, 9, 11, 18
SHT_GNU_VERNEED, SHT_GNU_VERSYM = 0x6FFFFFFE, 0x6FFFFFFF
SHF_ALLOC = 0x2
SHN_LORESERVE, SHN_XINDEX = 0xFF00, 0xFFFF
PN_XNUM = 0xFFFF

EM_S390 = 22
EF_ARM_ABI_FLOAT_HARD = 0x400

#: e_machine -> (ELFCLASS32 name, ELFCLASS64 name); ppc64 and mips take an "le"/"el" suffix by endian.
_MACHINES: dict[int, tuple[str, str]] = {
    3: ("i686", "i686"),
    62: ("x32", "x86_64"),
    183: ("aarch64_ilp32", "aarch64"),
    40: ("armv7l", "armv7l"),
    20: ("ppc", "ppc64"),
    21: ("ppc", "ppc64"),
    22: ("s390", "s390x"),
    243: ("riscv32", "riscv64"),
    258: ("loongarch32", "loongarch64"),
    8: ("mips", "mips64"),
    43: ("sparc", "sparc64"),
}


@dataclass(frozen=True)
class Layout:
    """The struct formats of one ELF class and byte order."""

    is64: bool
    little: bool
    ehdr: struct.Struct
    phdr: struct.Struct
    shdr: struct.Struct
    dyn: struct.Struct
    word: struct.Struct
    half: struct.Struct
    sym_size: int

    @property
    def align(self) -> int:
        """Natural alignment of address-sized fields (dynamic entries, program headers)."""
        return 8 if self.is64 else 4


def _layout(is64: bool, little: bool) -> Layout:
    e = "<" if little else ">"
    if is64:
        return Layout(
            True,
            little,
            struct.Struct(e + "16sHHIQQQIHHHHHH"),
            struct.Struct(e + "IIQQQQQQ"),
            struct.Struct(e + "IIQQQQIIQQ"),
            struct.Struct(e + "QQ"),
            struct.Struct(e + "I"),
            struct.Struct(e + "H"),
            24,
        )
    return Layout(
        False,
        little,
        struct.Struct(e + "16sHHIIIIIHHHHHH"),
        struct.Struct(e + "IIIIIIII"),
        struct.Struct(e + "IIIIIIIIII"),
        struct.Struct(e + "II"),
        struct.Struct(e + "I"),
        struct.Struct(e + "H"),
        16,
    )


LAYOUTS = {(is64, little): _layout(is64, little) for is64 in (False, True) for little in (False, True)}


@dataclass
class Header:
    ident: bytes
    type: int
    machine: int
    version: int
    entry: int
    phoff: int
    shoff: int
    flags: int
    ehsize: int
    phentsize: int
    phnum: int
    shentsize: int
    shnum: int
    shstrndx: int

    def pack(self, lay: Layout) -> bytes:
        return lay.ehdr.pack(
            self.ident,
            self.type,
            self.machine,
            self.version,
            self.entry,
            self.phoff,
            self.shoff,
            self.flags,
            self.ehsize,
            self.phentsize,
            self.phnum,
            self.shentsize,
            self.shnum,
            self.shstrndx,
        )


@dataclass
class Segment:
    type: int
    flags: int
    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    align: int

    @classmethod
    def unpack(cls, lay: Layout, data: Data, offset: int) -> Segment:
        f = lay.phdr.unpack_from(data, offset)
        if lay.is64:
            return cls(*f)
        return cls(f[0], f[6], f[1], f[2], f[3], f[4], f[5], f[7])

    def pack(self, lay: Layout) -> bytes:
        if lay.is64:
            return lay.phdr.pack(
                self.type,
                self.flags,
                self.offset,
                self.vaddr,
                self.paddr,
                self.filesz,
                self.memsz,
                self.align,
            )
        return lay.phdr.pack(
            self.type, self.offset, self.vaddr, self.paddr, self.filesz, self.memsz, self.flags, self.align
        )


@dataclass
class Section:
    name: int
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int

    @classmethod
    def unpack(cls, lay: Layout, data: Data, offset: int) -> Section:
        return cls(*lay.shdr.unpack_from(data, offset))

    def pack(self, lay: Layout) -> bytes:
        return lay.shdr.pack(
            self.name,
            self.type,
            self.flags,
            self.addr,
            self.offset,
            self.size,
            self.link,
            self.info,
            self.addralign,
            self.entsize,
        )

    @property
    def file_size(self) -> int:
        """Bytes the section occupies in the file (none for .bss-like sections)."""
        return 0 if self.type in (SHT_NOBITS, SHT_NULL) else self.size


def align_up(value: int, alignment: int) -> int:
    return value if alignment <= 1 else (value + alignment - 1) // alignment * alignment


class ElfImage:
    """The headers of one ELF file, checked against the file's size; everything else is read on demand."""

    def __init__(self, data: Data, name: str) -> None:
        self.data = data
        self.name = name
        self.size = len(data)
        if self.size < 16 or data[:4] != b"\x7fELF":
            raise InvalidBinary("not an ELF file", subject=name)
        cls, enc = data[4], data[5]
        if cls not in (ELFCLASS32, ELFCLASS64) or enc not in (ELFDATA2LSB, ELFDATA2MSB):
            raise InvalidBinary(f"unknown ELF class {cls} or data encoding {enc}", subject=name)
        self.lay = lay = LAYOUTS[(cls == ELFCLASS64, enc == ELFDATA2LSB)]
        self.need(0, lay.ehdr.size, "ELF header")
        self.header = h = Header(*lay.ehdr.unpack_from(data, 0))
        self.segments: list[Segment] = []
        if h.phnum:
            if h.phentsize != lay.phdr.size:
                raise InvalidBinary(f"program header entry size {h.phentsize} is wrong", subject=name)
            if h.phnum == PN_XNUM:
                raise InvalidBinary("more than 65534 program headers are not supported", subject=name)
            self.need(h.phoff, h.phnum * h.phentsize, "program header table")
            self.segments = [Segment.unpack(lay, data, h.phoff + i * h.phentsize) for i in range(h.phnum)]
        self.sections: list[Section] = []
        self.shnum = self.shstrndx = 0
        if h.shoff:
            if h.shentsize != lay.shdr.size:
                raise InvalidBinary(f"section header entry size {h.shentsize} is wrong", subject=name)
            self.need(h.shoff, lay.shdr.size, "section header table")
            first = Section.unpack(lay, data, h.shoff)
            # Counts past SHN_LORESERVE live in the first (null) section header.
            self.shnum = h.shnum or first.size
            self.shstrndx = first.link if h.shstrndx == SHN_XINDEX else h.shstrndx
            self.need(h.shoff, self.shnum * h.shentsize, "section header table")
            self.sections = [Section.unpack(lay, data, h.shoff + i * h.shentsize) for i in range(self.shnum)]

    def need(self, offset: int, size: int, what: str) -> None:
        if offset < 0 or size < 0 or offset + size > self.size:
            raise InvalidBinary(
                f"{what} at offset {offset:#x} (+{size:#x}) lies outside the file", subject=self.name
            )

    def read(self, offset: int, size: int, what: str) -> bytes:
        self.need(offset, size, what)
        return bytes(self.data[offset : offset + size])

    @property
    def loads(self) -> list[Segment]:
        return [s for s in self.segments if s.type == PT_LOAD]

    def segment(self, kind: int) -> Segment | None:
        return next((s for s in self.segments if s.type == kind), None)

    def offset_of(self, vaddr: int, what: str, size: int = 0) -> int:
        """The file offset holding the ``size`` bytes mapped at ``vaddr``."""
        for seg in self.loads:
            if seg.vaddr <= vaddr and vaddr + size <= seg.vaddr + seg.filesz:
                offset = seg.offset + vaddr - seg.vaddr
                self.need(offset, size, what)
                return offset
        raise InvalidBinary(f"{what} at address {vaddr:#x} is not in any loaded segment", subject=self.name)

    def section_name(self, section: Section) -> str:
        if not 0 < self.shstrndx < len(self.sections):
            return ""
        names = self.sections[self.shstrndx]
        start = names.offset + section.name
        end = self.data.find(b"\0", start, names.offset + names.size)
        return bytes(self.data[start:end]).decode("utf-8", "replace") if end >= 0 else ""

    def machine(self) -> str:
        names = _MACHINES.get(self.header.machine)
        if names is None:
            return f"elf-machine-{self.header.machine}"
        name = names[1] if self.lay.is64 else names[0]
        if name == "armv7l" and not self.header.flags & EF_ARM_ABI_FLOAT_HARD:
            return "armel"
        if name in ("ppc64", "mips", "mips64") and self.lay.little:
            return name + ("le" if name == "ppc64" else "el")
        return name
