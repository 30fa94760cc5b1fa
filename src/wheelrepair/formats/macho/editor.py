"""Editing load commands (dependency names, install name, LC_RPATHs) inside the header padding.

The whole load command area is rebuilt: unchanged commands keep their bytes and order, changed ones are
re-encoded at their minimal size, deleted ones free their space, new LC_RPATHs go after the last
existing one. The result must end before the first section's contents; nothing else in the file moves,
so no offset elsewhere needs fixing. Signed images are signed again (ad hoc) after any change.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ...errors import EditError, InvalidBinary
from . import codesign
from .fat import build_fat, parse_fat
from .layout import (
    DEPENDENCY_COMMANDS,
    LC_CODE_SIGNATURE,
    LC_ID_DYLIB,
    LC_RPATH,
    MachOFormatError,
    SliceLayout,
    parse_slice,
)

#: Existing LC_RPATH entries (in order) -> the entries the image should have.
RpathPlan = Callable[[tuple[str, ...]], tuple[str, ...]]


@dataclass(frozen=True)
class CommandEdit:
    replace_needed: Mapping[str, str] = field(default_factory=dict)
    own_name: str | None = None
    rpaths: RpathPlan | None = None
    #: Code signing identifier when the image has neither an install name nor a signature to keep
    #: the identifier of (normally its file name).
    identifier: str = "a.out"


def edit_file(data: bytes, edit: CommandEdit, name: str) -> bytes | None:
    """``data`` (thin or fat) with ``edit`` applied to every slice, or None when nothing changes."""
    try:
        fat = parse_fat(data)
        if fat is None:
            return edit_image(data, edit, name)
        slices = [data[a.offset : a.offset + a.size] for a in fat.archs]
        edited = [edit_image(s, edit, f"{name} ({a.arch})") for s, a in zip(slices, fat.archs)]
    except MachOFormatError as err:
        raise InvalidBinary(f"malformed Mach-O file: {err}", subject=name) from None
    if all(e is None for e in edited):
        return None
    new = [s if e is None else e for s, e in zip(slices, edited)]
    if all(len(n) == a.size for n, a in zip(new, fat.archs)):
        out = bytearray(data)
        for arch, image in zip(fat.archs, new):
            out[arch.offset : arch.offset + arch.size] = image
        return bytes(out)
    return build_fat(fat, new)


def edit_image(image: bytes, edit: CommandEdit, name: str) -> bytes | None:
    """One thin image with ``edit`` applied (and re-signed if it was signed), or None if unchanged."""
    layout = parse_slice(image)
    commands = _edited_commands(layout, edit)
    if commands is None:
        return None
    total = sum(len(c) for c in commands)
    room = layout.data_start - layout.header.size
    if total > room:
        raise EditError(
            f"the edited load commands need {total - room} more bytes than the Mach-O header padding has "
            f"({layout.padding} bytes free); relink it with -headerpad_max_install_names",
            subject=name,
        )
    out = bytearray(image)
    out[: layout.header.size] = layout.header.pack(len(commands), total)
    end = max(layout.commands_end, layout.header.size + total)
    out[layout.header.size : end] = b"".join(commands).ljust(end - layout.header.size, b"\0")
    result = bytes(out)
    if layout.find(LC_CODE_SIGNATURE) is not None:
        try:
            result = codesign.sign(result, identifier(parse_slice(result), result, edit.identifier))
        except MachOFormatError as err:
            raise EditError(f"cannot sign the edited file: {err}", subject=name) from None
    return result


def identifier(layout: SliceLayout, image: bytes, fallback: str) -> str:
    """The code signing identifier: the install name's leaf, else the one the image is signed with,
    else ``fallback`` (the file name).

    A bundle keeps its identifier because the file being edited may be a scratch copy whose name is
    not the file's name in the wheel: the identifier must not depend on how a repair names copies."""
    command = layout.find(LC_ID_DYLIB)
    if command is not None:
        leaf = layout.string(command, 8).rsplit("/", 1)[-1]
        if leaf:
            return leaf
    return codesign.current_identifier(image) or fallback


def _edited_commands(layout: SliceLayout, edit: CommandEdit) -> list[bytes] | None:
    """The new load command list, or None when it equals the current one.

    LC_RPATHs stay where they are unless the set changes; then the wanted entries go, in order, where
    the first one was (after the last dependency when there was none), reusing the bytes of kept ones.
    Duplicates are dropped: dyld refuses to load an image with duplicate LC_RPATHs."""
    existing = [layout.string(c, 8) for c in layout.commands if c.cmd == LC_RPATH]
    wanted = list(dict.fromkeys(edit.rpaths(tuple(existing)))) if edit.rpaths is not None else existing
    in_place = wanted == existing
    kept_raw: dict[str, bytes] = {}
    out: list[bytes] = []
    anchor: int | None = None
    after_dependencies: int | None = None
    for command in layout.commands:
        raw = command.raw
        if command.cmd in DEPENDENCY_COMMANDS:
            current = layout.string(command, 8)
            new = edit.replace_needed.get(current, current)
            if new != current:
                raw = _dylib_command(layout, raw, new)
            after_dependencies = len(out) + 1
        elif command.cmd == LC_ID_DYLIB and edit.own_name is not None:
            if layout.string(command, 8) != edit.own_name:
                raw = _dylib_command(layout, raw, edit.own_name)
        elif command.cmd == LC_RPATH and not in_place:
            kept_raw.setdefault(layout.string(command, 8), raw)
            anchor = len(out) if anchor is None else anchor
            continue
        out.append(raw)
    if not in_place:
        position = anchor if anchor is not None else after_dependencies
        position = len(out) if position is None else position
        out[position:position] = [kept_raw.get(p) or _rpath_command(layout, p) for p in wanted]
    return None if out == [c.raw for c in layout.commands] else out


def _padded(layout: SliceLayout, fixed: bytes, text: str) -> bytes:
    body = fixed + text.encode("utf-8", "surrogateescape") + b"\0"
    align = layout.header.command_align
    size = -(-len(body) // align) * align
    return body.ljust(size, b"\0")


def _dylib_command(layout: SliceLayout, raw: bytes, name: str) -> bytes:
    """A dylib_command like ``raw`` (same type, timestamp and versions) naming ``name``."""
    e = layout.header.endian
    cmd, _size, _offset, timestamp, current, compat = struct.unpack_from(e + "6I", raw)
    body = _padded(layout, b"\0" * 24, name)
    return struct.pack(e + "6I", cmd, len(body), 24, timestamp, current, compat) + body[24:]


def _rpath_command(layout: SliceLayout, path: str) -> bytes:
    e = layout.header.endian
    body = _padded(layout, b"\0" * 12, path)
    return struct.pack(e + "3I", LC_RPATH, len(body), 12) + body[12:]
