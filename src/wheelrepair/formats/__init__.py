"""The registry of binary formats: find the backend for a file from its first bytes."""

from __future__ import annotations

from functools import cache

from .base import Backend


@cache
def backends() -> tuple[Backend, ...]:
    """Every backend, in sniffing order (imported on first use: `wheelrepair --help` stays fast)."""
    from .elf.backend import ElfBackend
    from .macho.backend import MachOBackend
    from .pe.backend import PEBackend

    return (ElfBackend(), MachOBackend(), PEBackend())


@cache
def _any_magic() -> tuple[bytes, ...]:
    return tuple(magic for backend in backends() for magic in backend.magics)


def backend_for(head: bytes) -> Backend | None:
    """The backend whose magic bytes start ``head`` (the first 64 bytes of a file), if any."""
    if not head.startswith(_any_magic()):
        return None
    for backend in backends():
        if head.startswith(backend.magics) and backend.sniff(head):
            return backend
    return None


def backend_named(fmt: str) -> Backend:
    for backend in backends():
        if backend.format == fmt:
            return backend
    raise KeyError(fmt)
