"""dyld's search rules as data: how an install name becomes a file, for one load chain.

Order, as dyld applies it to a library install name: DYLD_LIBRARY_PATH (by leaf name), then the name
itself (absolute, ``@loader_path`` relative to the requesting image, ``@rpath`` through the LC_RPATHs
of the requester and of every image above it on the load chain, nearest first), then ``--lib-path``
(by leaf name), then DYLD_FALLBACK_LIBRARY_PATH (by leaf name). ``@executable_path`` is the Python
interpreter at run time, which a repair cannot know, so it is reported and never guessed. Libraries of
the OS (``/usr/lib``, ``/System/Library``) live in the shared cache and are never looked up on disk.
A candidate is accepted only if it holds every architecture of the requester's slices that need the
name (a fat file whose slices were linked apart may need a different library per slice). A relative
LC_RPATH is relative to the process's current directory, for dyld as for delocate: it is searched
there, with a warning, because a build tree's ``libs/`` is usually what it means.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import PurePosixPath

from ...model import Binary
from ..base import WHEEL_ROOT, Loaded, Resolution, SearchContext, in_wheel, normalize

log = logging.getLogger("wheelrepair")

SYSTEM_PREFIXES = ("/usr/lib/", "/System/Library/", "/System/iOSSupport/")
_EXECUTABLE = "@executable_path"
_LOADER = "@loader_path"
_RPATH = "@rpath"


def is_system(name: str) -> bool:
    return name.startswith(SYSTEM_PREFIXES)


def archs_needing(binary: Binary, name: str) -> frozenset[str]:
    """The architectures of ``binary`` whose slice loads ``name`` (all of them for a thin file, or
    when no slice names it)."""
    found = frozenset(s.archs[0] for s in binary.slices if name in s.needed)
    return found or frozenset(binary.archs)


class DyldResolver:
    def __init__(self, ctx: SearchContext) -> None:
        self.ctx = ctx
        self.library_path = _split(ctx.environ.get("DYLD_LIBRARY_PATH", ""))
        fallback = ctx.environ.get("DYLD_FALLBACK_LIBRARY_PATH")
        if fallback is None and ctx.use_host_config and sys.platform == "darwin":
            fallback = "/usr/local/lib"  # dyld's default besides /usr/lib (the shared cache)
        self.fallback_path = _split(fallback or "")

    def resolve(self, name: str, chain: Sequence[Loaded]) -> Resolution:
        requester = chain[-1]
        if is_system(name):
            return Resolution(None, ("provided by macOS (dyld shared cache)",))
        if name.startswith(_EXECUTABLE):
            return Resolution(None, ("@executable_path is the Python executable",))
        archs = archs_needing(requester.binary, name)
        refused: list[str] = []

        def accept(binary: Binary) -> bool:
            reason = _refusal(binary, archs)
            if reason is not None:
                refused.append(reason)
            return reason is None

        searched: list[str] = []
        leaf = name.rsplit("/", 1)[-1]
        for candidate in self._candidates(name, leaf, chain, searched):
            refused.clear()
            found = self.ctx.lookup(candidate, accept)
            if found is not None:
                return Resolution(found, (*searched, str(candidate)))
            # a file that is there but unusable is named with the reason, or the message would claim
            # the library was not found where it plainly is
            searched.append(f"{candidate} ({refused[-1]})" if refused else str(candidate))
        return Resolution(None, tuple(searched))

    def _candidates(
        self, name: str, leaf: str, chain: Sequence[Loaded], searched: list[str]
    ) -> list[PurePosixPath]:
        out = [PurePosixPath(d) / leaf for d in self.library_path]
        if name.startswith(_RPATH + "/"):
            rest = name[len(_RPATH) + 1 :]
            if not any(image.binary.rpaths for image in chain):
                searched.append("no LC_RPATH on the load chain")
            for image in reversed(chain):
                for entry in image.binary.rpaths:
                    directory = self.expand(entry, image)
                    if directory is None:
                        searched.append(f"{entry} (LC_RPATH of {image.path}: cannot be known)")
                    else:
                        out.append(directory / rest)
        elif name.startswith(_LOADER + "/"):
            out.append(chain[-1].path.parent / name[len(_LOADER) + 1 :])
        elif name.startswith("/"):
            out.append(PurePosixPath(name))
        out += [PurePosixPath(d) / leaf for d in self.ctx.lib_path]
        out += [PurePosixPath(d) / leaf for d in self.fallback_path]
        return out

    def expand(self, search_path: str, loader: Loaded) -> PurePosixPath | None:
        """The directory an LC_RPATH entry of ``loader`` names, or None when it depends on the
        executable. A relative entry names a directory under the current one."""
        if search_path == _LOADER or search_path.startswith(_LOADER + "/"):
            return normalize(PurePosixPath(str(loader.path.parent) + search_path[len(_LOADER) :]))
        if search_path.startswith("/"):
            return normalize(PurePosixPath(search_path))
        if search_path.startswith("@"):
            return None
        directory = normalize(PurePosixPath(os.getcwd()) / search_path)
        _warn_relative(search_path, _shown(loader.path), str(directory))
        return directory


def _refusal(binary: Binary, archs: frozenset[str]) -> str | None:
    """Why dyld would pass over ``binary`` for a requester holding ``archs`` (None: it would load it)."""
    if binary.format != "macho":
        return "not a Mach-O file"
    lacking = archs - frozenset(binary.archs)
    if lacking:
        # the minimums too: a thin library built for a newer macOS is often why the slice is missing
        held = " + ".join(
            f"{item.archs[0]} macOS {'.'.join(map(str, item.min_os))}" if item.min_os else item.archs[0]
            for item in (binary.slices or (binary,))
        )
        return f"holds {held}, not {' and '.join(sorted(lacking))}"
    return None


@cache
def _warn_relative(entry: str, image: str, directory: str) -> None:
    """Once per entry and image: the result depends on where the command runs."""
    log.warning(
        "%s: LC_RPATH %r is relative; dyld resolves it against the current directory, searched as %s",
        image,
        entry,
        directory,
    )


def _shown(path: PurePosixPath) -> str:
    return str(path.relative_to(WHEEL_ROOT)) if in_wheel(path) else str(path)


def _split(value: str) -> list[str]:
    return [p for p in value.split(":") if p]
