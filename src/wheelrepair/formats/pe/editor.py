"""Renaming the DLLs a PE file imports, in the import and delay-load import directories.

A new name is written where the old one was when it fits (including its alignment padding); else in
the slack between a read-only data section's virtual size and its raw size; else in a new section
appended after the last one, with any overlay (MinGW's COFF symbol table, a signature) moved behind
it. Every edit also drops an Authenticode signature it invalidates (with a warning), drops bound-import
data, clears a DependentLoadFlags that would hide the directories added with os.add_dll_directory, and
recomputes the checksum. Renaming to names a file already carries changes nothing.
"""

from __future__ import annotations

import logging
import os
import struct
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ...errors import EditError
from .layout import (
    DIR_BOUND_IMPORT,
    DIR_DEBUG,
    DIR_LOAD_CONFIG,
    DIR_SECURITY,
    SCN_CNT_CODE,
    SCN_CNT_INITIALIZED_DATA,
    SCN_MEM_DISCARDABLE,
    SCN_MEM_EXECUTE,
    SCN_MEM_READ,
    SCN_MEM_WRITE,
    SECTION_HEADER_SIZE,
    NameSlot,
    PELayout,
    import_slots,
    parse_layout,
)

log = logging.getLogger("wheelrepair")

NEW_SECTION_NAME = b".wrnames"
_NEW_SECTION_FLAGS = SCN_CNT_INITIALIZED_DATA | SCN_MEM_READ
# LoadLibraryEx flags that include the directories added with AddDllDirectory.
_SEARCH_USER_DIRS = 0x400
_SEARCH_DEFAULT_DIRS = 0x1000
_DEBUG_ENTRY_SIZE = 28


def _align(value: int, alignment: int) -> int:
    return value if alignment <= 1 else (value + alignment - 1) // alignment * alignment


@dataclass(frozen=True)
class _Pending:
    slot: NameSlot
    new: str


def rewrite_file(path: Path, renames: Mapping[str, str]) -> bool:
    """Rename imported DLLs in the file at ``path`` (atomically); False when nothing needed changing."""
    data = path.read_bytes()
    result = rename_imports(data, renames, str(path))
    if result is None:
        result = clear_load_flags(data, str(path))
    if result is None:
        return False
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".wheelrepair-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(result)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def rename_imports(data: bytes, renames: Mapping[str, str], name: str) -> bytes | None:
    """The file with imported DLL names replaced per ``renames`` (matched exactly, else ignoring case
    as the loader does), or None when no name needs changing."""
    layout = parse_layout(data, name)
    folded = {old.casefold(): new for old, new in renames.items()}
    pending: list[_Pending] = []
    for slot in import_slots(data, layout, name):
        new = renames.get(slot.name, folded.get(slot.name.casefold()))
        if new is not None and new != slot.name:
            try:
                new.encode("ascii")
            except UnicodeEncodeError:
                raise EditError(f"cannot import a DLL by the non-ASCII name {new!r}", subject=name) from None
            pending.append(_Pending(slot, new))
    if not pending:
        return None
    buf = bytearray(data)
    _drop_signature(buf, layout, name)
    _drop_bound_imports(buf, layout)
    _place_names(buf, parse_layout(buf, name), pending, name)
    layout = parse_layout(buf, name)
    _clear_dependent_load_flags(buf, layout)
    write_checksum(buf, layout)
    return bytes(buf)


def clear_load_flags(data: bytes, name: str) -> bytes | None:
    """The file with a DependentLoadFlags that hides added directories cleared (and its checksum
    recomputed), or None when it has none. Repair applies this to every binary it writes, renamed or
    not: with ``--no-mangle '*'`` nothing is renamed, yet Windows (not wine, which ignores the flag)
    would still search only System32 for the imports of such a DLL."""
    layout = parse_layout(data, name)
    buf = bytearray(data)
    if not _clear_dependent_load_flags(buf, layout):
        return None
    _drop_signature(buf, layout, name)
    write_checksum(buf, parse_layout(buf, name))
    return bytes(buf)


