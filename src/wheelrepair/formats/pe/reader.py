"""Reading a PE file (DLL, .pyd, .exe) into the format-neutral ``Binary``.

``archs`` holds one of "x86", "x86_64", "arm64" (also "arm", "arm64ec"; other machines read as
"unknown-0x<machine>"): the policy maps them to win32 / win_amd64 / win_arm64. ``needed`` is every
DLL named by the import directory, then those only named by the delay-load import directory (which
are also in ``delay_needed``). Delay-loaded DLLs are not weak: the first call into one loads it, and
if it is missing that call fails, so repair vendors them like any other dependency.
"""

from __future__ import annotations

from ...model import Binary
from .layout import IMAGE_FILE_DLL, MACHINES, PELayout, export_name, import_slots, parse_layout


def arch_name(machine: int) -> str:
    return MACHINES.get(machine, f"unknown-0x{machine:x}")


def read_binary(data: bytes, name: str) -> Binary:
    layout = parse_layout(data, name)
    return binary_from_layout(data, layout, name)


def binary_from_layout(data: bytes, layout: PELayout, name: str) -> Binary:
    needed: list[str] = []
    delay: list[str] = []
    for slot in import_slots(data, layout, name):
        if slot.delay:
            if slot.name not in delay:
                delay.append(slot.name)
        elif slot.name not in needed:
            needed.append(slot.name)
    for dll in delay:
        if dll not in needed:
            needed.append(dll)
    return Binary(
        format="pe",
        archs=(arch_name(layout.machine),),
        needed=tuple(needed),
        soname=export_name(data, layout, name),
        delay_needed=tuple(delay),
        linker_version=layout.linker_version,
        executable=not layout.characteristics & IMAGE_FILE_DLL,
    )
