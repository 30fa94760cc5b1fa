"""The executable-stack request of an ELF file: the PF_X bit of its PT_GNU_STACK program header.

A shared object whose PT_GNU_STACK says RWE asks the loader to make every thread's stack executable;
glibc 2.41 and later refuse to dlopen such a library into a process whose stack is not executable
(Python extension modules are always dlopened). Clearing the bit is a 4-byte edit in the program
header table; nothing moves.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import EditError
from .atomic import patched, rewrite_file
from .layout import ElfImage

PT_GNU_STACK = 0x6474E551
PF_X = 0x1


def clear_exec_stack(path: Path) -> bool:
    """Clear PF_X in the PT_GNU_STACK header of the ELF file at ``path``; False when it was not set."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EditError(f"cannot read: {exc.strerror}", subject=str(path)) from exc
    writes = _writes(data, str(path))
    if not writes:
        return False
    try:
        rewrite_file(path, writes)
    except OSError as exc:
        raise EditError(f"cannot write: {exc.strerror}", subject=str(path)) from exc
    return True


def clear_exec_stack_bytes(data: bytes, name: str) -> bytes | None:
    """``clear_exec_stack`` on an ELF file held in memory: the edited bytes, or None when unset."""
    writes = _writes(data, name)
    return patched(data, writes) if writes else None


def _writes(data: bytes, name: str) -> list[tuple[int, bytes]]:
    image = ElfImage(data, name)
    header = image.header
    writes: list[tuple[int, bytes]] = []
    for index, segment in enumerate(image.segments):
        if segment.type == PT_GNU_STACK and segment.flags & PF_X:
            segment.flags &= ~PF_X
            writes.append((header.phoff + index * header.phentsize, segment.pack(image.lay)))
    return writes
