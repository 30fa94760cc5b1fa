"""Reading Mach-O files (thin or fat) into the format-neutral ``Binary``: names, rpaths, archs, min OS."""

from __future__ import annotations

import struct

from ...errors import InvalidBinary
from ...model import Binary
from .fat import parse_fat
from .layout import (
    DEPENDENCY_COMMANDS,
    LC_BUILD_VERSION,
    LC_CODE_SIGNATURE,
    LC_ID_DYLIB,
    LC_LOAD_WEAK_DYLIB,
    LC_RPATH,
    LC_VERSION_MIN_MACOSX,
    MH_EXECUTE,
    PLATFORM_MACOS,
    MachOFormatError,
    SliceLayout,
    decode_version,
    parse_slice,
)


def read_macho(data: bytes | memoryview, name: str) -> Binary:
    """Parse a whole Mach-O file; raise ``InvalidBinary`` naming ``name`` when it is malformed."""
    try:
        fat = parse_fat(data)
        if fat is None:
            return slice_binary(parse_slice(data))
        slices = tuple(slice_binary(parse_slice(data, a.offset, a.size)) for a in fat.archs)
    except (MachOFormatError, struct.error) as err:
        raise InvalidBinary(f"malformed Mach-O file: {err}", subject=name) from None
    if not slices:
        raise InvalidBinary("fat Mach-O file holds no architectures", subject=name)
    return merge_slices(slices)


def slice_binary(layout: SliceLayout) -> Binary:
    """The ``Binary`` of one thin image."""
    needed: dict[str, None] = {}
    strong: set[str] = set()
    weak: set[str] = set()
    rpaths: dict[str, None] = {}
    soname = None
    min_os = None
    signed = False
    for command in layout.commands:
        if command.cmd in DEPENDENCY_COMMANDS:
            dep = layout.string(command, 8)
            needed.setdefault(dep, None)
            (weak if command.cmd == LC_LOAD_WEAK_DYLIB else strong).add(dep)
        elif command.cmd == LC_ID_DYLIB:
            soname = layout.string(command, 8)
        elif command.cmd == LC_RPATH:
            rpaths.setdefault(layout.string(command, 8), None)
        elif command.cmd == LC_BUILD_VERSION:
            platform, minos = layout.u32(command, 8), layout.u32(command, 12)
            if platform == PLATFORM_MACOS:
                min_os = decode_version(minos)
        elif command.cmd == LC_VERSION_MIN_MACOSX:
            min_os = decode_version(layout.u32(command, 8))
        elif command.cmd == LC_CODE_SIGNATURE:
            signed = True
    return Binary(
        format="macho",
        archs=(layout.header.arch,),
        needed=tuple(needed),
        weak=frozenset(weak - strong),
        soname=soname,
        rpaths=tuple(rpaths),
        min_os=min_os,
        signed=signed,
        executable=layout.header.filetype == MH_EXECUTE,
    )


def merge_slices(slices: tuple[Binary, ...]) -> Binary:
    """One ``Binary`` for a fat file: the union of what its slices need, each slice kept for policy.

    A name is weak only if every slice that needs it links it weakly; ``min_os`` is the lowest any
    slice accepts (the per-architecture values stay on the slices)."""
    needed: dict[str, None] = {}
    rpaths: dict[str, None] = {}
    for item in slices:
        needed.update(dict.fromkeys(item.needed))
        rpaths.update(dict.fromkeys(item.rpaths))
    weak = frozenset(n for n in needed if all(n in s.weak for s in slices if n in s.needed))
    versions = [s.min_os for s in slices if s.min_os is not None]
    return Binary(
        format="macho",
        archs=tuple(s.archs[0] for s in slices),
        needed=tuple(needed),
        weak=weak,
        soname=next((s.soname for s in slices if s.soname), None),
        rpaths=tuple(rpaths),
        min_os=min(versions) if versions else None,
        signed=any(s.signed for s in slices),
        slices=slices,
        executable=any(s.executable for s in slices),
    )
