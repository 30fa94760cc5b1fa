"""The ELF backend: the Backend protocol for Linux binaries, joining reader, resolver and editor."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from ...model import Binary, BinaryEdit
from ..base import ByteSource, PatchRequest, SearchContext
from . import reader
from .resolver import ElfResolver


class ElfBackend:
    script_launcher: ClassVar[bool] = True
    format: ClassVar[str] = "elf"
    magics: ClassVar[tuple[bytes, ...]] = (reader.MAGIC,)
    lazy: ClassVar[bool] = True
    site_packages_only: ClassVar[bool] = False  # $ORIGIN/@loader_path reach the libs from anywhere

    def sniff(self, head: bytes) -> bool:
        return reader.sniff(head)

    def read(self, data: bytes | ByteSource, name: str) -> Binary:
        return reader.read_elf(data, name)

    def needed_extent(self, head: bytes) -> int | None:
        return reader.needed_extent(head)

    def resolver(self, ctx: SearchContext) -> ElfResolver:
        return ElfResolver(ctx)

    def library_filename(self, name: str, source: str, digest: str) -> str:
        base = posixpath.basename(name) or posixpath.basename(source)
        stem, suffix = split_soname(base)
        return f"{stem}-{digest}{suffix}"

    def needed_reference(self, filename: str, from_dir: str, libs_dir: str) -> str:
        # DT_NEEDED holds a bare name; the run path makes the loader find it.
        return filename

    def rewrite(self, path: Path, edit: BinaryEdit) -> None:
        from .editor import edit_elf, strip_elf

        # Strip first: the sections it drops lie before any segment a growing edit appends, so
        # stripping afterwards could not give their space back.
        if edit.strip:
            strip_elf(path)
        request = edit_request(edit, lambda: reader.read_elf(path.read_bytes(), str(path)))
        if request != PatchRequest():
            edit_elf(path, request)
        if edit.clear_exec_stack:
            from .stack import clear_exec_stack

            clear_exec_stack(path)

    def rewrite_bytes(self, data: bytes, name: str, edit: BinaryEdit, current: Binary | None = None) -> bytes:
        """``rewrite`` on a file held in memory: the edited bytes (``data`` itself when nothing
        changes). ``current`` is the file as already parsed (its search paths decide the new run
        path); None parses ``data``. Nothing to finalize: an ELF file carries no signature."""
        from .editor import edit_elf_bytes
        from .strip import strip_elf_bytes

        if edit.strip:
            data = strip_elf_bytes(data, name) or data
        known = current
        request = edit_request(edit, lambda: known or reader.read_elf(data, name))
        if request != PatchRequest():
            data = edit_elf_bytes(data, name, request) or data
        if edit.clear_exec_stack:
            from .stack import clear_exec_stack_bytes

            data = clear_exec_stack_bytes(data, name) or data
        return data

    def finalize(self, path: Path) -> None:
        return None

    def patch(self, path: Path, request: PatchRequest) -> None:
        from .editor import edit_elf

        # The editor touches only the dynamic segment and its tables; a file the reader refuses
        # elsewhere (notes, symbols) is refused here too, so an edited file always reads back.
        reader.read_elf(path.read_bytes(), str(path))
        edit_elf(path, request)

    def describe(self, data: bytes, name: str) -> Mapping[str, object]:
        from .editor import describe_elf

        return describe_elf(data, name)

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


def split_soname(name: str) -> tuple[str, str]:
    """Split a library file name where a hash can go: ``libfoo.so.1`` -> (``libfoo``, ``.so.1``).

    The ``.so`` marker wins (``libfoo.so``, ``libfoo.so.1.2``); otherwise the last extension
    (``libfoo.1.dylib``-style names become ``libfoo.1`` + ``.dylib``); a name without a dot keeps
    no suffix. A leading dot is never taken as the extension.
    """
    index = name.find(".so.")
    if index <= 0:
        index = len(name) - 3 if name.endswith(".so") and len(name) > 3 else -1
    if index <= 0:
        index = name.rfind(".")
    if index <= 0:
        return name, ""
    return name[:index], name[index:]


def edit_request(edit: BinaryEdit, current: Callable[[], Binary]) -> PatchRequest:
    """Translate a format-neutral edit into an ELF patch request.

    The run path becomes the kept raw entries followed by ``$ORIGIN``-relative entries for the new
    directories, each once, in order. With ``keep_search_paths`` None the file's existing entries are
    kept. It is written as DT_RUNPATH unless the file uses DT_RPATH alone, whose inheritance by
    dependencies the file may rely on; vendored names are unique, so neither LD_LIBRARY_PATH nor
    anything else can shadow them either way.

    A vendored library gets DT_RPATH ``$ORIGIN`` first, whatever it had (its build machine's paths
    are dropped, and DT_RUNPATH too, as auditwheel does): its vendored dependencies sit beside it, and
    a library that dlopens a sibling by bare name finds it there as well.

    With ``runpath_only`` (Android, whose loader ignores DT_RPATH) every run path is DT_RUNPATH.
    """
    set_rpath: tuple[str, ...] | None = None
    force_rpath = False
    if edit.vendored:
        own: dict[str, None] = {"$ORIGIN": None}
        for rel in edit.add_search_paths:
            rel = posixpath.normpath(rel) if rel else "."
            own.setdefault("$ORIGIN" if rel == "." else f"$ORIGIN/{rel}", None)
        set_rpath, force_rpath = tuple(own), not edit.runpath_only
    elif edit.add_search_paths or edit.keep_search_paths is not None:
        binary = current()
        keep = edit.keep_search_paths
        if keep is None:
            keep = binary.runpaths or binary.rpaths
        entries: dict[str, None] = dict.fromkeys(keep)
        for rel in edit.add_search_paths:
            rel = posixpath.normpath(rel) if rel else "."
            entries.setdefault("$ORIGIN" if rel == "." else f"$ORIGIN/{rel}", None)
        set_rpath = tuple(entries)
        force_rpath = bool(binary.rpaths) and not binary.runpaths and not edit.runpath_only
    return PatchRequest(
        replace_needed=tuple(edit.replace_needed.items()),
        remove_needed=edit.remove_needed,
        set_soname=edit.set_own_name,
        set_rpath=set_rpath,
        force_rpath=force_rpath,
    )
