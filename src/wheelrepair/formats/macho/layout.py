"""Mach-O structure layout: constants, the header and load commands of one thin slice, parsed in place."""

from __future__ import annotations

import struct
from dataclasses import dataclass

MH_MAGIC = 0xFEEDFACE
MH_MAGIC_64 = 0xFEEDFACF
MH_CIGAM = 0xCEFAEDFE
MH_CIGAM_64 = 0xCFFAEDFE
#: How a thin Mach-O file starts, as ``read_header`` reads the magic (little-endian).
MAGIC_BYTES = tuple(struct.pack("<I", m) for m in (MH_MAGIC, MH_MAGIC_64, MH_CIGAM, MH_CIGAM_64))

MH_EXECUTE = 0x2
MH_DYLIB = 0x6
MH_BUNDLE = 0x8
#: File types a wheel can hold that the loader maps: programs, libraries, extension bundles.
LOADABLE_FILETYPES = frozenset({MH_EXECUTE, MH_DYLIB, MH_BUNDLE})

LC_REQ_DYLD = 0x80000000
LC_SEGMENT = 0x1
LC_LOAD_DYLIB = 0xC
LC_ID_DYLIB = 0xD
LC_LOAD_WEAK_DYLIB = 0x18 | LC_REQ_DYLD
LC_SEGMENT_64 = 0x19
LC_RPATH = 0x1C | LC_REQ_DYLD
LC_CODE_SIGNATURE = 0x1D
LC_REEXPORT_DYLIB = 0x1F | LC_REQ_DYLD
LC_LAZY_LOAD_DYLIB = 0x20
LC_LOAD_UPWARD_DYLIB = 0x23 | LC_REQ_DYLD
LC_VERSION_MIN_MACOSX = 0x24
LC_BUILD_VERSION = 0x32

#: Load commands naming a library this image needs.
DEPENDENCY_COMMANDS = frozenset(
    {LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB, LC_LAZY_LOAD_DYLIB, LC_LOAD_UPWARD_DYLIB}
)
DYLIB_COMMANDS = DEPENDENCY_COMMANDS | {LC_ID_DYLIB}

PLATFORM_MACOS = 1

CPU_ARCH_ABI64 = 0x01000000
CPU_ARCH_ABI64_32 = 0x02000000
CPU_TYPE_X86 = 7
CPU_TYPE_X86_64 = CPU_TYPE_X86 | CPU_ARCH_ABI64
CPU_TYPE_ARM = 12
CPU_TYPE_ARM64 = CPU_TYPE_ARM | CPU_ARCH_ABI64
CPU_TYPE_ARM64_32 = CPU_TYPE_ARM | CPU_ARCH_ABI64_32
CPU_TYPE_POWERPC = 18
CPU_TYPE_POWERPC64 = CPU_TYPE_POWERPC | CPU_ARCH_ABI64
KNOWN_CPU_TYPES = frozenset(
    {
        CPU_TYPE_X86,
        CPU_TYPE_X86_64,
        CPU_TYPE_ARM,
        CPU_TYPE_ARM64,
        CPU_TYPE_ARM64_32,
        CPU_TYPE_POWERPC,
        CPU_TYPE_POWERPC64,
    }
)
_CPU_SUBTYPE_MASK = 0x00FFFFFF
_CPU_SUBTYPE_X86_64_H = 8
_CPU_SUBTYPE_ARM64E = 2

# Section types whose contents occupy no file space (their offset field is 0 or meaningless).
_ZEROFILL_TYPES = frozenset({0x1, 0xC, 0x12})


class MachOFormatError(Exception):
    """A structural problem in a Mach-O file; the message is one line without the file name."""


def arch_name(cputype: int, cpusubtype: int) -> str:
    """The name Apple's tools and wheel tags use for a CPU type."""
    sub = cpusubtype & _CPU_SUBTYPE_MASK
    if cputype == CPU_TYPE_X86_64:
        return "x86_64h" if sub == _CPU_SUBTYPE_X86_64_H else "x86_64"
    if cputype == CPU_TYPE_ARM64:
        return "arm64e" if sub == _CPU_SUBTYPE_ARM64E else "arm64"
    names = {
        CPU_TYPE_X86: "i386",
        CPU_TYPE_ARM: "arm",
        CPU_TYPE_ARM64_32: "arm64_32",
        CPU_TYPE_POWERPC: "ppc",
        CPU_TYPE_POWERPC64: "ppc64",
    }
    return names.get(cputype, f"cpu{cputype:#x}")


def page_size(cputype: int) -> int:
    """The VM page size segments are rounded to (16 KiB on Apple silicon)."""
    return 0x4000 if cputype in (CPU_TYPE_ARM64, CPU_TYPE_ARM64_32) else 0x1000


@dataclass(frozen=True)
class Header:
    endian: str  # struct byte-order prefix, "<" or ">"
    is64: bool
    cputype: int
    cpusubtype: int
    filetype: int
    ncmds: int
    sizeofcmds: int
    flags: int

    @property
    def size(self) -> int:
        return 32 if self.is64 else 28

    @property
    def arch(self) -> str:
        return arch_name(self.cputype, self.cpusubtype)

    @property
    def command_align(self) -> int:
        """Load command sizes are multiples of this (pointer size)."""
        return 8 if self.is64 else 4

    def pack(self, ncmds: int, sizeofcmds: int) -> bytes:
        magic = MH_MAGIC_64 if self.is64 else MH_MAGIC
        fields = (magic, self.cputype, self.cpusubtype, self.filetype, ncmds, sizeofcmds, self.flags)
        fmt = self.endian + "7I"
        return struct.pack(fmt, *fields) + (b"\0\0\0\0" if self.is64 else b"")


