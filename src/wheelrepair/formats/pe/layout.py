"""The PE file layout: headers, section table, data directories and the DLL-name slots of the import
and delay-load import directories, parsed with ``struct`` (no pefile: it is slow on large DLLs).

Shared by the reader (which turns it into a ``Binary``) and the editor (which rewrites the slots).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ...errors import InvalidBinary

# Machine field -> normalized architecture name (documented in docs/windows.md).
MACHINES = {0x14C: "x86", 0x8664: "x86_64", 0xAA64: "arm64", 0x1C4: "arm", 0xA641: "arm64ec"}

PE32 = 0x10B
PE32_PLUS = 0x20B

IMAGE_FILE_DLL = 0x2000

DIR_EXPORT = 0
DIR_IMPORT = 1
DIR_SECURITY = 4
DIR_DEBUG = 6
DIR_LOAD_CONFIG = 10
DIR_BOUND_IMPORT = 11
DIR_DELAY_IMPORT = 13

SCN_CNT_CODE = 0x20
SCN_CNT_INITIALIZED_DATA = 0x40
SCN_CNT_UNINITIALIZED_DATA = 0x80
SCN_MEM_DISCARDABLE = 0x02000000
SCN_MEM_EXECUTE = 0x20000000
SCN_MEM_READ = 0x40000000
SCN_MEM_WRITE = 0x80000000

SECTION_HEADER_SIZE = 40
_IMPORT_DESCRIPTOR_SIZE = 20
_DELAY_DESCRIPTOR_SIZE = 32
# No real image imports from more DLLs than this; a bound stops a malformed file from looping.
_MAX_DESCRIPTORS = 65536
_MAX_NAME = 1024


@dataclass(frozen=True)
class Section:
    name: str
    virtual_size: int
    virtual_address: int
    raw_size: int
    raw_pointer: int
    characteristics: int
    #: File offset of this section's 40-byte header.
    header_offset: int

    @property
    def virtual_end(self) -> int:
        return self.virtual_address + max(self.virtual_size, self.raw_size)


@dataclass(frozen=True)
class NameSlot:
    """One place where an imported DLL's name is referenced: a descriptor field holding the RVA (or,
    for old-style delay-load descriptors, the VA) of a NUL-terminated string."""

    delay: bool
    #: File offset of the 4-byte field that points at the string.
    field_offset: int
    rva: int
    name: str
    #: The field holds a virtual address (old delay-load descriptors without the RVA attribute).
    is_va: bool = False


@dataclass(frozen=True)
class PELayout:
    size: int
    e_lfanew: int
    machine: int
    characteristics: int
    pointer_to_symbol_table: int
    #: File offset of the optional header.
    optional_offset: int
    size_of_optional_header: int
    magic: int
    linker_version: tuple[int, int]
    image_base: int
    section_alignment: int
    file_alignment: int
    size_of_image: int
    size_of_headers: int
    #: File offset of the first data directory entry.
    data_dir_offset: int
    data_dirs: tuple[tuple[int, int], ...]
    sections: tuple[Section, ...]

    @property
    def coff_offset(self) -> int:
        return self.e_lfanew + 4

    @property
    def pe32_plus(self) -> bool:
        return self.magic == PE32_PLUS

    @property
    def checksum_offset(self) -> int:
        return self.optional_offset + 64

    @property
    def section_table_offset(self) -> int:
        return self.optional_offset + self.size_of_optional_header

    @property
    def section_table_end(self) -> int:
        return self.section_table_offset + SECTION_HEADER_SIZE * len(self.sections)

    @property
    def raw_end(self) -> int:
        """Where the last section's raw data ends: anything after it is overlay (symbols, signature)."""
        ends = [s.raw_pointer + s.raw_size for s in self.sections if s.raw_size]
        return max(ends, default=self.size_of_headers)

    def directory(self, index: int) -> tuple[int, int]:
        return self.data_dirs[index] if index < len(self.data_dirs) else (0, 0)

    def rva_to_offset(self, rva: int) -> int | None:
        """The file offset holding the byte at ``rva``, or None when it is not backed by the file."""
        if rva < self.size_of_headers:
            return rva if rva < self.size else None
        for section in self.sections:
            span = section.virtual_size or section.raw_size
            if section.virtual_address <= rva < section.virtual_address + span:
                delta = rva - section.virtual_address
                if delta < section.raw_size and section.raw_pointer + delta < self.size:
                    return section.raw_pointer + delta
                return None
        return None

    def section_of(self, rva: int) -> Section | None:
        for section in self.sections:
            if section.virtual_address <= rva < section.virtual_end:
                return section
        return None


