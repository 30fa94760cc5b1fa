"""The dynamic table as a list of entries: what a patch request turns it into, and its bytes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ...errors import UsageError
from ..base import PatchRequest
from .dynamic import DT_MIPS_RLD_MAP_REL, DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_SONAME, encode
from .layout import ElfImage

_PATH_TAGS = (DT_RPATH, DT_RUNPATH)


@dataclass
class Entry:
    """One dynamic entry being edited; ``value`` is None for a string not yet placed in .dynstr."""

    tag: int
    value: int | None
    text: bytes | None = None
    #: Index in the original table (None for added entries).
    origin: int | None = None

    def key(self) -> tuple[int, object]:
        return (self.tag, self.text if self.text is not None else self.value)


def is_empty(request: PatchRequest) -> bool:
    return request == PatchRequest()


def _raw(text: str, what: str) -> bytes:
    raw = encode(text)
    if not raw or b"\0" in raw:
        raise UsageError(f"invalid {what} {text!r}: must be non-empty and contain no NUL byte")
    return raw


def _after(entries: list[Entry], tags: Iterable[int]) -> int:
    """The index just past the last entry with one of ``tags`` (0 when there is none)."""
    wanted = set(tags)
    return max((i + 1 for i, e in enumerate(entries) if e.tag in wanted), default=0)


def _set_text(entry: Entry, text: bytes) -> None:
    if entry.text != text:
        entry.text, entry.value = text, None


def _set_paths(entries: list[Entry], paths: list[bytes], tag: int) -> None:
    """Leave exactly one search-path entry (``tag``, ``paths``), or none when ``paths`` is empty."""
    value = b":".join(paths)
    first = next((e for e in entries if e.tag in _PATH_TAGS), None)
    entries[:] = [e for e in entries if e.tag not in _PATH_TAGS or (e is first and value)]
    if not value:
        return
    if first is None:
        entries.insert(_after(entries, (DT_NEEDED, DT_SONAME)), Entry(tag, None, value))
    else:
        first.tag = tag
        _set_text(first, value)


def apply_request(old: list[Entry], request: PatchRequest) -> list[Entry]:
    """The dynamic table ``request`` asks for, entries keeping their place where they survive."""
    entries = [Entry(e.tag, e.value, e.text, e.origin) for e in old]
    renames = {_raw(a, "needed name"): _raw(b, "needed name") for a, b in request.replace_needed}
    for e in entries:
        if e.tag == DT_NEEDED and e.text in renames:
            _set_text(e, renames[e.text])
    removed = {_raw(n, "needed name") for n in request.remove_needed}
    entries = [e for e in entries if not (e.tag == DT_NEEDED and e.text in removed)]
    for name in request.add_needed:
        raw = _raw(name, "needed name")
        if not any(e.tag == DT_NEEDED and e.text == raw for e in entries):
            entries.insert(_after(entries, (DT_NEEDED,)), Entry(DT_NEEDED, None, raw))
    if request.set_soname is not None:
        raw = _raw(request.set_soname, "soname")
        current = next((e for e in entries if e.tag == DT_SONAME), None)
        if current is None:
            entries.insert(_after(entries, (DT_NEEDED,)), Entry(DT_SONAME, None, raw))
        else:
            _set_text(current, raw)
    if request.remove_rpath:
        entries = [e for e in entries if e.tag not in _PATH_TAGS]
    if request.set_rpath is not None:
        paths = [_raw(p, "search path") for p in request.set_rpath]
        _set_paths(entries, paths, DT_RPATH if request.force_rpath else DT_RUNPATH)
    if request.add_rpath or request.delete_rpath or (request.force_rpath and request.set_rpath is None):
        # glibc ignores DT_RPATH when DT_RUNPATH is present, so the effective list is the runpath.
        current = next((e for e in entries if e.tag == DT_RUNPATH), None) or next(
            (e for e in entries if e.tag == DT_RPATH), None
        )
        paths = [p for p in (current.text or b"").split(b":") if p] if current else []
        dropped = {_raw(p, "search path") for p in request.delete_rpath}
        paths = [p for p in paths if p not in dropped]
        for extra in request.add_rpath:
            raw = _raw(extra, "search path")
            if raw not in paths:
                paths.append(raw)
        tag = DT_RPATH if request.force_rpath else (current.tag if current else DT_RUNPATH)
        if current is not None:
            # Keep the effective entry in its slot; _set_paths keeps the first path entry it sees.
            entries = [e for e in entries if e.tag not in _PATH_TAGS or e is current]
        _set_paths(entries, paths, tag)
    return entries


def pack_dynamic(image: ElfImage, entries: list[Entry], slots: int, vaddr: int, old_vaddr: int) -> bytes:
    lay = image.lay
    size = lay.dyn.size
    mask = (1 << (64 if lay.is64 else 32)) - 1
    out = bytearray()
    for i, e in enumerate(entries):
        value = e.value
        assert value is not None
        if e.tag == DT_MIPS_RLD_MAP_REL and e.origin is not None:
            value = (value + old_vaddr + e.origin * size - vaddr - i * size) & mask
        out += lay.dyn.pack(e.tag, value)
    out += bytes(slots * size - len(out))
    return bytes(out)
