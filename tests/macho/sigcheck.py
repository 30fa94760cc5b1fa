"""Independent checks for tests: an ad-hoc code signature verified from Apple's published layout, with
load commands read through macholib (not through wheelrepair's own parser)."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path

from macholib import mach_o
from macholib.MachO import MachO

#: Code directory hash types Apple's codesign writes -> (hashlib name, digest size).
_HASH_TYPES = {1: ("sha1", 20), 2: ("sha256", 32)}
_DEPENDENCY_COMMANDS = (
    mach_o.LC_LOAD_DYLIB,
    mach_o.LC_LOAD_WEAK_DYLIB,
    mach_o.LC_REEXPORT_DYLIB,
    mach_o.LC_LOAD_UPWARD_DYLIB,
    mach_o.LC_LAZY_LOAD_DYLIB,
)


@dataclass(frozen=True)
class SliceSignature:
    arch: str
    flags: int
    identifier: str
    blob_types: tuple[int, ...]
    code_limit: int
    page_size: int
    pages_checked: int
    #: hash type of each code directory, slot 0 first (1 SHA-1, 2 SHA-256)
    hash_types: tuple[int, ...] = ()


@dataclass
class SliceInfo:
    """One slice's load commands as macholib reads them."""

    arch: str
    offset: int
    size: int
    needed: list[str] = field(default_factory=list)
    weak: list[str] = field(default_factory=list)
    rpaths: list[str] = field(default_factory=list)
    install_name: str | None = None
    minos: tuple[int, int] | None = None
    codesig: tuple[int, int] | None = None  # dataoff, datasize
    linkedit: tuple[int, int, int] | None = None  # fileoff, filesize, vmsize


def commands(path: Path) -> list[SliceInfo]:
    """Per slice, as macholib reads them: arch, install name, needed, rpaths, signature location."""
    out = []
    for header in MachO(str(path)).headers:
        arch = mach_o.CPU_TYPE_NAMES.get(header.header.cputype, "?").lower()
        info = SliceInfo(arch, header.offset, header.size)
        for lc, cmd, data in header.commands:
            name = lc.cmd
            text = data.split(b"\0", 1)[0].decode() if isinstance(data, bytes) else ""
            if name in _DEPENDENCY_COMMANDS:
                info.needed.append(text)
                if name == mach_o.LC_LOAD_WEAK_DYLIB:
                    info.weak.append(text)
            elif name == mach_o.LC_ID_DYLIB:
                info.install_name = text
            elif name == mach_o.LC_RPATH:
                info.rpaths.append(text)
            elif name == mach_o.LC_CODE_SIGNATURE:
                info.codesig = (cmd.dataoff, cmd.datasize)
            elif name == mach_o.LC_SEGMENT_64 and cmd.segname.rstrip(b"\0") == b"__LINKEDIT":
                info.linkedit = (cmd.fileoff, cmd.filesize, cmd.vmsize)
            elif name == mach_o.LC_BUILD_VERSION:
                info.minos = (cmd.minos >> 16, (cmd.minos >> 8) & 0xFF)
            elif name == mach_o.LC_VERSION_MIN_MACOSX:
                info.minos = (cmd.version >> 16, (cmd.version >> 8) & 0xFF)
        out.append(info)
    return out


def verify(path: Path) -> list[SliceSignature]:
    """Check every signed slice of ``path``; raise AssertionError on any inconsistency."""
    data = path.read_bytes()
    results = []
    for info in commands(path):
        if info.codesig is None:
            continue
        assert info.linkedit is not None, "signed image without __LINKEDIT"
        image = data[info.offset : info.offset + info.size]
        dataoff, datasize = info.codesig
        le_off, le_size, le_vmsize = info.linkedit
        assert dataoff % 16 == 0, "signature not 16-byte aligned"
        assert dataoff + datasize == le_off + le_size == len(image), "signature is not the end of __LINKEDIT"
        assert le_vmsize >= le_size
        blob = image[dataoff : dataoff + datasize]
        magic, length, count = struct.unpack_from(">3I", blob)
        assert magic == 0xFADE0CC0 and length <= datasize
        index = [struct.unpack_from(">2I", blob, 12 + 8 * k) for k in range(count)]
        blobs = {slot: blob[off:] for slot, off in index}
        # slot 0, plus alternates 0x1000-0x1004: codesign signs for macOS before 10.11.4 with a SHA-1
        # directory in slot 0 and a SHA-256 one as an alternate; every directory must match
        assert 0 in blobs, "no code directory"
        hash_types = []
        for slot in [s for s in sorted(blobs) if s == 0 or 0x1000 <= s < 0x1005]:
            cd = blobs[slot]
            (magic, _cd_len, version, flags, hash_off, ident_off, _n_special, n_code, code_limit, hash_size,
             hash_type, _platform, page_shift) = struct.unpack_from(">9I4B", cd)  # fmt: skip
            assert hash_type in _HASH_TYPES, f"hash type {hash_type}"
            algorithm, size = _HASH_TYPES[hash_type]
            hash_types.append(hash_type)
            assert magic == 0xFADE0C02 and version >= 0x20400 and hash_size == size
            assert code_limit == dataoff
            page = 1 << page_shift
            assert n_code == -(-code_limit // page)
            for k in range(n_code):
                chunk = image[k * page : min((k + 1) * page, code_limit)]
                stored = cd[hash_off + size * k : hash_off + size * (k + 1)]
                assert hashlib.new(algorithm, chunk).digest() == stored, f"page {k} hash mismatch"
            if 2 in blobs:  # requirements: special slot -2
                req_len = struct.unpack_from(">I", blobs[2], 4)[0]
                assert (
                    cd[hash_off - 2 * size : hash_off - size]
                    == hashlib.new(algorithm, blobs[2][:req_len]).digest()
                )
            if slot == 0:
                first = (flags, cd[ident_off:].split(b"\0", 1)[0].decode(), page, n_code)
        flags, ident, page, n_code = first
        results.append(
            SliceSignature(
                info.arch,
                flags,
                ident,
                tuple(s for s, _ in index),
                code_limit,
                page,
                n_code,
                tuple(hash_types),
            )
        )
    return results