@dataclass(frozen=True)
class Command:
    cmd: int
    offset: int  # from the start of the slice
    raw: bytes


@dataclass(frozen=True)
class Segment:
    name: str
    command_index: int
    vmaddr: int
    vmsize: int
    fileoff: int
    filesize: int


@dataclass(frozen=True)
class SliceLayout:
    """The parsed header and load commands of one thin Mach-O image."""

    header: Header
    commands: tuple[Command, ...]
    segments: tuple[Segment, ...]
    #: File offset where section / segment contents start: the load commands must end before it.
    data_start: int
    size: int

    @property
    def commands_end(self) -> int:
        return self.header.size + self.header.sizeofcmds

    @property
    def padding(self) -> int:
        return self.data_start - self.commands_end

    def segment(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)

    def find(self, cmd: int) -> Command | None:
        return next((c for c in self.commands if c.cmd == cmd), None)

    def u32(self, command: Command, offset: int) -> int:
        if offset + 4 > len(command.raw):
            raise MachOFormatError(f"load command {command.cmd:#x} is too short ({len(command.raw)} bytes)")
        value: int = struct.unpack_from(self.header.endian + "I", command.raw, offset)[0]
        return value

    def string(self, command: Command, field: int) -> str:
        """The ``lc_str`` whose offset is stored at ``field`` inside ``command``."""
        start = self.u32(command, field)
        if not field + 4 <= start < len(command.raw):
            raise MachOFormatError(f"load command {command.cmd:#x} has a string offset outside it")
        raw = command.raw[start:]
        end = raw.find(b"\0")
        return (raw if end < 0 else raw[:end]).decode("utf-8", "surrogateescape")


def read_header(buf: bytes | memoryview, start: int = 0) -> Header:
    if len(buf) - start < 28:
        raise MachOFormatError("file too short for a Mach-O header")
    (magic,) = struct.unpack_from("<I", buf, start)
    if magic in (MH_MAGIC, MH_MAGIC_64):
        endian = "<"
    elif magic in (MH_CIGAM, MH_CIGAM_64):
        endian = ">"
    else:
        raise MachOFormatError(f"bad Mach-O magic {magic:#010x}")
    is64 = magic in (MH_MAGIC_64, MH_CIGAM_64)
    fields = struct.unpack_from(endian + "6I", buf, start + 4)
    return Header(endian, is64, *fields)


def parse_slice(buf: bytes | memoryview, start: int = 0, size: int | None = None) -> SliceLayout:
    """Parse the header and load commands of the image at ``buf[start:start+size]``."""
    size = len(buf) - start if size is None else size
    if start + size > len(buf):
        raise MachOFormatError("slice extends past the end of the file")
    header = read_header(buf, start)
    end = header.size + header.sizeofcmds
    if end > size:
        raise MachOFormatError(f"load commands ({header.sizeofcmds} bytes) extend past the end of the image")
    commands: list[Command] = []
    segments: list[Segment] = []
    data_start = size
    offset = header.size
    for index in range(header.ncmds):
        if offset + 8 > end:
            raise MachOFormatError(f"load command {index} starts past sizeofcmds")
        cmd, cmdsize = struct.unpack_from(header.endian + "2I", buf, start + offset)
        if cmdsize < 8 or cmdsize % 4 or offset + cmdsize > end:
            raise MachOFormatError(f"load command {index} has a bad size {cmdsize}")
        raw = bytes(buf[start + offset : start + offset + cmdsize])
        command = Command(cmd, offset, raw)
        if cmd in (LC_SEGMENT, LC_SEGMENT_64):
            segment, first = _segment(header, command, index, size)
            segments.append(segment)
            data_start = min(data_start, first)
        commands.append(command)
        offset += cmdsize
    return SliceLayout(header, tuple(commands), tuple(segments), data_start, size)


def _segment(header: Header, command: Command, index: int, size: int) -> tuple[Segment, int]:
    """The segment a command describes and the lowest file offset of its contents after the header."""
    e = header.endian
    if command.cmd == LC_SEGMENT_64:
        seg_fmt, seg_size, sect_fmt, sect_size = e + "16s4Q4I", 72, e + "16s16s2Q8I", 80
    else:
        seg_fmt, seg_size, sect_fmt, sect_size = e + "16s4I4I", 56, e + "16s16s2I7I", 68
    if len(command.raw) < seg_size:
        raise MachOFormatError(f"segment command {index} is truncated")
    name, vmaddr, vmsize, fileoff, filesize, _maxprot, _initprot, nsects, _flags = struct.unpack_from(
        seg_fmt, command.raw, 8
    )
    if len(command.raw) < seg_size + nsects * sect_size:
        raise MachOFormatError(f"segment command {index} has more sections than fit in it")
    if fileoff + filesize > size:
        raise MachOFormatError(f"segment {_cstr(name)} extends past the end of the image")
    first = size
    if fileoff > 0 and filesize > 0:
        first = fileoff
    for k in range(nsects):
        fields = struct.unpack_from(sect_fmt, command.raw, seg_size + k * sect_size)
        sect_size_field, sect_offset, sect_flags = fields[3], fields[4], fields[8]
        if sect_offset and sect_size_field and (sect_flags & 0xFF) not in _ZEROFILL_TYPES:
            first = min(first, sect_offset)
    segment = Segment(_cstr(name), index, vmaddr, vmsize, fileoff, filesize)
    return segment, first


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


def decode_version(value: int) -> tuple[int, int]:
    """``xxxx.yy.zz`` nibble-packed version -> (major, minor)."""
    return (value >> 16, (value >> 8) & 0xFF)