def _place_names(buf: bytearray, layout: PELayout, pending: list[_Pending], name: str) -> None:
    users: dict[int, set[str]] = {}
    for item in pending:
        users.setdefault(item.slot.rva, set()).add(item.new)
    all_slots = import_slots(buf, layout, name)
    rewritten = {p.slot.field_offset for p in pending}
    shared = {s.rva for s in all_slots if s.field_offset not in rewritten}
    placed: dict[str, int] = {}
    remaining: list[_Pending] = []
    for item in pending:
        rva = item.slot.rva
        # In place only when every reference to this string wants the same new name.
        if item.new in placed or rva in shared or len(users[rva]) > 1:
            remaining.append(item)
            continue
        capacity = _capacity(buf, layout, item.slot)
        encoded = item.new.encode("ascii") + b"\0"
        if len(encoded) <= capacity:
            offset = layout.rva_to_offset(rva)
            assert offset is not None  # import_slots read the old name there
            buf[offset : offset + capacity] = encoded.ljust(capacity, b"\0")
            placed[item.new] = rva
        else:
            remaining.append(item)
    missing = list(dict.fromkeys(p.new for p in remaining if p.new not in placed))
    if missing:
        blob, offsets = _string_blob(missing)
        base = _use_slack(buf, layout, len(blob))
        if base is None:
            base = _add_section(buf, layout, len(blob), name)
        start = parse_layout(buf, name).rva_to_offset(base)
        assert start is not None
        buf[start : start + len(blob)] = blob
        for new, delta in offsets.items():
            placed[new] = base + delta
    for item in pending:
        rva = placed[item.new]
        value = rva + layout.image_base if item.slot.is_va else rva
        struct.pack_into("<I", buf, item.slot.field_offset, value)
        if not item.slot.delay:
            # A bound import's time stamp tells the loader to trust the bound addresses: unbind.
            struct.pack_into("<I", buf, item.slot.field_offset - 8, 0)


def _capacity(buf: bytearray, layout: PELayout, slot: NameSlot) -> int:
    """Bytes available for a name at the old name's place: the old name, its NUL, and the NUL that
    pads it to the 2-byte boundary linkers align these strings to."""
    offset = layout.rva_to_offset(slot.rva)
    assert offset is not None
    size = len(slot.name.encode("latin-1")) + 1
    end = offset + size
    if slot.rva % 2 == 0 and end % 2 == 1 and end < len(buf) and buf[end] == 0:
        size += 1
    return size


def _string_blob(names: list[str]) -> tuple[bytes, dict[str, int]]:
    blob = bytearray()
    offsets: dict[str, int] = {}
    for new in names:
        offsets[new] = len(blob)
        blob += new.encode("ascii") + b"\0"
        if len(blob) % 2:
            blob += b"\0"
    return bytes(blob), offsets


def _use_slack(buf: bytearray, layout: PELayout, need: int) -> int | None:
    """Grow a read-only initialized-data section into the zero bytes between its virtual size and
    its raw size; the RVA of the space, or None when no section has room."""
    ordered = sorted(layout.sections, key=lambda s: s.virtual_address)
    for index, section in enumerate(ordered):
        flags = section.characteristics
        if not flags & SCN_CNT_INITIALIZED_DATA or not flags & SCN_MEM_READ:
            continue
        if (
            flags & (SCN_CNT_CODE | SCN_MEM_EXECUTE | SCN_MEM_WRITE | SCN_MEM_DISCARDABLE)
            or not section.virtual_size
        ):
            continue
        start = _align(section.virtual_size, 8)
        limit = section.raw_size
        if index + 1 < len(ordered):
            limit = min(limit, ordered[index + 1].virtual_address - section.virtual_address)
        if start + need > limit:
            continue
        begin = section.raw_pointer + start
        if begin + need > len(buf) or any(buf[begin : begin + need]):
            continue
        struct.pack_into("<I", buf, section.header_offset + 8, start + need)
        return section.virtual_address + start
    return None


def _add_section(buf: bytearray, layout: PELayout, need: int, name: str) -> int:
    """Append a section of ``need`` bytes of read-only data; its RVA."""
    table_end = layout.section_table_end
    raw_starts = [s.raw_pointer for s in layout.sections if s.raw_size]
    first_raw = min(raw_starts, default=len(buf))
    first_va = min((s.virtual_address for s in layout.sections), default=layout.size_of_image)
    new_headers = max(layout.size_of_headers, _align(table_end + SECTION_HEADER_SIZE, layout.file_alignment))
    if (
        table_end + SECTION_HEADER_SIZE > min(first_raw, first_va)
        or new_headers > min(first_raw, first_va)
        or any(buf[table_end : table_end + SECTION_HEADER_SIZE])
    ):
        raise EditError(
            "no room in the PE headers for another section header to hold the longer DLL names",
            subject=name,
        )
    virtual = _align(
        max((s.virtual_address + (s.virtual_size or s.raw_size) for s in layout.sections), default=0),
        layout.section_alignment,
    )
    raw_size = _align(need, layout.file_alignment)
    insert_at = _align(layout.raw_end, layout.file_alignment)
    overlay_start = min(layout.raw_end, len(buf))
    overlay = bytes(buf[overlay_start:])
    del buf[overlay_start:]
    buf.extend(b"\0" * (insert_at - overlay_start + raw_size))
    shift = len(buf) - overlay_start
    buf.extend(overlay)
    if overlay:
        _shift_file_pointers(buf, layout, overlay_start, shift)
    header = struct.pack(
        "<8sIIIIIIHHI", NEW_SECTION_NAME, need, virtual, raw_size, insert_at, 0, 0, 0, 0, _NEW_SECTION_FLAGS
    )
    buf[table_end : table_end + SECTION_HEADER_SIZE] = header
    coff = layout.coff_offset
    struct.pack_into("<H", buf, coff + 2, len(layout.sections) + 1)
    opt = layout.optional_offset
    (initialized,) = struct.unpack_from("<I", buf, opt + 8)
    struct.pack_into("<I", buf, opt + 8, initialized + raw_size)
    struct.pack_into("<I", buf, opt + 56, _align(virtual + need, layout.section_alignment))
    struct.pack_into("<I", buf, opt + 60, new_headers)
    return virtual


