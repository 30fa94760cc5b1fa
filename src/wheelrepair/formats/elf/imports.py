"""What an ELF file imports and what it asks for: undefined dynamic symbols (through DT_SYMTAB and
the hash tables that count them), the x86 ISA level in its GNU property note, and the Android API
level in the NDK's ident note.

Like the reader, this follows the dynamic segment and program headers, never section headers. The
symbol count comes from DT_HASH (nchain) or, for DT_GNU_HASH only files, from the highest bucket's
chain; ``.dynsym`` sits right after the hash tables near the start of the file, so a lazily inflated
member costs a few more kilobytes, not the whole library.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Protocol, cast

from ..base import ByteSource

ELFCLASS32 = 1
EM_X86_64 = 62
PT_NOTE, PT_GNU_PROPERTY = 4, 0x6474E553
NT_GNU_PROPERTY_TYPE_0 = 5
NT_ANDROID_TYPE_IDENT = 1
GNU_PROPERTY_X86_ISA_1_NEEDED = 0xC0008002
SHN_UNDEF, STB_WEAK = 0, 2
#: Bits of GNU_PROPERTY_X86_ISA_1_NEEDED above the baseline, highest first.
ISA_LEVELS = ((8, "x86-64-v4"), (4, "x86-64-v3"), (2, "x86-64-v2"))

#: Guards against absurd counts in hostile files.
_MAX_SYMBOLS = 1 << 22


class ElfView(Protocol):
    """The parts of the reader's parsed image this module uses."""

    cls: int
    e_machine: int
    bo: str
    data: bytes | ByteSource

    def unpack(self, fmt: str, offset: int, what: str) -> tuple[int, ...]: ...

    def to_offset(self, vaddr: int, what: str) -> int: ...

    def need(self, end: int, what: str) -> None: ...


def symbol_count(elf: ElfView, hash_vaddr: int | None, gnu_hash_vaddr: int | None) -> tuple[int, int]:
    """(number of .dynsym entries, end of the bytes read to learn it); (0, 0) without hash tables."""
    if hash_vaddr is not None:
        offset = elf.to_offset(hash_vaddr, "DT_HASH")
        _, nchain = elf.unpack("II", offset, "DT_HASH header")
        return min(nchain, _MAX_SYMBOLS), offset + 8
    if gnu_hash_vaddr is None:
        return 0, 0
    offset = elf.to_offset(gnu_hash_vaddr, "DT_GNU_HASH")
    nbuckets, symoffset, bloom_size, _ = elf.unpack("IIII", offset, "DT_GNU_HASH header")
    if nbuckets > _MAX_SYMBOLS or bloom_size > _MAX_SYMBOLS:
        raise ValueError("DT_GNU_HASH table is too large")
    buckets = offset + 16 + bloom_size * (4 if elf.cls == ELFCLASS32 else 8)
    top = max(elf.unpack(f"{nbuckets}I", buckets, "DT_GNU_HASH buckets"), default=0) if nbuckets else 0
    end = buckets + 4 * nbuckets
    if top < symoffset:
        return symoffset, end
    chains = end
    index = top
    while index - symoffset < _MAX_SYMBOLS:
        position = chains + 4 * (index - symoffset)
        (value,) = elf.unpack("I", position, "DT_GNU_HASH chain")
        end = max(end, position + 4)
        if value & 1:
            return index + 1, end
        index += 1
    raise ValueError("DT_GNU_HASH chain does not end")


def undefined_symbols(
    elf: ElfView, symtab_vaddr: int | None, count: int, name_of: Callable[[int], str]
) -> tuple[frozenset[str], int]:
    """Names of the undefined, non-weak symbols among the first ``count`` .dynsym entries, and the end
    of the symbol table in the file."""
    if symtab_vaddr is None or count <= 0:
        return frozenset(), 0
    offset = elf.to_offset(symtab_vaddr, "DT_SYMTAB")
    # Only the fields needed, skipping value and size: (name, info, shndx) per entry.
    fmt, size = ("I8xB1xH", 16) if elf.cls == ELFCLASS32 else ("IB1xH16x", 24)
    end = offset + size * count
    elf.need(end, "dynamic symbol table")
    layout = struct.Struct(elf.bo + fmt)
    found: set[str] = set()
    # entry 0 is the null symbol
    for name, info, shndx in layout.iter_unpack(elf.data[offset + size : end]):
        if shndx == SHN_UNDEF and name and info >> 4 != STB_WEAK:
            found.add(name_of(name))
    return frozenset(found), end


Note = tuple[int, int, int, int]  # (segment type, offset, size, alignment)


def isa_level(elf: ElfView, notes: list[Note]) -> tuple[str | None, int]:
    """The x86-64 ISA level the file needs (None for the baseline or other machines), from the
    GNU property note in ``notes`` (the PT_GNU_PROPERTY / PT_NOTE segments), and the end of the
    bytes read."""
    if elf.e_machine != EM_X86_64 or elf.cls == ELFCLASS32:
        return None, 0
    # PT_GNU_PROPERTY names exactly the property note; without it, look through every PT_NOTE.
    chosen = [n for n in notes if n[0] == PT_GNU_PROPERTY] or [n for n in notes if n[0] == PT_NOTE]
    end = max((offset + size for _, offset, size, _ in chosen), default=0)
    for name, kind, desc_at, descsz in _walk(elf, chosen):
        if kind == NT_GNU_PROPERTY_TYPE_0 and name == b"GNU\0":
            level = _property_level(elf, desc_at, descsz)
            if level is not None:
                return level, end
    return None, end


def android_api(elf: ElfView, notes: list[Note]) -> int | None:
    """The API level in the NDK's ``.note.android.ident`` note (name "Android", type 1, the level
    in the first word of its description), or None when the file has no such note."""
    for name, kind, desc_at, descsz in _walk(elf, [n for n in notes if n[0] == PT_NOTE]):
        if kind == NT_ANDROID_TYPE_IDENT and name == b"Android\0" and descsz >= 4:
            return int(elf.unpack("I", desc_at, "Android note")[0])
    return None


def _walk(elf: ElfView, segments: list[Note]) -> Iterator[tuple[bytes, int, int, int]]:
    """(name, type, description offset, description size) of each note in ``segments``. The
    description starts, and the next note, at the segment's alignment from the note's start: 8 in
    a segment aligned so (64-bit property notes), else 4 (as readelf reads them)."""
    for _, offset, size, align in segments:
        pad = 8 if align == 8 else 4
        position, limit = offset, offset + size
        while position + 12 <= limit:
            namesz, descsz, kind = elf.unpack("III", position, "note header")
            name_at = position + 12
            desc_at = position + _align(12 + namesz, pad)
            if desc_at + descsz > limit:
                break  # a note that overruns its segment: the rest of it is not notes (as readelf)
            # A "<n>s" field unpacks to bytes; the view's signature says int for its usual fields.
            name = cast(bytes, elf.unpack(f"{namesz}s", name_at, "note name")[0]) if namesz else b""
            yield name, kind, desc_at, descsz
            position = desc_at + _align(descsz, pad)


def _property_level(elf: ElfView, start: int, size: int) -> str | None:
    position, limit = start, start + size
    while position + 8 <= limit:
        kind, datasz = elf.unpack("II", position, "GNU property")
        if kind == GNU_PROPERTY_X86_ISA_1_NEEDED and datasz == 4:
            (bits,) = elf.unpack("I", position + 8, "GNU property data")
            return next((name for bit, name in ISA_LEVELS if bits & bit), None)
        position += 8 + _align(datasz, 8)
    return None


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to
