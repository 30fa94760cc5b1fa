"""Where the Windows loader finds a DLL that an extension module imports, as CPython 3.8+ loads it.

Python loads an extension with ``LoadLibraryExW(path, LOAD_LIBRARY_SEARCH_DEFAULT_DIRS |
LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR)``. Those flags govern the whole load operation: the static (and
later delay-loaded) imports of the extension *and of every DLL loaded on its behalf* are searched in

1. the directory of the module passed to LoadLibraryExW (the chain's root), not the directory of the
   DLL that imports the name;
2. the directories added with ``os.add_dll_directory``: in a repaired wheel, the top-level ``*.libs``
   directories the loader patch adds (any such directory in the wheel counts as added), and the
   site-packages root when DLLs sit there (repair's place for DLLs of root-level extensions);
3. the application directory and System32: the interpreter's and the system's DLLs, which the
   platform provides (``system_dlls``) and which are not on disk on a non-Windows host.

Before searching, the loader reuses a module of the same base name already loaded on the chain. At
repair time the user's ``--lib-path`` directories are searched too, and PATH when the host is
Windows. Names match case-insensitively, as Windows file names do, and the architecture must match.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePosixPath

from ...model import Binary
from ..base import WHEEL_ROOT, Loaded, Location, Resolution, SearchContext

_Accept = Callable[[Binary], bool]


def dll_file_name(name: str) -> str:
    """The file name the loader looks for: a name without an extension gets ".dll"."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base if "." in base else base + ".dll"


class PEResolver:
    def __init__(self, ctx: SearchContext) -> None:
        self._ctx = ctx
        self._wheel_dirs: dict[str, dict[str, str]] = {}
        added: dict[str, None] = {}
        for rel in ctx.wheel_files:
            parent, _, base = rel.rpartition("/")
            self._wheel_dirs.setdefault(parent.casefold(), {}).setdefault(base.casefold(), rel)
            top = rel.split("/", 1)[0]
            if "/" in rel and top.casefold().endswith(".libs"):
                added.setdefault(top, None)
            elif not parent and base.casefold().endswith(".dll"):
                # DLLs at the site-packages root are where repair puts them for root-level
                # extensions; the loader patch of the wheel's packages adds that directory.
                added.setdefault("", None)
        # Directories of libraries other wheels provide: the loader patch adds each one it uses.
        for rel in ctx.providers:
            added.setdefault(rel.rpartition("/")[0], None)
        self._added = tuple(WHEEL_ROOT / d if d else WHEEL_ROOT for d in added)
        host_dirs = list(ctx.lib_path)
        if sys.platform == "win32":
            host_dirs += [d for d in ctx.environ.get("PATH", "").split(os.pathsep) if d]
        self._host_dirs = tuple(PurePosixPath(d) for d in host_dirs)
        self._listings: dict[str, Mapping[str, str]] = {}

    def resolve(self, name: str, chain: Sequence[Loaded]) -> Resolution:
        wanted = dll_file_name(name).casefold()
        archs = chain[-1].binary.archs

        def accept(binary: Binary) -> bool:
            return binary.format == "pe" and binary.archs == archs

        for loaded in chain[:-1]:
            if loaded.path.name.casefold() == wanted:
                found = self._ctx.lookup(loaded.path, accept)
                if found is not None:
                    return Resolution(found)
        searched: list[str] = []
        for directory in self._directories(chain):
            if str(directory) in searched:
                continue
            searched.append(str(directory))
            found = self._find_in(directory, wanted, accept)
            if found is not None:
                return Resolution(found, tuple(searched))
        return Resolution(None, tuple(searched))

    def expand(self, search_path: str, loader: Loaded) -> PurePosixPath | None:
        # PE files carry no search paths: the loader patch adds the libs directory at run time.
        return None

    def _directories(self, chain: Sequence[Loaded]) -> list[PurePosixPath]:
        load_dir = chain[0].path.parent
        # An extension module at the site-packages root has no package whose loader patch could
        # add directories before it is imported.
        added = () if load_dir == WHEEL_ROOT else self._added
        return [load_dir, *added, *self._host_dirs]

    def _find_in(self, directory: PurePosixPath, wanted: str, accept: _Accept) -> Location | None:
        if self._ctx.in_wheel(directory):
            rel = directory.relative_to(WHEEL_ROOT).as_posix()
            entry = self._wheel_dirs.get("" if rel == "." else rel.casefold(), {}).get(wanted)
            return None if entry is None else self._ctx.lookup(WHEEL_ROOT / entry, accept)
        actual = self._listing(str(directory)).get(wanted)
        return None if actual is None else self._ctx.lookup(directory / actual, accept)

    def _listing(self, directory: str) -> Mapping[str, str]:
        listing = self._listings.get(directory)
        if listing is None:
            try:
                names = sorted(os.listdir(directory))
            except OSError:
                names = []
            listing = {}
            for entry in names:
                listing.setdefault(entry.casefold(), entry)
            self._listings[directory] = listing
        return listing
