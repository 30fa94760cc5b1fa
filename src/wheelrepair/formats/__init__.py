"""The registry of binary formats: find the backend for a file from its first bytes."""

from __future__ import annotations

from functools import cache

from .base import Backend


@cache
def backends() -> tuple[Backend, ...]:
    """Every available backend, in sniffing order."""
    found: list[Backend] = []
    try:
        from .elf.backend import ElfBackend

        found.append(ElfBackend())
    except ImportError:  # pragma: no cover - backend not built yet
        pass
    try:
        from .macho.backend import MachOBackend

        found.append(MachOBackend())
    except ImportError:  # pragma: no cover
        pass
    try:
        from .pe.backend import PEBackend

        found.append(PEBackend())
    except ImportError:  # pragma: no cover
        pass
    return tuple(found)


def backend_for(head: bytes) -> Backend | None:
    """The backend whose magic bytes start ``head`` (the first 64 bytes of a file), if any."""
    for backend in backends():
        if backend.sniff(head):
            return backend
    return None


def backend_named(fmt: str) -> Backend:
    for backend in backends():
        if backend.format == fmt:
            return backend
    raise KeyError(fmt)
