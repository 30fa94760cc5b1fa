"""Fusing Mach-O files built apart (thin or fat) into one universal file, as ``lipo -create`` does.

Each slice is copied byte for byte: a code signature covers its own slice only, never the fat header,
so every signature stays valid. Slices are ordered and aligned as llvm-lipo lays them out (by
alignment, then CPU type; 4 KiB pages for Intel, 16 KiB for Apple silicon).
"""

from __future__ import annotations

from .fat import FatArch, FatHeader, build_fat, parse_fat
from .layout import MachOFormatError, page_size, read_header


class FuseError(ValueError):
    """Two files cannot be fused (the message says why)."""


def slices_of(data: bytes) -> list[tuple[FatArch, bytes]]:
    """The slices of a fat file, or the one image of a thin file, with their fat-header entries."""
    fat = parse_fat(data)
    if fat is not None:
        return [(arch, data[arch.offset : arch.offset + arch.size]) for arch in fat.archs]
    header = read_header(data[:64])
    align = page_size(header.cputype).bit_length() - 1
    return [(FatArch(header.cputype, header.cpusubtype, 0, len(data), align), data)]


def fuse(first: bytes, second: bytes) -> bytes:
    """One fat file holding every architecture of ``first`` and ``second``.

    An architecture present in both must be the very same slice; otherwise the files are two
    different builds for one CPU and cannot be fused."""
    try:
        chosen: dict[tuple[int, int], tuple[FatArch, bytes]] = {}
        for arch, image in (*slices_of(first), *slices_of(second)):
            key = (arch.cputype, arch.cpusubtype & 0x00FFFFFF)
            previous = chosen.get(key)
            if previous is not None and previous[1] != image:
                raise FuseError(f"both files hold a different {arch.arch} slice")
            chosen.setdefault(key, (arch, image))
    except MachOFormatError as err:
        raise FuseError(f"not a Mach-O file: {err}") from None
    ordered = sorted(chosen.values(), key=lambda item: (item[0].align, item[0].cputype, item[0].cpusubtype))
    if len(ordered) == 1:
        return ordered[0][1]
    first_align = 1 << ordered[0][0].align
    archs = tuple(arch for arch, _ in ordered)
    # build_fat keeps the first slice's offset and places the rest after it, aligned
    header = FatHeader(
        False, (FatArch(archs[0].cputype, archs[0].cpusubtype, first_align, 0, archs[0].align), *archs[1:])
    )
    if any(len(image) >= 1 << 32 for _, image in ordered):
        header = FatHeader(True, header.archs)
    return build_fat(header, [image for _, image in ordered])
