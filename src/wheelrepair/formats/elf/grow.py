"""Growing an ELF file without moving what is mapped: one new PT_LOAD segment at the end holding
the new .dynstr, .dynamic and program header table as needed."""

from __future__ import annotations

import copy
import struct
import sys
from array import array
from dataclasses import dataclass, replace

from ...errors import EditError, InvalidBinary
from .dynamic import DT_STRSZ, DT_STRTAB, Dynamic
from .entries import Entry, pack_dynamic
from .layout import (
    PF_R,
    PF_W,
    PT_DYNAMIC,
    PT_INTERP,
    PT_LOAD,
    PT_NULL,
    PT_PHDR,
    SHF_ALLOC,
    SHT_DYNAMIC,
    SHT_DYNSYM,
    SHT_STRTAB,
    SHT_SYMTAB,
    ElfImage,
    Segment,
    align_up,
)

#: Empty entries left after a relocated dynamic table, so later additions need not move it again.
_SPARE_DYNAMIC_SLOTS = 4
_SPARE_PROGRAM_HEADERS = 1
#: Most zero padding an executable's new segment may take to keep pre-5.18 kernels' AT_PHDR right.
_MAX_PADDING = 64 << 20


@dataclass
class Plan:
    """The bytes to overwrite in the original file, and the bytes to append at ``append_at``."""

    writes: list[tuple[int, bytes]]
    append_at: int = 0
    append: bytes = b""