def _shift_file_pointers(buf: bytearray, layout: PELayout, moved_from: int, shift: int) -> None:
    """Fix the file offsets that point into the overlay after it moved by ``shift`` bytes."""
    coff = layout.coff_offset
    if layout.pointer_to_symbol_table >= moved_from:
        struct.pack_into("<I", buf, coff + 8, layout.pointer_to_symbol_table + shift)
    sec_offset, sec_size = layout.directory(DIR_SECURITY)
    if sec_size and sec_offset >= moved_from:
        struct.pack_into("<I", buf, layout.data_dir_offset + 8 * DIR_SECURITY, sec_offset + shift)
    for section in layout.sections:
        for field in (24, 28):  # PointerToRelocations, PointerToLinenumbers
            (value,) = struct.unpack_from("<I", buf, section.header_offset + field)
            if value and value >= moved_from:
                struct.pack_into("<I", buf, section.header_offset + field, value + shift)
    rva, size = layout.directory(DIR_DEBUG)
    start = layout.rva_to_offset(rva) if rva and size else None
    if start is None:
        return
    for entry in range(start, start + size - _DEBUG_ENTRY_SIZE + 1, _DEBUG_ENTRY_SIZE):
        (pointer,) = struct.unpack_from("<I", buf, entry + 24)
        if pointer and pointer >= moved_from:
            struct.pack_into("<I", buf, entry + 24, pointer + shift)


def _drop_signature(buf: bytearray, layout: PELayout, name: str) -> None:
    offset, size = layout.directory(DIR_SECURITY)
    if not size:
        return
    log.warning("%s: dropping its Authenticode signature, which the edit invalidates; sign it again", name)
    struct.pack_into("<II", buf, layout.data_dir_offset + 8 * DIR_SECURITY, 0, 0)
    if offset >= layout.raw_end and offset + size >= len(buf) - 8:
        del buf[offset:]


def _drop_bound_imports(buf: bytearray, layout: PELayout) -> None:
    # Bound addresses (and the names they record) are only a cache the loader verifies: drop it.
    offset, size = layout.directory(DIR_BOUND_IMPORT)
    if not size:
        return
    struct.pack_into("<II", buf, layout.data_dir_offset + 8 * DIR_BOUND_IMPORT, 0, 0)
    if offset + size <= layout.size_of_headers:
        buf[offset : offset + size] = b"\0" * size


def _clear_dependent_load_flags(buf: bytearray, layout: PELayout) -> bool:
    rva, _size = layout.directory(DIR_LOAD_CONFIG)
    offset = layout.rva_to_offset(rva) if rva else None
    if offset is None or offset + 4 > len(buf):
        return False
    (declared,) = struct.unpack_from("<I", buf, offset)
    field = 78 if layout.pe32_plus else 54
    if declared < field + 2 or offset + field + 2 > len(buf):
        return False
    (flags,) = struct.unpack_from("<H", buf, offset + field)
    if flags and not flags & (_SEARCH_USER_DIRS | _SEARCH_DEFAULT_DIRS):
        struct.pack_into("<H", buf, offset + field, 0)
        return True
    return False


def pe_checksum(data: bytes | bytearray, checksum_offset: int) -> int:
    """The PE image checksum: the 16-bit one's-complement sum of the file's words (its own field
    counted as zero) plus the file's length.

    Summing 16-bit words modulo 0xFFFF equals reducing the whole file, read as one little-endian
    integer, modulo 0xFFFF (2**16 is 1 modulo 0xFFFF): one pass in C instead of a Python loop.
    """
    (stored,) = struct.unpack_from("<I", data, checksum_offset)
    weight = 256 if checksum_offset % 2 else 1
    total = (int.from_bytes(data, "little") - stored * weight) % 0xFFFF
    # One's-complement addition of words that are not all zero never gives 0, but 0xFFFF.
    return (total or 0xFFFF) + len(data)


def write_checksum(buf: bytearray, layout: PELayout) -> None:
    struct.pack_into("<I", buf, layout.checksum_offset, pe_checksum(buf, layout.checksum_offset))
