"""The dynamic section as the editor sees it: entries, the dynamic string table, and every other
reference into that string table (symbol names, symbol-version names)."""

from __future__ import annotations

import sys
from array import array
from dataclasses import dataclass

from ...errors import InvalidBinary
from .layout import EM_S390, PT_DYNAMIC, SHT_DYNSYM, SHT_SYMTAB, ElfImage

DT_NULL, DT_NEEDED, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ = 0, 1, 4, 5, 6, 10
DT_SONAME, DT_RPATH, DT_RUNPATH = 14, 15, 29
DT_GNU_HASH = 0x6FFFFEF5
DT_VERSYM = 0x6FFFFFF0
DT_CONFIG, DT_DEPAUDIT, DT_AUDIT = 0x6FFFFEFA, 0x6FFFFEFB, 0x6FFFFEFC
DT_VERDEF, DT_VERDEFNUM = 0x6FFFFFFC, 0x6FFFFFFD
DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF
DT_AUXILIARY, DT_FILTER = 0x7FFFFFFD, 0x7FFFFFFF
#: MIPS: an offset relative to the entry's own address, so it changes when the entry moves.
DT_MIPS_RLD_MAP_REL = 0x70000035

#: Tags whose value is an offset into the dynamic string table.
STRING_TAGS = frozenset(
    {DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH, DT_CONFIG, DT_DEPAUDIT, DT_AUDIT, DT_AUXILIARY, DT_FILTER}
)

#: Guards against cyclic or absurd version chains in hostile files.
_MAX_CHAIN = 1 << 16


@dataclass(frozen=True)
class VersionRef:
    """A string reference held by a symbol-version structure: the file offset of the 32-bit field and
    the string-table offset it holds."""

    field: int
    value: int
    is_file: bool  # a Verneed vn_file (names a needed library), not a version name


@dataclass(frozen=True)
class VersionNeed:
    """One Verneed entry: its file offset, its vn_file string offset, and (offset, vna_other,
    vna_name) for each of its Vernaux entries."""

    offset: int
    file: int
    aux: tuple[tuple[int, int, int], ...]