def grow(
    image: ElfImage,
    dyn: Dynamic,
    entries: list[Entry],
    writes: list[tuple[int, bytes]],
    new_strtab: bytes | None,
    move_dynamic: bool,
) -> Plan:
    """Place the new .dynstr and/or .dynamic (and the program headers, when they need one more slot)
    in a new PT_LOAD segment after the end of the file and of the address space."""
    lay, header = image.lay, image.header
    loads = image.loads
    if not loads:
        raise EditError("has no loadable segment to extend", subject=image.name)
    if any(s.offset + s.filesz > image.size for s in image.segments):
        raise InvalidBinary("a segment extends past the end of the file", subject=image.name)
    align = max(max(s.align for s in loads), 1)
    end_vaddr = max(s.vaddr + s.memsz for s in loads)
    phdrs = [copy.copy(s) for s in image.segments]
    spare = next((i for i, s in enumerate(phdrs) if s.type == PT_NULL), None)
    move_phdrs = spare is None
    if spare is not None:
        del phdrs[spare]
    # A moved table keeps a spare PT_NULL entry, so a later edit can add its segment in place.
    count = len(phdrs) + 1 + (_SPARE_PROGRAM_HEADERS if move_phdrs else 0)

    # The new segment's contents, as offsets from its start.
    size = 0
    if move_phdrs:
        size = count * lay.phdr.size
    str_at = size
    if new_strtab is not None:
        size += len(new_strtab)
    dyn_at = size = align_up(size, lay.align)
    dyn_size = (len(entries) + 1 + _SPARE_DYNAMIC_SLOTS) * lay.dyn.size
    if move_dynamic:
        size += dyn_size

    base = align_up(image.size, lay.align)
    delta = loads[0].vaddr - loads[0].offset
    kernel_safe = align_up(end_vaddr, align) - delta - base <= _MAX_PADDING
    if move_phdrs and image.segment(PT_INTERP) is not None and delta % align == 0 and kernel_safe:
        # Kernels before 5.18 compute AT_PHDR as if the table were mapped with the first PT_LOAD's
        # offset-to-address delta, so an executable's new segment keeps that delta.
        base = max(base, align_up(end_vaddr, align) - delta)
        vaddr = base + delta
    else:
        vaddr = align_up(end_vaddr, align) + base % align
    if vaddr + size > 1 << (64 if lay.is64 else 32):
        raise EditError("no address space left for a new segment", subject=image.name)
    load = Segment(PT_LOAD, PF_R | (PF_W if move_dynamic else 0), base, vaddr, vaddr, size, size, align)
    last_load = max(i for i, s in enumerate(phdrs) if s.type == PT_LOAD)
    phdrs.insert(last_load + 1, load)

    for seg in phdrs:
        if seg.type == PT_PHDR and move_phdrs:
            seg.offset, seg.vaddr, seg.paddr = base, vaddr, vaddr
            seg.filesz = seg.memsz = count * lay.phdr.size
        if seg.type == PT_DYNAMIC and move_dynamic:
            seg.offset, seg.vaddr, seg.paddr = base + dyn_at, vaddr + dyn_at, vaddr + dyn_at
            seg.filesz = seg.memsz = dyn_size
    for e in entries:
        if new_strtab is not None and e.tag == DT_STRTAB:
            e.value = vaddr + str_at
        if new_strtab is not None and e.tag == DT_STRSZ:
            e.value = len(new_strtab)

    phdrs += [Segment(PT_NULL, 0, 0, 0, 0, 0, 0, 0)] * (count - len(phdrs))
    table = b"".join(s.pack(lay) for s in phdrs)
    new_header = replace(header, phnum=count, phoff=base if move_phdrs else header.phoff)
    writes.append((0, new_header.pack(lay)))
    if not move_phdrs:
        writes.append((header.phoff, table))
    if move_dynamic:
        dynamic = pack_dynamic(
            image, entries, len(entries) + 1 + _SPARE_DYNAMIC_SLOTS, vaddr + dyn_at, dyn.segment.vaddr
        )
    else:
        writes.append(
            (
                dyn.segment.offset,
                pack_dynamic(image, entries, dyn.slots, dyn.segment.vaddr, dyn.segment.vaddr),
            )
        )

    for index, sec in enumerate(image.sections):
        if (
            new_strtab is not None
            and sec.type == SHT_STRTAB
            and sec.flags & SHF_ALLOC
            and sec.addr == dyn.strtab_addr
        ):
            sec = replace(sec, offset=base + str_at, addr=vaddr + str_at, size=len(new_strtab))
        elif move_dynamic and sec.type == SHT_DYNAMIC:
            sec = replace(sec, offset=base + dyn_at, addr=vaddr + dyn_at, size=dyn_size)
        else:
            continue
        writes.append((header.shoff + index * header.shentsize, sec.pack(lay)))

    if move_dynamic:
        writes += moved_dynamic_symbols(image, dyn.segment.vaddr, vaddr + dyn_at)

    blob = bytearray(size)
    if move_phdrs:
        blob[: len(table)] = table
    if new_strtab is not None:
        blob[str_at : str_at + len(new_strtab)] = new_strtab
    if move_dynamic:
        blob[dyn_at : dyn_at + dyn_size] = dynamic
    return Plan(writes, base, bytes(blob))


def moved_dynamic_symbols(image: ElfImage, old: int, new: int) -> list[tuple[int, bytes]]:
    """Point the ``_DYNAMIC`` symbols (which tools check against PT_DYNAMIC) at the moved table."""
    lay = image.lay
    writes: list[tuple[int, bytes]] = []
    value_at, value = (8, struct.Struct(lay.word.format[0] + "Q")) if lay.is64 else (4, lay.word)
    for sec in image.sections:
        if (
            sec.type not in (SHT_SYMTAB, SHT_DYNSYM)
            or not 0 < sec.link < len(image.sections)
            or not sec.entsize
        ):
            continue
        names = image.sections[sec.link]
        found = image.data.find(b"\0_DYNAMIC\0", names.offset, names.offset + names.size)
        if found < 0:
            continue
        name = found + 1 - names.offset
        count = sec.size // sec.entsize
        words = array("I")
        words.frombytes(image.read(sec.offset, count * sec.entsize, "symbol table"))
        if lay.little != (sys.byteorder == "little"):
            words.byteswap()
        step = sec.entsize // 4
        for index, st_name in enumerate(words[::step]):
            at = sec.offset + index * sec.entsize + value_at
            if st_name == name and value.unpack_from(image.data, at)[0] == old:
                writes.append((at, value.pack(new)))
    return writes
