"""The registry of binary formats: find the backend for a file from its first bytes.

A backend is imported the first time a file of its format is met (or it is asked for by name):
a Linux wheel's ``show`` never imports the Mach-O and PE code (~15 ms of every start). The magic
bytes are therefore listed here as well; a test checks them against each backend's own."""

from __future__ import annotations

import importlib
from functools import cache

from .base import Backend

#: (format, the magic bytes its files start with, module and class of its backend), in sniffing order.
REGISTRY: tuple[tuple[str, tuple[bytes, ...], str, str], ...] = (
    ("elf", (b"\x7fELF",), "elf.backend", "ElfBackend"),
    (
        "macho",
        (
            b"\xce\xfa\xed\xfe",  # MH_MAGIC, little-endian
            b"\xcf\xfa\xed\xfe",  # MH_MAGIC_64
            b"\xfe\xed\xfa\xce",  # MH_CIGAM
            b"\xfe\xed\xfa\xcf",  # MH_CIGAM_64
            b"\xca\xfe\xba\xbe",  # FAT_MAGIC, big-endian
            b"\xca\xfe\xba\xbf",  # FAT_MAGIC_64
        ),
        "macho.backend",
        "MachOBackend",
    ),
    ("pe", (b"MZ",), "pe.backend", "PEBackend"),
)
_ANY_MAGIC = tuple(magic for _, magics, _, _ in REGISTRY for magic in magics)
#: Modules a backend imports only to edit binaries (``show`` never needs them; ELF's take 7-8 ms).
_EDITING: dict[str, tuple[str, ...]] = {"elf": ("elf.editor", "elf.strip")}


@cache
def _backend(fmt: str) -> Backend:
    for name, _, module, cls in REGISTRY:
        if name == fmt:
            backend: Backend = getattr(importlib.import_module(f"{__name__}.{module}"), cls)()
            return backend
    raise KeyError(fmt)


def backends() -> tuple[Backend, ...]:
    """Every backend, in sniffing order (all of them imported)."""
    return tuple(_backend(fmt) for fmt, _, _, _ in REGISTRY)


def backend_for(head: bytes) -> Backend | None:
    """The backend whose magic bytes start ``head`` (the first 64 bytes of a file), if any."""
    if not head.startswith(_ANY_MAGIC):
        return None
    for fmt, magics, _, _ in REGISTRY:
        if head.startswith(magics):
            backend = _backend(fmt)
            if backend.sniff(head):
                return backend
    return None


def backend_named(fmt: str) -> Backend:
    return _backend(fmt)


def preload_editing(fmt: str | None) -> None:
    """Import what editing ``fmt``'s binaries needs now: a repair calls it while its scan's workers
    run, so the import is not added to the work after the analysis."""
    for module in _EDITING.get(fmt or "", ()):
        importlib.import_module(f"{__name__}.{module}")
