"""Drop what ``strip -s`` drops from an ELF file (symbol tables and debug sections) in pure Python,
leaving every byte the loader maps where it was."""

from __future__ import annotations

import mmap
import os
from dataclasses import replace
from pathlib import Path

from ...errors import EditError, InvalidBinary
from .atomic import patched, rewrite_file
from .layout import (
    SHF_ALLOC,
    SHN_LORESERVE,
    SHN_XINDEX,
    SHT_REL,
    SHT_RELA,
    SHT_STRTAB,
    SHT_SYMTAB,
    SHT_SYMTAB_SHNDX,
    ElfImage,
    Section,
    align_up,
)

#: Non-allocated sections that only debuggers read.
_DEBUG_PREFIXES = (".debug", ".zdebug", ".gnu.debuglto_", ".stab", ".line", ".gnu.linkonce.wi.")
SHF_INFO_LINK = 0x40


def _removable(image: ElfImage) -> set[int]:
    sections = image.sections
    remove: set[int] = set()
    for index, sec in enumerate(sections):
        if index == 0 or sec.flags & SHF_ALLOC:
            continue
        if sec.type in (SHT_SYMTAB, SHT_SYMTAB_SHNDX) or image.section_name(sec).startswith(_DEBUG_PREFIXES):
            remove.add(index)
    changed = True
    while changed:
        changed = False
        for index, sec in enumerate(sections):
            if index in remove or index == 0 or sec.flags & SHF_ALLOC:
                continue
            # Relocations of removed sections, and string tables only removed sections used.
            targets_removed = sec.type in (SHT_REL, SHT_RELA) and (sec.info in remove or sec.link in remove)
            users = [i for i, other in enumerate(sections) if other.link == index and i != index]
            orphan_strings = (
                index != image.shstrndx
                and users
                and all(i in remove for i in users)
                and sec.type == SHT_STRTAB
            )
            if targets_removed or orphan_strings:
                remove.add(index)
                changed = True
    return remove


def strip_elf(path: Path) -> bool:
    """Remove .symtab/.strtab and debug sections from the ELF file at ``path``; False if none."""
    target = Path(os.path.realpath(path))
    try:
        with open(target, "rb") as handle:
            if os.fstat(handle.fileno()).st_size < 16:
                raise InvalidBinary("not an ELF file", subject=str(path))
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                plan = _plan(ElfImage(data, str(path)))
    except OSError as exc:
        raise EditError(f"cannot read: {exc.strerror}", subject=str(path)) from exc
    if plan is None:
        return False
    keep_until, writes, tail = plan
    try:
        rewrite_file(target, writes, keep=keep_until, append_at=keep_until, append=tail)
    except OSError as exc:
        raise EditError(f"cannot write: {exc.strerror}", subject=str(path)) from exc
    return True


def strip_elf_bytes(data: bytes, name: str) -> bytes | None:
    """``strip_elf`` on an ELF file held in memory: the stripped bytes, or None when nothing goes."""
    plan = _plan(ElfImage(data, name))
    if plan is None:
        return None
    keep_until, writes, tail = plan
    return patched(data, writes, keep=keep_until, append_at=keep_until, append=tail)


def _plan(image: ElfImage) -> tuple[int, list[tuple[int, bytes]], bytes] | None:
    """(bytes of the original to keep, overwrites within them, bytes to append after them)."""
    remove = _removable(image)
    if not remove:
        return None
    lay, header, sections = image.lay, image.header, image.sections
    # Everything the loader may read keeps its offset: the headers, every segment, allocated sections.
    fixed = [lay.ehdr.size, header.phoff + header.phnum * header.phentsize]
    fixed += [s.offset + s.filesz for s in image.segments]
    fixed += [s.offset + s.file_size for s in sections if s.flags & SHF_ALLOC]
    keep_until = max(fixed)
    if keep_until > image.size:
        raise InvalidBinary("a segment or section extends past the end of the file", subject=image.name)
    mapped = [(s.offset, s.offset + s.filesz) for s in image.segments]
    writes: list[tuple[int, bytes]] = []
    for index in remove:
        sec = sections[index]
        start, end = sec.offset, min(sec.offset + sec.file_size, keep_until)
        if start < end and not any(lo < end and start < hi for lo, hi in mapped):
            writes.append((start, bytes(end - start)))

    keep = [i for i in range(len(sections)) if i not in remove]
    new_index = {old: new for new, old in enumerate(keep)}
    tail = bytearray()
    out: list[Section] = []
    for old in keep:
        sec = replace(sections[old])
        if old and not sec.flags & SHF_ALLOC and sec.file_size and sec.offset + sec.size > keep_until:
            at = align_up(keep_until + len(tail), max(sec.addralign, 1))
            tail += bytes(at - keep_until - len(tail))
            tail += image.read(sec.offset, sec.size, f"section {image.section_name(sec)}")
            sec.offset = at
        sec.link = new_index.get(sec.link, 0)
        if sec.type in (SHT_REL, SHT_RELA) or sec.flags & SHF_INFO_LINK:
            sec.info = new_index.get(sec.info, 0)
        out.append(sec)
    shstrndx = new_index.get(image.shstrndx, 0)
    count = len(out)
    out[0].size = count if count >= SHN_LORESERVE else 0
    out[0].link = shstrndx if shstrndx >= SHN_LORESERVE else 0
    shoff = align_up(keep_until + len(tail), lay.align)
    tail += bytes(shoff - keep_until - len(tail))
    tail += b"".join(s.pack(lay) for s in out)
    new_header = replace(
        header,
        shoff=shoff,
        shnum=0 if count >= SHN_LORESERVE else count,
        shstrndx=SHN_XINDEX if shstrndx >= SHN_LORESERVE else shstrndx,
    )
    writes.append((0, new_header.pack(lay)))
    return keep_until, writes, bytes(tail)
