"""Symbol-version bookkeeping when a needed library is removed (.gnu.version_r, .gnu.version)."""

from __future__ import annotations

from dataclasses import replace

from .dynamic import DT_VERDEF, DT_VERNEED, DT_VERNEEDNUM, DT_VERSYM, Dynamic
from .entries import Entry
from .layout import SHT_GNU_VERNEED, SHT_GNU_VERSYM, SHT_PROGBITS


def drop_version_needs(
    dyn: Dynamic, dropped: set[bytes], entries: list[Entry]
) -> list[tuple[int, bytes]] | None:
    """Forget the symbol versions that removed libraries were to provide.

    glibc asserts that every library named in .gnu.version_r is loaded, so the removed libraries'
    entries are unlinked from the chain, and the symbols that referred to their versions become
    unversioned (VER_NDX_GLOBAL) so no index points past the shortened version table. When no need
    remains, DT_VERNEED goes, and DT_VERSYM too unless the file defines versions itself. None when
    this cannot be done safely (unknown symbol count, a chain not in ascending order).
    """
    image = dyn.image
    needs = dyn.version_needs()
    gone = [n for n in needs if dyn.string(n.file) in dropped]
    if not gone:
        return []
    keep = [n for n in needs if n not in gone]
    if [n.offset for n in keep] != sorted(n.offset for n in keep):
        return None
    indices = {other & 0x7FFF for n in gone for _, other, _ in n.aux}
    count = dyn.symbol_count()
    versym = dyn.value(DT_VERSYM)
    if versym is not None and count is None:
        return None
    word, half = image.lay.word, image.lay.half
    writes: list[tuple[int, bytes]] = []
    if versym is not None and count:
        at = image.offset_of(versym, "symbol versions", 2 * count)
        table = image.read(at, 2 * count, "symbol versions")
        for index in range(count):
            if half.unpack_from(table, 2 * index)[0] & 0x7FFF in indices:
                writes.append((at + 2 * index, half.pack(1)))
    header = image.header
    if not keep:
        drop = {DT_VERNEED, DT_VERNEEDNUM} | (set() if dyn.value(DT_VERDEF) is not None else {DT_VERSYM})
        entries[:] = [e for e in entries if e.tag not in drop]
        # The tables stay mapped but describe nothing now; tools must not read them as version data.
        retired = {image.offset_of(dyn.value(DT_VERNEED) or 0, "version needs")}
        if DT_VERSYM in drop and versym is not None:
            retired.add(image.offset_of(versym, "symbol versions"))
        for index, sec in enumerate(image.sections):
            if sec.type in (SHT_GNU_VERNEED, SHT_GNU_VERSYM) and sec.offset in retired:
                plain = replace(sec, type=SHT_PROGBITS, link=0, info=0, entsize=0)
                writes.append((header.shoff + index * header.shentsize, plain.pack(image.lay)))
        return writes
    offsets = [n.offset for n in keep]
    writes += [(this + 12, word.pack(after - this)) for this, after in zip(offsets, offsets[1:])]
    writes.append((offsets[-1] + 12, word.pack(0)))
    shift = offsets[0] - needs[0].offset
    for e in entries:
        if e.tag == DT_VERNEED and e.value is not None:
            e.value += shift
        elif e.tag == DT_VERNEEDNUM:
            e.value = len(keep)
    for index, sec in enumerate(image.sections):
        if sec.type == SHT_GNU_VERNEED and sec.offset == needs[0].offset:
            moved = replace(
                sec, offset=sec.offset + shift, addr=sec.addr + shift, size=sec.size - shift, info=len(keep)
            )
            writes.append((header.shoff + index * header.shentsize, moved.pack(image.lay)))
    return writes
