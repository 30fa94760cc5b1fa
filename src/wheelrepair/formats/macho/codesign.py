"""Ad-hoc code signatures: building a fresh one for an edited image, and checking an existing one."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from .layout import (
    LC_BUILD_VERSION,
    LC_CODE_SIGNATURE,
    LC_VERSION_MIN_MACOSX,
    MH_EXECUTE,
    PLATFORM_MACOS,
    MachOFormatError,
    SliceLayout,
    page_size,
    parse_slice,
)

CSMAGIC_EMBEDDED_SIGNATURE = 0xFADE0CC0
CSMAGIC_CODEDIRECTORY = 0xFADE0C02
CSMAGIC_REQUIREMENTS = 0xFADE0C01
CSMAGIC_BLOBWRAPPER = 0xFADE0B01
CSSLOT_CODEDIRECTORY = 0
CSSLOT_REQUIREMENTS = 2
CSSLOT_SIGNATURESLOT = 0x10000
CS_ADHOC = 0x2
CS_EXECSEG_MAIN_BINARY = 0x1
CS_HASHTYPE_SHA256 = 2
CSSLOT_ALTERNATE_CODEDIRECTORIES = 0x1000
_ALTERNATE_END = CSSLOT_ALTERNATE_CODEDIRECTORIES + 5
#: Hash types a code directory may use -> hashlib names (type 3 is SHA-256 truncated to 20 bytes).
_HASHES = {1: "sha1", CS_HASHTYPE_SHA256: "sha256", 3: "sha256", 4: "sha384"}

_CD_VERSION = 0x20400
_CD_HEADER = struct.Struct(">9I4B4I4Q")  # CodeDirectory fields up to and including execSegFlags
#: (hashlib name, hash type, digest size) of the code directories this module writes.
_SHA1 = ("sha1", 1, 20)
_SHA256 = ("sha256", CS_HASHTYPE_SHA256, 32)
#: macOS 10.11.4, nibble-packed as in version load commands.
_FIRST_SHA256_MACOS = 0x000A0B04
_PAGE_SHIFT = 12
_PAGE = 1 << _PAGE_SHIFT
#: Special slots: -1 Info.plist (absent: zero hash), -2 requirements.
_SPECIAL_SLOTS = 2
# An empty requirement set, as codesign writes for ad-hoc signatures.
_EMPTY_REQUIREMENTS = struct.pack(">3I", CSMAGIC_REQUIREMENTS, 12, 0)
# An empty CMS wrapper: ad hoc means no CMS signature, but codesign still emits the slot.
_EMPTY_CMS = struct.pack(">2I", CSMAGIC_BLOBWRAPPER, 8)


@dataclass(frozen=True)
class _SignatureSite:
    """Where an image keeps its signature: the LC_CODE_SIGNATURE and __LINKEDIT commands."""

    dataoff: int
    datasize: int
    codesig_offset: int  # of the LC_CODE_SIGNATURE command
    linkedit_offset: int  # of the __LINKEDIT segment command
    linkedit_fileoff: int
    linkedit_vmsize: int
    #: How far __LINKEDIT may grow in memory before it would overlap the next segment.
    linkedit_vm_room: int
    is64: bool


def _site(layout: SliceLayout) -> _SignatureSite:
    command = layout.find(LC_CODE_SIGNATURE)
    linkedit = layout.segment("__LINKEDIT")
    if command is None or linkedit is None:
        raise MachOFormatError("no LC_CODE_SIGNATURE or __LINKEDIT to sign")
    dataoff, datasize = layout.u32(command, 8), layout.u32(command, 12)
    if dataoff < linkedit.fileoff or dataoff + datasize > layout.size:
        raise MachOFormatError("code signature lies outside __LINKEDIT")
    if linkedit.fileoff + linkedit.filesize > dataoff + datasize or dataoff + datasize < layout.size:
        raise MachOFormatError("code signature is not the last thing in the image")
    seg_command = layout.commands[linkedit.command_index]
    above = [s.vmaddr for s in layout.segments if s.vmaddr > linkedit.vmaddr]
    vm_room = (min(above) - linkedit.vmaddr) if above else 1 << 62
    return _SignatureSite(
        dataoff,
        datasize,
        command.offset,
        seg_command.offset,
        linkedit.fileoff,
        linkedit.vmsize,
        vm_room,
        layout.header.is64,
    )


def sign(image: bytes, identifier: str) -> bytes:
    """``image`` (one thin Mach-O that has an LC_CODE_SIGNATURE) with a fresh ad-hoc signature.

    Like codesign, an image that runs on macOS before 10.11.4 gets a SHA-1 code directory in slot 0
    (the only kind those kernels accept; dyld refuses to load a library they reject) and a SHA-256 one
    as the first alternate; later systems read the SHA-256 one."""
    layout = parse_slice(image)
    site = _site(layout)
    ident = identifier.encode("utf-8", "surrogateescape") + b"\0"
    code_limit = site.dataoff
    n_code = -(-code_limit // _PAGE)
    kinds = (_SHA1, _SHA256) if _runs_before_sha256_kernels(layout) else (_SHA256,)
    cd_sizes = [_CD_HEADER.size + len(ident) + (_SPECIAL_SLOTS + n_code) * size for _, _, size in kinds]
    first = 12 + (len(kinds) + 2) * 8
    superblob_size = first + sum(cd_sizes) + len(_EMPTY_REQUIREMENTS) + len(_EMPTY_CMS)
    datasize = -(-superblob_size // 16) * 16

    # The header is hashed too, so the new sizes go in before any page hash is taken.
    out = bytearray(image[:code_limit])
    e = layout.header.endian
    struct.pack_into(e + "I", out, site.codesig_offset + 12, datasize)
    filesize = code_limit + datasize - site.linkedit_fileoff
    page = page_size(layout.header.cputype)
    vmsize = max(site.linkedit_vmsize, -(-filesize // page) * page)
    if vmsize > site.linkedit_vm_room:
        raise MachOFormatError("__LINKEDIT cannot grow to hold the signature: another segment follows it")
    if site.is64:
        struct.pack_into(e + "Q", out, site.linkedit_offset + 32, vmsize)
        struct.pack_into(e + "Q", out, site.linkedit_offset + 48, filesize)
    else:
        struct.pack_into(e + "I", out, site.linkedit_offset + 28, vmsize)
        struct.pack_into(e + "I", out, site.linkedit_offset + 36, filesize)

    text = layout.segment("__TEXT")
    exec_base, exec_limit = (text.fileoff, text.filesize) if text else (0, 0)
    exec_flags = CS_EXECSEG_MAIN_BINARY if layout.header.filetype == MH_EXECUTE else 0
    directories = []
    with memoryview(out) as view:
        for (algorithm, hash_type, size), cd_size in zip(kinds, cd_sizes):
            hash_offset = _CD_HEADER.size + len(ident) + _SPECIAL_SLOTS * size
            counts = (_SPECIAL_SLOTS, n_code, code_limit)
            page_info = (size, hash_type, 0, _PAGE_SHIFT)  # hash size, type, platform, log2 page
            unused = (0, 0, 0, 0, 0)  # spare2, scatterOffset, teamOffset, spare3, codeLimit64 (> 4 GiB)
            header = _CD_HEADER.pack(
                CSMAGIC_CODEDIRECTORY, cd_size, _CD_VERSION, CS_ADHOC, hash_offset, _CD_HEADER.size,
                *counts, *page_info, *unused, exec_base, exec_limit, exec_flags,
            )  # fmt: skip
            # slot -2 (requirements), then slot -1 (Info.plist: none)
            special = hashlib.new(algorithm, _EMPTY_REQUIREMENTS).digest() + bytes(size)
            pages = b"".join(
                hashlib.new(algorithm, view[k : k + _PAGE]).digest() for k in range(0, code_limit, _PAGE)
            )
            directories.append(header + ident + special + pages)
            assert len(directories[-1]) == cd_size

    # codesign's order: code directory, requirements, alternate code directories, CMS wrapper
    slots = [(CSSLOT_CODEDIRECTORY, directories[0]), (CSSLOT_REQUIREMENTS, _EMPTY_REQUIREMENTS)]
    slots += [(CSSLOT_ALTERNATE_CODEDIRECTORIES + k, cd) for k, cd in enumerate(directories[1:])]
    slots.append((CSSLOT_SIGNATURESLOT, _EMPTY_CMS))
    superblob = struct.pack(">3I", CSMAGIC_EMBEDDED_SIGNATURE, superblob_size, len(slots))
    offset = first
    for slot, blob in slots:
        superblob += struct.pack(">2I", slot, offset)
        offset += len(blob)
    superblob += b"".join(blob for _, blob in slots)
    out += superblob + bytes(datasize - superblob_size)
    return bytes(out)


def _runs_before_sha256_kernels(layout: SliceLayout) -> bool:
    """True when the image's minimum macOS is older than 10.11.4, the first to accept SHA-256 code
    directories (Apple silicon images never are)."""
    for command in layout.commands:
        if command.cmd == LC_VERSION_MIN_MACOSX:
            return layout.u32(command, 8) < _FIRST_SHA256_MACOS
        if command.cmd == LC_BUILD_VERSION and layout.u32(command, 8) == PLATFORM_MACOS:
            return layout.u32(command, 12) < _FIRST_SHA256_MACOS
    return False


def signature_valid(image: bytes | memoryview) -> bool:
    """True when every page hash of every code directory of the image matches its contents.

    Used to leave correct signatures alone (so repairing twice changes nothing) and to decide whether
    an image needs signing again. Signatures made for macOS before 10.11.4 carry a SHA-1 code
    directory in slot 0 and a SHA-256 one among the alternate slots: both count."""
    try:
        layout = parse_slice(image)
        site = _site(layout)
        blob = bytes(image[site.dataoff : site.dataoff + site.datasize])
        magic, _length, count = struct.unpack_from(">3I", blob)
        if magic != CSMAGIC_EMBEDDED_SIGNATURE:
            return False
        directories = 0
        for k in range(count):
            slot, offset = struct.unpack_from(">2I", blob, 12 + 8 * k)
            if slot == CSSLOT_CODEDIRECTORY or CSSLOT_ALTERNATE_CODEDIRECTORIES <= slot < _ALTERNATE_END:
                if not _directory_matches(image, blob[offset:], site.dataoff):
                    return False
                directories += 1
    except (MachOFormatError, struct.error):
        return False
    return directories > 0


def current_identifier(image: bytes | memoryview) -> str | None:
    """The identifier in the image's existing code directory, or None when it has no readable one."""
    try:
        layout = parse_slice(image)
        site = _site(layout)
        blob = bytes(image[site.dataoff : site.dataoff + site.datasize])
        magic, _length, count = struct.unpack_from(">3I", blob)
        if magic != CSMAGIC_EMBEDDED_SIGNATURE:
            return None
        for k in range(count):
            slot, offset = struct.unpack_from(">2I", blob, 12 + 8 * k)
            if slot == CSSLOT_CODEDIRECTORY:
                cd_magic, cd_length, _version, _flags, _hashes, ident = struct.unpack_from(
                    ">6I", blob, offset
                )
                if cd_magic != CSMAGIC_CODEDIRECTORY or not 0 < ident < cd_length:
                    return None
                raw = blob[offset + ident : offset + cd_length].split(b"\0", 1)[0]
                return raw.decode("utf-8", "surrogateescape") or None
    except (MachOFormatError, struct.error):
        return None
    return None


def _directory_matches(image: bytes | memoryview, cd: bytes, expected_limit: int) -> bool:
    fields = struct.unpack_from(">9I4B", cd)
    magic, _len, _ver, _flags, hash_offset, _ident, _n_special, n_code, code_limit = fields[:9]
    hash_size, hash_type, _platform, page_shift = fields[9:]
    algorithm = _HASHES.get(hash_type)
    if magic != CSMAGIC_CODEDIRECTORY or code_limit != expected_limit or algorithm is None:
        return False
    page = 1 << page_shift if page_shift else code_limit
    if n_code != -(-code_limit // page):
        return False
    view = memoryview(image)
    for k in range(n_code):
        start = k * page
        digest = hashlib.new(algorithm, view[start : min(start + page, code_limit)]).digest()[:hash_size]
        if cd[hash_offset + k * hash_size : hash_offset + (k + 1) * hash_size] != digest:
            return False
    return True