class Dynamic:
    """The PT_DYNAMIC table of an image and its string table (copied out of the file)."""

    def __init__(self, image: ElfImage) -> None:
        seg = image.segment(PT_DYNAMIC)
        assert seg is not None
        self.image = image
        self.segment = seg
        lay = image.lay
        size = lay.dyn.size
        image.need(seg.offset, seg.filesz, "dynamic section")
        self.slots = seg.filesz // size
        self.entries: list[tuple[int, int]] = []
        for i in range(self.slots):
            tag, value = lay.dyn.unpack_from(image.data, seg.offset + i * size)
            if tag == DT_NULL:
                break
            self.entries.append((tag, value))
        strtab = self.value(DT_STRTAB)
        strsz = self.value(DT_STRSZ) or 0
        if strtab is None:
            if any(tag in STRING_TAGS for tag, _ in self.entries):
                raise InvalidBinary("dynamic section has strings but no DT_STRTAB", subject=image.name)
            self.strtab_addr = self.strtab_offset = 0
            self.strtab = b""
        else:
            self.strtab_addr = strtab
            self.strtab_offset = image.offset_of(strtab, "dynamic string table", strsz)
            self.strtab = image.read(self.strtab_offset, strsz, "dynamic string table")

    def value(self, tag: int) -> int | None:
        return next((v for t, v in self.entries if t == tag), None)

    def string(self, offset: int) -> bytes:
        end = self.strtab.find(b"\0", offset)
        if offset >= len(self.strtab) or end < 0:
            raise InvalidBinary(
                f"dynamic string offset {offset:#x} is outside .dynstr", subject=self.image.name
            )
        return self.strtab[offset:end]

    def texts(self, tag: int) -> list[str]:
        return [decode(self.string(v)) for t, v in self.entries if t == tag]

    def version_needs(self) -> list[VersionNeed]:
        """The .gnu.version_r chain, in chain order."""
        image, word, half = self.image, self.image.lay.word, self.image.lay.half
        needs: list[VersionNeed] = []
        need = self.value(DT_VERNEED)
        if need is None:
            return needs
        offset = image.offset_of(need, "version needs", 16)
        for _ in range(min(self.value(DT_VERNEEDNUM) or _MAX_CHAIN, _MAX_CHAIN)):
            image.need(offset, 16, "version need")
            count = half.unpack_from(image.data, offset + 2)[0]
            aux = offset + word.unpack_from(image.data, offset + 8)[0]
            auxes: list[tuple[int, int, int]] = []
            for _ in range(count):
                image.need(aux, 16, "version need auxiliary")
                other = half.unpack_from(image.data, aux + 6)[0]
                auxes.append((aux, other, word.unpack_from(image.data, aux + 8)[0]))
                step = word.unpack_from(image.data, aux + 12)[0]
                if not step:
                    break
                aux += step
            needs.append(VersionNeed(offset, word.unpack_from(image.data, offset + 4)[0], tuple(auxes)))
            step = word.unpack_from(image.data, offset + 12)[0]
            if not step:
                break
            offset += step
        return needs

    def version_refs(self) -> list[VersionRef]:
        """Every string reference held by .gnu.version_r and .gnu.version_d."""
        image, word, half = self.image, self.image.lay.word, self.image.lay.half
        refs: list[VersionRef] = []
        for need in self.version_needs():
            refs.append(VersionRef(need.offset + 4, need.file, True))
            refs += [VersionRef(aux + 8, name, False) for aux, _, name in need.aux]
        define = self.value(DT_VERDEF)
        if define is not None:
            offset = image.offset_of(define, "version definitions", 20)
            for _ in range(min(self.value(DT_VERDEFNUM) or _MAX_CHAIN, _MAX_CHAIN)):
                image.need(offset, 20, "version definition")
                count = half.unpack_from(image.data, offset + 6)[0]
                aux = offset + word.unpack_from(image.data, offset + 12)[0]
                for _ in range(count):
                    image.need(aux, 8, "version definition auxiliary")
                    refs.append(VersionRef(aux, word.unpack_from(image.data, aux)[0], False))
                    step = word.unpack_from(image.data, aux + 4)[0]
                    if not step:
                        break
                    aux += step
                step = word.unpack_from(image.data, offset + 16)[0]
                if not step:
                    break
                offset += step
        return refs

    def symbol_count(self) -> int | None:
        """Number of .dynsym entries, from the section headers or the hash tables (None if unknown)."""
        image = self.image
        symtab = self.value(DT_SYMTAB)
        if symtab is None:
            return 0
        for sec in image.sections:
            if sec.type == SHT_DYNSYM and sec.addr == symtab and sec.entsize:
                return sec.size // sec.entsize
        hash_addr = self.value(DT_HASH)
        if hash_addr is not None:
            # s390x uses 64-bit hash table entries; everyone else 32-bit.
            wide = image.header.machine == EM_S390 and image.lay.is64
            offset = image.offset_of(hash_addr, "hash table", 16 if wide else 8)
            if wide:
                return int.from_bytes(
                    image.read(offset + 8, 8, "hash table"), "little" if image.lay.little else "big"
                )
            return int(image.lay.word.unpack_from(image.data, offset + 4)[0])
        gnu = self.value(DT_GNU_HASH)
        if gnu is None:
            return None
        word = image.lay.word
        offset = image.offset_of(gnu, "GNU hash table", 16)
        nbuckets, symoffset, bloom_size, _ = (
            word.unpack_from(image.data, offset + 4 * i)[0] for i in range(4)
        )
        buckets = offset + 16 + bloom_size * image.lay.align
        image.need(buckets, 4 * nbuckets, "GNU hash buckets")
        last = max((word.unpack_from(image.data, buckets + 4 * i)[0] for i in range(nbuckets)), default=0)
        if last < symoffset:
            return int(symoffset)
        chains = buckets + 4 * nbuckets
        while True:
            image.need(chains + 4 * (last - symoffset), 4, "GNU hash chain")
            if word.unpack_from(image.data, chains + 4 * (last - symoffset))[0] & 1:
                return int(last + 1)
            last += 1

    def symbol_names(self) -> set[int] | None:
        """The string offsets of every .dynsym name, or None when the symbol count cannot be known."""
        count = self.symbol_count()
        if count is None or self._strtab_shared():
            return None
        if not count:
            return set()
        image = self.image
        size = image.lay.sym_size
        offset = image.offset_of(self.value(DT_SYMTAB) or 0, "dynamic symbol table", count * size)
        words = array("I")
        words.frombytes(image.read(offset, count * size, "dynamic symbol table"))
        if image.lay.little != (sys.byteorder == "little"):
            words.byteswap()
        return set(words[:: size // 4])

    def _strtab_shared(self) -> bool:
        """True when a static symbol table also names its symbols in .dynstr (its references are unknown)."""
        sections = self.image.sections
        return any(
            sec.type == SHT_SYMTAB
            and 0 < sec.link < len(sections)
            and sections[sec.link].addr == self.strtab_addr
            for sec in sections
        )


def has_dynamic(image: ElfImage) -> bool:
    return image.segment(PT_DYNAMIC) is not None


def decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")
