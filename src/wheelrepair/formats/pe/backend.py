"""The PE backend: Windows DLLs and extension modules (.pyd), read, resolved and edited in Python."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from ...errors import UsageError
from ...model import Binary, BinaryEdit
from ..base import PatchRequest, SearchContext
from . import loader
from .editor import rewrite_file
from .reader import read_binary
from .resolver import PEResolver, dll_file_name

log = logging.getLogger("wheelrepair")

# e_lfanew beyond this is not a PE header but a DOS program's or a data file's bytes.
_MAX_LFANEW = 1 << 20


class PEBackend:
    script_launcher: ClassVar[bool] = False
    format: ClassVar[str] = "pe"
    magics: ClassVar[tuple[bytes, ...]] = (b"MZ",)
    lazy: ClassVar[bool] = False
    #: A PE file carries no search paths: one installed outside site-packages (``.data/data``,
    #: ``.data/scripts``) can never be pointed at vendored DLLs, and nothing imports it as an
    #: extension. Like delvewheel, such files are data.
    site_packages_only: ClassVar[bool] = True

    def sniff(self, head: bytes) -> bool:
        if len(head) < 0x40 or head[:2] != b"MZ":
            return False
        e_lfanew = int.from_bytes(head[0x3C:0x40], "little")
        return 0x40 <= e_lfanew <= _MAX_LFANEW

    def read(self, data: bytes, name: str) -> Binary:
        return read_binary(data, name)

    def resolver(self, ctx: SearchContext) -> PEResolver:
        return PEResolver(ctx)

    def rewrite(self, path: Path, edit: BinaryEdit) -> None:
        # PE files carry no search paths (the loader patch adds the libs directory) and the loader
        # ignores a DLL's export name, so only the imported names change; and a DependentLoadFlags
        # that would hide the libs directory is cleared, even when no name changes.
        rewrite_file(path, edit.replace_needed)

    def finalize(self, path: Path) -> None:
        return None

    def patch(self, path: Path, request: PatchRequest) -> None:
        for option, value in (
            ("--add-needed", request.add_needed),
            ("--remove-needed", request.remove_needed),
            ("--set-soname", request.set_soname),
            ("--set-rpath", request.set_rpath),
            ("--add-rpath", request.add_rpath),
            ("--delete-rpath", request.delete_rpath),
            ("--remove-rpath", request.remove_rpath),
            ("--force-rpath", request.force_rpath),
        ):
            if value:
                raise UsageError(f"{option} is not supported for PE", subject=path.name)
        if not request.replace_needed:
            return
        imported = {n.casefold() for n in read_binary(path.read_bytes(), path.name).needed}
        for old, _new in request.replace_needed:
            if old.casefold() not in imported:
                log.warning("%s: does not import %s; nothing to replace", path.name, old)
        rewrite_file(path, dict(request.replace_needed))

    def describe(self, data: bytes, name: str) -> Mapping[str, object]:
        binary = read_binary(data, name)
        version = binary.linker_version
        return {
            "needed": list(binary.needed),
            "delay_needed": list(binary.delay_needed),
            "arch": binary.arch,
            "export_name": binary.soname,
            "linker_version": f"{version[0]}.{version[1]}" if version else None,
        }

    def library_filename(self, name: str, source: str, digest: str) -> str:
        stem, ext = os.path.splitext(dll_file_name(name))
        if stem.endswith("-" + digest):
            return stem + ext
        return f"{stem}-{digest}{ext}"

    def needed_reference(self, filename: str, from_dir: str, libs_dir: str) -> str:
        return filename

    def support_files(
        self,
        libs_dir: str,
        vendored: Sequence[str],
        users: Sequence[str],
        members: Sequence[str],
        read_member: Callable[[str], bytes],
        provided: Sequence[tuple[str, str]] = (),
    ) -> Mapping[str, bytes]:
        return loader.support_files(libs_dir, vendored, users, members, read_member, provided)

    def extra_libs_dirs(self, libs_dir: str, users: Sequence[str], members: Sequence[str]) -> tuple[str, ...]:
        return loader.extra_libs_dirs(libs_dir, users, members)

    def libs_dir(self, default: str, users: Sequence[str], members: Sequence[str]) -> str:
        """Where vendored DLLs must go (see ``loader.libs_dir_for``): the core's hook for extensions
        that no package ``__init__.py`` runs before."""
        return loader.libs_dir_for(default, users, members)