def parse_layout(data: bytes | bytearray, name: str) -> PELayout:
    """Parse the headers and section table; raise ``InvalidBinary`` naming ``name`` if malformed."""
    size = len(data)
    if size < 0x40 or data[:2] != b"MZ":
        raise InvalidBinary("not a PE file (no MZ header)", subject=name)
    (e_lfanew,) = struct.unpack_from("<I", data, 0x3C)
    if e_lfanew + 24 > size or data[e_lfanew : e_lfanew + 4] != b"PE\0\0":
        raise InvalidBinary("not a PE file (no PE signature at e_lfanew)", subject=name)
    coff = e_lfanew + 4
    machine, nsections, _stamp, symtab, _nsyms, opt_size, characteristics = struct.unpack_from(
        "<HHIIIHH", data, coff
    )
    opt = coff + 20
    if opt + opt_size > size or opt_size < 2:
        raise InvalidBinary("truncated PE optional header", subject=name)
    (magic,) = struct.unpack_from("<H", data, opt)
    if magic == PE32:
        base_size, dirs_at = 96, 96
        (image_base,) = struct.unpack_from("<I", data, opt + 28)
    elif magic == PE32_PLUS:
        base_size, dirs_at = 112, 112
        (image_base,) = struct.unpack_from("<Q", data, opt + 24)
    else:
        raise InvalidBinary(f"unknown PE optional header magic 0x{magic:x}", subject=name)
    if opt_size < base_size:
        raise InvalidBinary("truncated PE optional header", subject=name)
    major, minor = data[opt + 2], data[opt + 3]
    sect_align, file_align = struct.unpack_from("<II", data, opt + 32)
    size_of_image, size_of_headers = struct.unpack_from("<II", data, opt + 56)
    (ndirs,) = struct.unpack_from("<I", data, opt + dirs_at - 4)
    ndirs = min(ndirs, (opt_size - dirs_at) // 8, 16)
    dirs = tuple(struct.unpack_from("<II", data, opt + dirs_at + 8 * i) for i in range(ndirs))
    table = opt + opt_size
    if table + SECTION_HEADER_SIZE * nsections > size:
        raise InvalidBinary("truncated PE section table", subject=name)
    sections = []
    for i in range(nsections):
        at = table + SECTION_HEADER_SIZE * i
        raw_name, vsize, vaddr, rsize, rptr = struct.unpack_from("<8sIIII", data, at)
        (flags,) = struct.unpack_from("<I", data, at + 36)
        sections.append(
            Section(raw_name.rstrip(b"\0").decode("latin-1"), vsize, vaddr, rsize, rptr, flags, at)
        )
    return PELayout(
        size=size,
        e_lfanew=e_lfanew,
        machine=machine,
        characteristics=characteristics,
        pointer_to_symbol_table=symtab,
        optional_offset=opt,
        size_of_optional_header=opt_size,
        magic=magic,
        linker_version=(major, minor),
        image_base=image_base,
        section_alignment=sect_align,
        file_alignment=file_align,
        size_of_image=size_of_image,
        size_of_headers=size_of_headers,
        data_dir_offset=opt + dirs_at,
        data_dirs=dirs,
        sections=tuple(sections),
    )


def read_string(data: bytes | bytearray, layout: PELayout, rva: int, name: str, what: str) -> str:
    """The NUL-terminated string at ``rva``."""
    offset = layout.rva_to_offset(rva)
    if offset is None:
        raise InvalidBinary(f"{what} at RVA 0x{rva:x} is outside the file", subject=name)
    end = data.find(b"\0", offset, offset + _MAX_NAME)
    if end < 0:
        raise InvalidBinary(f"{what} at RVA 0x{rva:x} is not terminated", subject=name)
    return data[offset:end].decode("latin-1")


def _table_offset(layout: PELayout, rva: int, name: str, what: str) -> int:
    offset = layout.rva_to_offset(rva)
    if offset is None:
        raise InvalidBinary(f"{what} at RVA 0x{rva:x} is outside the file", subject=name)
    return offset


def import_slots(data: bytes | bytearray, layout: PELayout, name: str) -> list[NameSlot]:
    """Every DLL name referenced by the import and delay-load import directories, in file order."""
    slots: list[NameSlot] = []
    rva, dir_size = layout.directory(DIR_IMPORT)
    if rva and dir_size:
        at = _table_offset(layout, rva, name, "import directory")
        for _ in range(_MAX_DESCRIPTORS):
            if at + _IMPORT_DESCRIPTOR_SIZE > len(data):
                raise InvalidBinary("import directory runs past the end of the file", subject=name)
            original_thunk, _stamp, _fwd, name_rva, first_thunk = struct.unpack_from("<IIIII", data, at)
            if name_rva == 0 and original_thunk == 0 and first_thunk == 0:
                break
            if name_rva:
                dll = read_string(data, layout, name_rva, name, "imported DLL name")
                slots.append(NameSlot(False, at + 12, name_rva, dll))
            at += _IMPORT_DESCRIPTOR_SIZE
    rva, dir_size = layout.directory(DIR_DELAY_IMPORT)
    if rva and dir_size:
        at = _table_offset(layout, rva, name, "delay-load import directory")
        for _ in range(_MAX_DESCRIPTORS):
            if at + _DELAY_DESCRIPTOR_SIZE > len(data):
                raise InvalidBinary("delay-load import directory runs past the end of the file", subject=name)
            attributes, name_ref = struct.unpack_from("<II", data, at)
            if name_ref == 0:
                break
            # Attribute bit 0 set: the fields are RVAs; clear (old Visual C++ 6 format): VAs.
            is_va = not attributes & 1
            name_rva = name_ref - layout.image_base if is_va else name_ref
            dll = read_string(data, layout, name_rva, name, "delay-loaded DLL name")
            slots.append(NameSlot(True, at + 4, name_rva, dll, is_va))
            at += _DELAY_DESCRIPTOR_SIZE
    return slots


def export_name(data: bytes | bytearray, layout: PELayout, name: str) -> str | None:
    """The DLL name recorded in the export directory (what the linker was told the DLL is called)."""
    rva, dir_size = layout.directory(DIR_EXPORT)
    if not rva or dir_size < 16:
        return None
    offset = layout.rva_to_offset(rva)
    if offset is None or offset + 16 > len(data):
        return None
    (name_rva,) = struct.unpack_from("<I", data, offset + 12)
    if not name_rva or layout.rva_to_offset(name_rva) is None:
        return None
    return read_string(data, layout, name_rva, name, "export name") or None
