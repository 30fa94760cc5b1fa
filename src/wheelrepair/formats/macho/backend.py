"""The Mach-O backend: the seam between the core and the Mach-O reader, resolver, editor and signer.

Vendored libraries are referenced as ``@rpath/<file>`` and found through one ``LC_RPATH
@loader_path/<relative libs dir>`` per binary that needs them: the shortest names that work for any
load chain, so edits fit in tight header padding. A vendored library's own install name becomes
``@rpath/<file>`` too, which is what it would be had it been built for relocation.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from ...errors import EditError, InvalidBinary, NotRepairable, UsageError
from ...model import Binary, BinaryEdit
from ..base import PatchRequest, SearchContext
from . import codesign
from .editor import CommandEdit, edit_file, identifier
from .fat import FAT_MAGIC_BYTES, build_fat, is_fat, parse_fat
from .fuse import FuseError, fuse
from .layout import (
    KNOWN_CPU_TYPES,
    LC_CODE_SIGNATURE,
    LOADABLE_FILETYPES,
    MAGIC_BYTES,
    MachOFormatError,
    parse_slice,
    read_header,
)
from .reader import read_macho
from .resolver import DyldResolver

_LOADER = "@loader_path"


class MachOBackend:
    script_launcher: ClassVar[bool] = True
    format: ClassVar[str] = "macho"
    magics: ClassVar[tuple[bytes, ...]] = MAGIC_BYTES + FAT_MAGIC_BYTES
    lazy: ClassVar[bool] = False
    site_packages_only: ClassVar[bool] = False  # $ORIGIN/@loader_path reach the libs from anywhere

    def sniff(self, head: bytes) -> bool:
        if is_fat(head):
            return True
        try:
            header = read_header(head)
        except MachOFormatError:
            return False
        return header.filetype in LOADABLE_FILETYPES and header.cputype in KNOWN_CPU_TYPES

    def read(self, data: bytes, name: str) -> Binary:
        return read_macho(data, name)

    def resolver(self, ctx: SearchContext) -> DyldResolver:
        return DyldResolver(ctx)

    def rewrite(self, path: Path, edit: BinaryEdit) -> None:
        adds = tuple(loader_relative(rel) for rel in edit.add_search_paths)
        keep = edit.keep_search_paths

        def plan(existing: tuple[str, ...]) -> tuple[str, ...]:
            kept = existing if keep is None else tuple(p for p in existing if p in keep or p in adds)
            return kept + tuple(p for p in adds if p not in kept)

        own = edit.set_own_name
        if own is not None and not own.startswith(("@", "/")):
            own = "@rpath/" + own
        _apply(path, CommandEdit(dict(edit.replace_needed), own, plan, path.name))

    def finalize(self, path: Path) -> None:
        """Sign again every signed slice whose signature no longer matches its contents."""
        data = path.read_bytes()
        try:
            new = _resign(data, path.name)
        except MachOFormatError as err:
            raise InvalidBinary(f"malformed Mach-O file: {err}", subject=path.name) from None
        if new is not data:
            _write(path, new)

    def patch(self, path: Path, request: PatchRequest) -> None:
        for field, value in (
            ("--add-needed", request.add_needed),
            ("--remove-needed", request.remove_needed),
            ("--force-rpath", request.force_rpath),
        ):
            if value:
                raise UsageError(f"{field} is not supported for Mach-O", subject=path.name)
        current = read_macho(path.read_bytes(), path.name)
        for entry in request.delete_rpath:
            if entry not in current.rpaths:
                raise UsageError(f"no LC_RPATH {entry!r} to delete", subject=path.name)
        if request.set_soname is not None and current.soname is None:
            raise UsageError(
                "has no install name to set (only dylibs have an LC_ID_DYLIB)", subject=path.name
            )

        def plan(existing: tuple[str, ...]) -> tuple[str, ...]:
            base = () if request.remove_rpath else existing
            if request.set_rpath is not None:
                base = request.set_rpath
            base = tuple(p for p in base if p not in request.delete_rpath)
            return base + tuple(p for p in request.add_rpath if p not in base)

        _apply(path, CommandEdit(dict(request.replace_needed), request.set_soname, plan, path.name))

    def describe(self, data: bytes, name: str) -> Mapping[str, object]:
        binary = read_macho(data, name)
        return {
            "install_name": binary.soname,
            "needed": list(binary.needed),
            "weak": sorted(binary.weak),
            "rpaths": list(binary.rpaths),
            "archs": list(binary.archs),
            "min_os": {s.archs[0]: _version(s.min_os) for s in (binary.slices or (binary,))},
            "signed": binary.signed,
        }

    def fuse(self, first: bytes, second: bytes, name: str) -> bytes:
        try:
            return fuse(first, second)
        except FuseError as err:
            raise NotRepairable(str(err), subject=name) from None

    def library_filename(self, name: str, source: str, digest: str) -> str:
        leaf = name.rsplit("/", 1)[-1] or os.path.basename(source)
        stem, dot, ext = leaf.rpartition(".")
        if not dot:
            stem, ext = leaf, ""
        if stem.endswith("-" + digest):
            return leaf
        return f"{stem}-{digest}.{ext}" if ext else f"{stem}-{digest}"

    def needed_reference(self, filename: str, from_dir: str, libs_dir: str) -> str:
        return "@rpath/" + filename

    def libs_dir(self, default: str, users: Sequence[str], members: Sequence[str]) -> str:
        return default  # binaries reach any directory through their search paths

    def extra_libs_dirs(self, libs_dir: str, users: Sequence[str], members: Sequence[str]) -> tuple[str, ...]:
        return ()  # one copy serves every binary through its search paths

    def support_files(
        self,
        libs_dir: str,
        vendored: Sequence[str],
        users: Sequence[str],
        members: Sequence[str],
        read_member: Callable[[str], bytes],
        provided: Sequence[tuple[str, str]] = (),
    ) -> Mapping[str, bytes]:
        return {}


def loader_relative(rel: str) -> str:
    """An LC_RPATH naming ``rel`` (a directory relative to the binary)."""
    rel = rel.strip("/")
    return f"{_LOADER}/" if rel in ("", ".") else f"{_LOADER}/{rel}"


def _version(value: tuple[int, ...] | None) -> str | None:
    return None if value is None else ".".join(map(str, value))


def _apply(path: Path, edit: CommandEdit) -> None:
    new = edit_file(path.read_bytes(), edit, path.name)
    if new is not None:
        _write(path, new)


def _resign(data: bytes, name: str) -> bytes:
    """``data`` with stale signatures replaced; the very same object when every signature holds."""
    fat = parse_fat(data)
    if fat is None:
        return _resign_image(data, name)
    slices = [data[a.offset : a.offset + a.size] for a in fat.archs]
    signed = [_resign_image(image, f"{name} ({a.arch})") for image, a in zip(slices, fat.archs)]
    if all(new is old for new, old in zip(signed, slices)):
        return data
    return build_fat(fat, signed)


def _resign_image(image: bytes, name: str) -> bytes:
    layout = parse_slice(image)
    if layout.find(LC_CODE_SIGNATURE) is None or codesign.signature_valid(image):
        return image
    try:
        return codesign.sign(image, identifier(layout, image, name.split(" (")[0]))
    except MachOFormatError as err:
        raise EditError(f"cannot sign: {err}", subject=name) from None


def _write(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically, keeping its permissions: never a half-written binary."""
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
