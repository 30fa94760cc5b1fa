"""Read what the loader and the policy need from an ELF file: dynamic entries, version needs, arch.

Pure ``struct`` parsing that follows the program headers (PT_DYNAMIC, PT_INTERP, PT_LOAD), never the
section headers: those sit at the end of the file, may be stripped, and are not what ld.so uses. Every
address in the dynamic segment is a virtual address, mapped to a file offset through PT_LOAD.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from ...errors import InvalidBinary
from ...model import Binary
from ..base import ByteSource
from . import imports

MAGIC = b"\x7fELF"

ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2
ET_EXEC, ET_DYN = 2, 3
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE = 1, 2, 3, 4
PT_GNU_PROPERTY = 0x6474E553
PN_XNUM = 0xFFFF

DT_NULL, DT_NEEDED, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ = 0, 1, 4, 5, 6, 10
DT_GNU_HASH = 0x6FFFFEF5
DT_SONAME, DT_RPATH, DT_RUNPATH = 14, 15, 29
DT_FLAGS_1 = 0x6FFFFFFB
DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF
DT_VERDEF, DT_VERDEFNUM = 0x6FFFFFFC, 0x6FFFFFFD
VER_FLG_BASE = 1
DF_1_PIE = 0x08000000

EF_ARM_ABI_FLOAT_HARD = 0x400
#: The stack permissions a file asks for (formats/elf/stack.py).
PT_GNU_STACK, PF_X = 0x6474E551, 0x1

#: e_machine -> (name for ELFCLASS32, name for ELFCLASS64); ppc64/mips also depend on endianness.
_MACHINES: dict[int, tuple[str, str]] = {
    3: ("i686", "i686"),
    62: ("x32", "x86_64"),
    183: ("aarch64_ilp32", "aarch64"),
    20: ("ppc", "ppc64"),
    21: ("ppc", "ppc64"),
    22: ("s390", "s390x"),
    40: ("arm", "arm"),
    243: ("riscv32", "riscv64"),
    258: ("loongarch32", "loongarch64"),
    8: ("mips", "mips64"),
    43: ("sparc", "sparc64"),
    2: ("sparc", "sparc64"),
}

# Structure layouts, per (class, endianness) prefix character.
_EHDR = {ELFCLASS32: "HHIIIIIHHHHHH", ELFCLASS64: "HHIQQQIHHHHHH"}
_PHDR32 = "IIIIIIII"  # type offset vaddr paddr filesz memsz flags align
_PHDR64 = "IIQQQQQQ"  # type flags offset vaddr paddr filesz memsz align
_DYN = {ELFCLASS32: "iI", ELFCLASS64: "qQ"}
_SHDR0 = {ELFCLASS32: "IIIIIIIIII", ELFCLASS64: "IIQQQQIIQQ"}
_VERNEED = "HHIII"  # version cnt file aux next
_VERNAUX = "IHHII"  # hash flags other name next
_VERDEF = "HHHHIII"  # version flags ndx cnt hash aux next
_VERDAUX = "II"  # name next

#: Guards against cyclic or absurd version chains in hostile files.
_MAX_VERSION_ENTRIES = 1 << 16


def sniff(head: bytes) -> bool:
    """True for ELF shared objects and executables (not relocatable objects or core dumps, which
    the loader never maps and which would otherwise count in a wheel's architecture check)."""
    if len(head) < 18 or head[:4] != MAGIC:
        return False
    cls, data = head[4], head[5]
    if cls not in (ELFCLASS32, ELFCLASS64) or data not in (ELFDATA2LSB, ELFDATA2MSB):
        return False
    (e_type,) = struct.unpack_from("<H" if data == ELFDATA2LSB else ">H", head, 16)
    return bool(e_type in (ET_EXEC, ET_DYN))


@lru_cache(maxsize=64)
def _struct(fmt: str) -> struct.Struct:
    return struct.Struct(fmt)


class _Truncated(Exception):
    """Internal: a structure lies beyond the bytes we have; carries the offset needed."""

    def __init__(self, needed: int, what: str) -> None:
        super().__init__(what)
        self.needed = needed
        self.what = what


@dataclass(frozen=True)
class _Segment:
    type: int
    offset: int
    vaddr: int
    filesz: int
    flags: int = 0
    align: int = 0


class _Elf:
    """The parsed headers of one ELF image, with bounds-checked accessors."""

    def __init__(self, data: bytes | ByteSource) -> None:
        self.data = data
        if len(data) < 16 or data[:4] != MAGIC:
            raise ValueError("not an ELF file (bad magic)")
        self.cls, self.endian = data[4], data[5]
        if self.cls not in (ELFCLASS32, ELFCLASS64):
            raise ValueError(f"unknown ELF class {self.cls}")
        if self.endian not in (ELFDATA2LSB, ELFDATA2MSB):
            raise ValueError(f"unknown ELF data encoding {self.endian}")
        self.bo = "<" if self.endian == ELFDATA2LSB else ">"
        fields = self.unpack(_EHDR[self.cls], 16, "ELF header")
        (self.e_type, self.e_machine, _, _, phoff, shoff, self.e_flags, _, phentsize, phnum, _, _, _) = fields
        if phnum == PN_XNUM:
            # The real count lives in section header 0's sh_info.
            phnum = self.unpack(_SHDR0[self.cls], shoff, "section header 0")[7]
        expected = 32 if self.cls == ELFCLASS32 else 56
        if phnum and phentsize < expected:
            raise ValueError(f"program header entry size {phentsize} is too small")
        self.segments: list[_Segment] = []
        layout = _PHDR32 if self.cls == ELFCLASS32 else _PHDR64
        self.phdr_end = phoff + phnum * phentsize
        self.need(self.phdr_end, "program headers")
        for i in range(phnum):
            f = self.unpack(layout, phoff + i * phentsize, "program header")
            if self.cls == ELFCLASS32:
                self.segments.append(_Segment(f[0], f[1], f[2], f[4], f[6], f[7]))
            else:
                self.segments.append(_Segment(f[0], f[2], f[3], f[5], f[1], f[7]))

    def need(self, end: int, what: str) -> None:
        if end > len(self.data):
            raise _Truncated(end, what)

    def unpack(self, fmt: str, offset: int, what: str) -> tuple[int, ...]:
        layout = _struct(self.bo + fmt)
        if offset < 0:
            raise ValueError(f"negative offset for {what}")
        self.need(offset + layout.size, what)
        # A slice, not unpack_from: ``data`` may be a lazily inflated view (wheel/stream.py).
        return layout.unpack(self.data[offset : offset + layout.size])

    def segment(self, kind: int) -> _Segment | None:
        return next((s for s in self.segments if s.type == kind), None)

    def to_offset(self, vaddr: int, what: str) -> int:
        for seg in self.segments:
            if seg.type == PT_LOAD and seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
                return vaddr - seg.vaddr + seg.offset
        raise ValueError(f"{what} address {vaddr:#x} is not inside any loaded segment")

    def dynamic(self) -> Iterator[tuple[int, int]]:
        seg = self.segment(PT_DYNAMIC)
        if seg is None:
            return
        layout = _struct(self.bo + _DYN[self.cls])
        if seg.offset < 0:
            raise ValueError("negative dynamic segment offset")
        self.need(seg.offset + seg.filesz, "dynamic segment")
        end = seg.offset + seg.filesz - seg.filesz % layout.size
        for tag, value in layout.iter_unpack(self.data[seg.offset : end]):
            if tag == DT_NULL:
                return
            yield tag, value

    def machine(self) -> str:
        names = _MACHINES.get(self.e_machine)
        if names is None:
            return f"elf-machine-{self.e_machine}"
        name = names[0] if self.cls == ELFCLASS32 else names[1]
        little = self.endian == ELFDATA2LSB
        if name == "ppc64" and little:
            return "ppc64le"
        if name in ("mips", "mips64") and little:
            return name + "el"
        if name == "arm":
            # Hard-float EABI is what armv7l wheels target; soft-float is a different ABI.
            return "armv7l" if self.e_flags & EF_ARM_ABI_FLOAT_HARD else "armel"
        return name


class _Strings:
    """The dynamic string table, read lazily with bounds."""

    def __init__(self, elf: _Elf, offset: int, size: int | None) -> None:
        self.elf, self.offset, self.size = elf, offset, size

    def get(self, index: int, what: str) -> str:
        data = self.elf.data
        start = self.offset + index
        if self.size is not None and index >= self.size:
            raise ValueError(f"{what} string index {index} is outside the string table")
        limit = self.offset + self.size if self.size is not None else len(data)
        end = data.find(b"\0", start, min(limit, len(data)))
        if end < 0:
            raise _Truncated(min(limit, start + 4096), f"{what} string")
        return data[start:end].decode("utf-8", "surrogateescape")

    def names(self) -> Callable[[int], str]:
        """``get`` for many lookups (every undefined symbol): with a known size and all of it
        present, the table is sliced out once and searched as ``bytes``, not through a lazily
        inflated view one call at a time."""
        size = self.size
        if size is None or self.offset + size > len(self.elf.data):
            return lambda index: self.get(index, "symbol name")
        table = self.elf.data[self.offset : self.offset + size]

        def name(index: int) -> str:
            if index >= size:
                raise ValueError(f"symbol name string index {index} is outside the string table")
            end = table.find(b"\0", index)
            if end < 0:
                raise _Truncated(self.offset + min(size, index + 4096), "symbol name string")
            return table[index:end].decode("utf-8", "surrogateescape")

        return name


@dataclass
class _Dynamic:
    needed: list[int]
    soname: int | None
    rpath: int | None
    runpath: int | None
    strtab: int | None
    strsz: int | None
    verneed: int | None
    verneednum: int
    flags_1: int
    symtab: int | None = None
    hash: int | None = None
    gnu_hash: int | None = None
    verdef: int | None = None
    verdefnum: int = 0


def _collect(elf: _Elf) -> _Dynamic:
    dyn = _Dynamic([], None, None, None, None, None, None, 0, 0)
    for tag, value in elf.dynamic():
        if tag == DT_NEEDED:
            dyn.needed.append(value)
        elif tag == DT_SONAME:
            dyn.soname = value
        elif tag == DT_RPATH:
            dyn.rpath = value
        elif tag == DT_RUNPATH:
            dyn.runpath = value
        elif tag == DT_STRTAB:
            dyn.strtab = value
        elif tag == DT_STRSZ:
            dyn.strsz = value
        elif tag == DT_VERNEED:
            dyn.verneed = value
        elif tag == DT_VERNEEDNUM:
            dyn.verneednum = value
        elif tag == DT_FLAGS_1:
            dyn.flags_1 = value
        elif tag == DT_SYMTAB:
            dyn.symtab = value
        elif tag == DT_HASH:
            dyn.hash = value
        elif tag == DT_GNU_HASH:
            dyn.gnu_hash = value
        elif tag == DT_VERDEF:
            dyn.verdef = value
        elif tag == DT_VERDEFNUM:
            dyn.verdefnum = value
    return dyn


def _imports(elf: _Elf, dyn: _Dynamic, strings: _Strings | None) -> tuple[frozenset[str], str | None, int]:
    """Undefined symbols, ISA level, and the end of the bytes read for them."""
    level, end = imports.isa_level(elf, _notes(elf))
    if strings is None:
        return frozenset(), level, end
    count, hash_end = imports.symbol_count(elf, dyn.hash, dyn.gnu_hash)
    names, symtab_end = imports.undefined_symbols(elf, dyn.symtab, count, strings.names())
    return names, level, max(end, hash_end, symtab_end)


def _notes(elf: _Elf) -> list[tuple[int, int, int, int]]:
    return [(s.type, s.offset, s.filesz, s.align) for s in elf.segments if s.type in (PT_NOTE, PT_GNU_PROPERTY)]


#: CPython extension suffixes that name the C library (``.cpython-312-x86_64-linux-musl.so``).
_MUSL_SUFFIXES = ("-linux-musl.so", "-linux-musleabihf.so", "-linux-musleabi.so")
_ANDROID_SUFFIXES = ("-linux-android.so", "-linux-androideabi.so")
#: Bionic's loader, which Android executables name as their interpreter.
_ANDROID_LOADERS = ("/system/bin/linker64", "/system/bin/linker")


def _libc(needed: tuple[str, ...], interpreter: str | None, name: str, android: bool = False) -> str | None:
    # Android first: bionic's libc is the bare libc.so that zig's musl binaries also need. The
    # NDK's start files put the .note.android.ident note in every executable and library.
    if android or interpreter in _ANDROID_LOADERS or name.endswith(_ANDROID_SUFFIXES):
        return "android"
    loader = interpreter.rsplit("/", 1)[-1] if interpreter else ""
    if loader.startswith("ld-musl-") or any(
        n == "libc.so" or n.startswith(("libc.musl-", "ld-musl-")) for n in needed
    ):
        return "musl"
    if loader.startswith(("ld-linux", "ld64.so")) or "libc.so.6" in needed:
        return "glibc"
    # Alpine links with --as-needed: an extension that calls nothing from libc needs nothing, and
    # only its file name still says which C library the interpreter that built it used.
    if name.endswith(_MUSL_SUFFIXES):
        return "musl"
    return None


def _verdef(elf: _Elf, dyn: _Dynamic, strings: _Strings | None) -> frozenset[str]:
    """The version names the file defines (the first name of each definition, without the base
    definition, which only repeats the SONAME)."""
    if dyn.verdef is None or dyn.verdefnum == 0 or strings is None:
        return frozenset()
    offset = elf.to_offset(dyn.verdef, "DT_VERDEF")
    names: set[str] = set()
    for _ in range(min(dyn.verdefnum, _MAX_VERSION_ENTRIES)):
        _, flags, _, cnt, _, aux, nxt = elf.unpack(_VERDEF, offset, "version definition entry")
        if cnt and not flags & VER_FLG_BASE:
            name, _ = elf.unpack(_VERDAUX, offset + aux, "version definition aux entry")
            names.add(strings.get(name, "version definition name"))
        if nxt == 0:
            break
        offset += nxt
    return frozenset(names)


def _verneed(elf: _Elf, dyn: _Dynamic, strings: _Strings | None) -> dict[str, frozenset[str]]:
    if dyn.verneed is None or dyn.verneednum == 0:
        return {}
    if strings is None:
        raise ValueError("version needs without a string table")
    offset = elf.to_offset(dyn.verneed, "DT_VERNEED")
    found: dict[str, set[str]] = {}
    budget = _MAX_VERSION_ENTRIES
    for _ in range(min(dyn.verneednum, _MAX_VERSION_ENTRIES)):
        _, cnt, file_, aux, nxt = elf.unpack(_VERNEED, offset, "version need entry")
        library = strings.get(file_, "version need file")
        versions = found.setdefault(library, set())
        aux_offset = offset + aux
        for _ in range(cnt):
            budget -= 1
            if budget < 0:
                raise ValueError("version need chain is too long (cyclic?)")
            _, _, _, name, aux_next = elf.unpack(_VERNAUX, aux_offset, "version need aux entry")
            versions.add(strings.get(name, "version name"))
            if aux_next == 0:
                break
            aux_offset += aux_next
        if nxt == 0:
            break
        offset += nxt
    return {lib: frozenset(v) for lib, v in found.items()}


def _split_path(value: str) -> tuple[str, ...]:
    return tuple(entry for entry in value.split(":") if entry)


def _parse(data: bytes | ByteSource, name: str = "") -> Binary:
    elf = _Elf(data)
    interp_seg = elf.segment(PT_INTERP)
    interpreter = None
    if interp_seg is not None:
        elf.need(interp_seg.offset + interp_seg.filesz, "interpreter name")
        raw = data[interp_seg.offset : interp_seg.offset + interp_seg.filesz]
        interpreter = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    dyn = _collect(elf)
    strings = None
    if dyn.strtab is not None:
        strings = _Strings(elf, elf.to_offset(dyn.strtab, "DT_STRTAB"), dyn.strsz)
    elif dyn.needed or dyn.soname is not None or dyn.rpath is not None or dyn.runpath is not None:
        raise ValueError("dynamic segment has names but no DT_STRTAB")

    def text(index: int | None, what: str) -> str | None:
        return None if index is None or strings is None else strings.get(index, what)

    needed = tuple(strings.get(i, "DT_NEEDED") for i in dyn.needed) if strings else ()
    soname = text(dyn.soname, "DT_SONAME")
    rpath = text(dyn.rpath, "DT_RPATH")
    runpath = text(dyn.runpath, "DT_RUNPATH")
    executable = elf.e_type == ET_EXEC or (
        elf.e_type == ET_DYN
        and (bool(dyn.flags_1 & DF_1_PIE) or (interpreter is not None and soname is None))
    )
    undefined, level, _ = _imports(elf, dyn, strings)
    android = imports.android_api(elf, _notes(elf)) is not None
    return Binary(
        format="elf",
        archs=(elf.machine(),),
        exec_stack=any(s.type == PT_GNU_STACK and s.flags & PF_X for s in elf.segments),
        needed=needed,
        soname=soname,
        rpaths=_split_path(rpath) if rpath else (),
        runpaths=_split_path(runpath) if runpath else (),
        interpreter=interpreter,
        symbol_versions=_verneed(elf, dyn, strings),
        executable=executable,
        libc=_libc(needed, interpreter, name.rsplit("/", 1)[-1], android),
        isa_level=level,
        undefined_symbols=undefined,
        defined_versions=_verdef(elf, dyn, strings),
    )


def read_elf(data: bytes | ByteSource, name: str) -> Binary:
    """Parse the ELF file ``data`` (the whole file, or at least ``needed_extent`` bytes of it).

    ``rpaths``/``runpaths`` are the raw DT_RPATH/DT_RUNPATH entries as written (the resolver applies
    the rule that DT_RUNPATH disables DT_RPATH). ``executable`` is True for ET_EXEC files and for
    ET_DYN files flagged DF_1_PIE or having an interpreter but no DT_SONAME: shared libraries such as
    libc.so.6 carry PT_INTERP too, but they also carry a SONAME.
    """
    try:
        return _parse(data, name)
    except _Truncated as exc:
        raise InvalidBinary(
            f"truncated ELF file: {exc.what} extends to byte {exc.needed} of {len(data)}", subject=name
        ) from None
    except (ValueError, struct.error, OverflowError) as exc:
        raise InvalidBinary(f"malformed ELF file: {exc}", subject=name) from None


def needed_extent(head: bytes) -> int | None:
    """How many leading bytes of the file ``read_elf`` needs, as far as ``head`` can tell.

    None when ``head`` is not ELF or is malformed. Otherwise a byte count: when it is larger than
    ``len(head)``, read at least that many bytes and ask again (the dynamic segment names where the
    string and version tables are, so two or three rounds settle it); when it is at most
    ``len(head)``, ``head[:extent]`` parses exactly like the whole file.
    """
    try:
        elf = _Elf(head)
        end = elf.phdr_end
        interp = elf.segment(PT_INTERP)
        if interp is not None:
            end = max(end, interp.offset + interp.filesz)
        # Notes say the ISA level (x86-64) and whether the file is built for Android.
        for note in elf.segments:
            if note.type in (PT_NOTE, PT_GNU_PROPERTY):
                end = max(end, note.offset + note.filesz)
        seg = elf.segment(PT_DYNAMIC)
        if seg is None:
            return end
        end = max(end, seg.offset + seg.filesz)
        if end > len(head):
            return end
        dyn = _collect(elf)
        strings = None
        if dyn.strtab is not None:
            stroff = elf.to_offset(dyn.strtab, "DT_STRTAB")
            if dyn.strsz is not None:
                end = max(end, stroff + dyn.strsz)
            strings = _Strings(elf, stroff, dyn.strsz)
        if end > len(head):
            return end
        _verneed(elf, dyn, strings)
        _verdef(elf, dyn, strings)
        end = max(end, _imports(elf, dyn, strings)[2])
        if end > len(head):
            return end
        return max(end, _strings_end(elf, dyn, strings))
    except _Truncated as exc:
        return max(exc.needed, len(head) + 1)
    except (ValueError, struct.error, OverflowError):
        return None


def _strings_end(elf: _Elf, dyn: _Dynamic, strings: _Strings | None) -> int:
    """Without DT_STRSZ, the end of the last string referenced."""
    if strings is None or strings.size is not None:
        return 0
    end = 0
    for index in [*dyn.needed, dyn.soname, dyn.rpath, dyn.runpath]:
        if index is not None:
            nul = elf.data.find(b"\0", strings.offset + index)
            if nul < 0:
                raise ValueError("unterminated dynamic string")
            end = max(end, nul + 1)
    return end
