"""Rewrite an ELF file's dynamic section (needed names, soname, search paths) in pure Python.

Strings go into .dynstr space that nothing references any more when they fit; otherwise a new
.dynstr (and, when the table must grow, a new .dynamic and program header table) is placed in one new
PT_LOAD segment after everything else, so nothing already mapped ever moves.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

from ...errors import EditError, InvalidBinary
from ..base import PatchRequest
from .atomic import patched, rewrite_file
from .dynamic import (
    DT_NEEDED,
    DT_RPATH,
    DT_RUNPATH,
    DT_SONAME,
    STRING_TAGS,
    Dynamic,
    VersionRef,
    decode,
    encode,
    has_dynamic,
)
from .dynstr import fit_strings, free_regions
from .entries import Entry, apply_request, is_empty, pack_dynamic
from .grow import Plan, grow
from .layout import PT_INTERP, Data, ElfImage
from .strip import strip_elf
from .versions import drop_version_needs

__all__ = ["describe_elf", "edit_elf", "edit_elf_bytes", "strip_elf"]


def edit_elf(path: Path, request: PatchRequest) -> bool:
    """Apply ``request`` to the ELF file at ``path``; False (file untouched) when nothing changes."""
    target = Path(os.path.realpath(path))
    try:
        with open(target, "rb") as handle:
            if os.fstat(handle.fileno()).st_size < 16:
                raise InvalidBinary("not an ELF file", subject=str(path))
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                plan = _plan(ElfImage(data, str(path)), request)
    except OSError as exc:
        raise EditError(f"cannot read: {exc.strerror}", subject=str(path)) from exc
    if plan is None:
        return False
    try:
        rewrite_file(target, plan.writes, append_at=plan.append_at, append=plan.append)
    except OSError as exc:
        raise EditError(f"cannot write: {exc.strerror}", subject=str(path)) from exc
    return True


def edit_elf_bytes(data: bytes, name: str, request: PatchRequest) -> bytes | None:
    """``edit_elf`` on an ELF file held in memory: the edited bytes, or None when nothing changes."""
    plan = _plan(ElfImage(data, name), request)
    if plan is None:
        return None
    return patched(data, plan.writes, append_at=plan.append_at, append=plan.append)


def describe_elf(data: Data, name: str) -> dict[str, object]:
    """The dynamic-section fields ``wheelrepair patch --print`` shows."""
    image = ElfImage(data, name)
    interp = image.segment(PT_INTERP)
    interpreter = None
    if interp is not None:
        interpreter = decode(image.read(interp.offset, interp.filesz, "interpreter").split(b"\0")[0])
    result: dict[str, object] = {
        "soname": None,
        "needed": [],
        "rpath": [],
        "runpath": [],
        "interpreter": interpreter,
        "arch": image.machine(),
        "class": "ELF64" if image.lay.is64 else "ELF32",
        "endian": "little" if image.lay.little else "big",
    }
    if has_dynamic(image):
        dyn = Dynamic(image)
        sonames = dyn.texts(DT_SONAME)
        result["soname"] = sonames[0] if sonames else None
        result["needed"] = dyn.texts(DT_NEEDED)
        result["rpath"] = [p for text in dyn.texts(DT_RPATH) for p in text.split(":")]
        result["runpath"] = [p for text in dyn.texts(DT_RUNPATH) for p in text.split(":")]
    return result


def _plan(image: ElfImage, request: PatchRequest) -> Plan | None:
    if not has_dynamic(image):
        if is_empty(request):
            return None
        raise EditError("has no dynamic section (statically linked?); nothing to patch", subject=image.name)
    dyn = Dynamic(image)
    old = [
        Entry(tag, value, dyn.string(value) if tag in STRING_TAGS else None, i)
        for i, (tag, value) in enumerate(dyn.entries)
    ]
    new = apply_request(old, request)
    renames = {encode(a): encode(b) for a, b in request.replace_needed}
    version_refs = dyn.version_refs()
    # glibc finds the library a version need belongs to by name, so renamed needs are renamed there too.
    moved_refs = [
        (r, renames[dyn.string(r.value)])
        for r in version_refs
        if r.is_file
        and dyn.string(r.value) in renames
        and renames[dyn.string(r.value)] != dyn.string(r.value)
    ]
    writes: list[tuple[int, bytes]] = []
    dropped = {encode(n) for n in request.remove_needed} - {e.text for e in new if e.tag == DT_NEEDED}
    if dropped:
        versions = drop_version_needs(dyn, dropped, new)
        if versions is None:
            raise EditError(
                "cannot remove the symbol versions the removed library provided", subject=image.name
            )
        writes += versions
        moved_refs = [(r, text) for r, text in moved_refs if dyn.string(r.value) not in dropped]
    if [e.key() for e in new] == [e.key() for e in old] and not moved_refs:
        return None

    placed, new_strtab = _place_strings(dyn, old, new, version_refs, moved_refs, writes)
    for ref, text in moved_refs:
        writes.append((ref.field, image.lay.word.pack(placed[text])))

    move_dynamic = len(new) + 1 > dyn.slots
    if new_strtab is None and not move_dynamic:
        writes.append(
            (dyn.segment.offset, pack_dynamic(image, new, dyn.slots, dyn.segment.vaddr, dyn.segment.vaddr))
        )
        return Plan(writes)
    return grow(image, dyn, new, writes, new_strtab, move_dynamic)


def _place_strings(
    dyn: Dynamic,
    old: list[Entry],
    new: list[Entry],
    version_refs: list[VersionRef],
    moved_refs: list[tuple[VersionRef, bytes]],
    writes: list[tuple[int, bytes]],
) -> tuple[dict[bytes, int], bytes | None]:
    """Give every new string a .dynstr offset: an existing copy, bytes nothing references any more
    (``writes`` gets them), or, when those do not suffice, the end of a grown copy of .dynstr
    (returned as the second item). Fills in the entries' values; returns the placement too."""
    strtab = dyn.strtab
    live = {e.value for e in new if e.text is not None and e.value is not None}
    moved_fields = {r.field for r, _ in moved_refs}
    live |= {r.value for r in version_refs if r.field not in moved_fields}
    wanted = list(
        dict.fromkeys(
            [e.text for e in new if e.value is None and e.text is not None] + [text for _, text in moved_refs]
        )
    )
    placed: dict[bytes, int] = {}
    for text in wanted:
        found = strtab.find(text + b"\0")
        if found >= 0:
            placed[text] = found
            live.add(found)
    missing = [t for t in wanted if t not in placed]
    new_strtab: bytes | None = None
    if missing:
        candidates = {e.value for e in old if e.text is not None and e.value not in live}
        candidates |= {r.value for r, _ in moved_refs if r.value not in live}
        room = sum(len(dyn.string(c)) + 1 for c in candidates if c is not None)
        need = sum(len(t) + 1 for t in missing)
        regions = free_regions(dyn, {c for c in candidates if c is not None}, live) if need <= room else []
        fitted = fit_strings(missing, regions)
        if fitted is not None:
            placed.update(fitted)
            for lo, hi in regions:
                chunk = bytearray(hi - lo)
                for text, at in fitted.items():
                    if lo <= at < hi:
                        chunk[at - lo : at - lo + len(text)] = text
                writes.append((dyn.strtab_offset + lo, bytes(chunk)))
        else:
            new_strtab = strtab + b"".join(t + b"\0" for t in missing)
            start = len(strtab)
            for text in missing:
                placed[text] = start
                start += len(text) + 1
    for e in new:
        if e.value is None:
            assert e.text is not None
            e.value = placed[e.text]
    return placed, new_strtab
