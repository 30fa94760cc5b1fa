"""How big a wheel is and will be: its size, the bytes repair adds, and identical copies inside it.

Identical copies are found from RECORD's hashes, so the report costs no decompression. The usual
case is a versioned shared library whose symlinks were materialized into full copies when the wheel
was built (``libfoo.so``, ``libfoo.so.1``, ``libfoo.so.1.2.3``: zip has no symlinks); ``--dedupe``
keeps the copies some binary loads and drops the others.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..model import Action, DependencyGraph
from ..wheel.archive import WheelArchive

#: PyPI refuses larger files unless the project was granted a higher limit (warehouse's default).
PYPI_LIMIT = 100 * 1024 * 1024
#: Smaller identical files (empty ``__init__.py``, license texts) are not worth reporting.
MIN_COPY_SIZE = 4096
_VERSION_PART = re.compile(r"\.\d+(?=\.|$)")


@dataclass(frozen=True)
class Copies:
    """Members with the same content, in zip order."""

    members: tuple[str, ...]
    size: int
    #: The copies some binary of the wheel loads (by the dependency graph).
    loaded: tuple[str, ...]

    @property
    def wasted(self) -> int:
        return self.size * (len(self.members) - 1)


def identical_copies(archive: WheelArchive, graph: DependencyGraph) -> list[Copies]:
    """Groups of members of at least MIN_COPY_SIZE bytes whose RECORD hash and size agree."""
    groups: dict[tuple[str, int], list[str]] = {}
    sizes = archive.sizes
    for member, (digest, _) in archive.record().items():
        size = sizes.get(member, 0)
        if digest is None or size < MIN_COPY_SIZE:
            continue
        groups.setdefault((digest, size), []).append(member)
    used = {e.path for e in graph.edges if e.action is Action.IN_WHEEL and e.path is not None}
    return [
        Copies(tuple(members), size, tuple(m for m in members if m in used))
        for (_, size), members in groups.items()
        if len(members) > 1
    ]


def _family(member: str) -> tuple[str, str]:
    """(directory, name without version numbers): ``libfoo.so.1.2`` and ``libfoo.1.dylib`` lose theirs."""
    directory, name = posixpath.split(member)
    return directory, _VERSION_PART.sub("", name)


def droppable(copies: Sequence[Copies], binaries: Mapping[str, str | None]) -> list[tuple[str, str]]:
    """(copy to drop, copy kept) for ``--dedupe``. Only versioned aliases of one library in one
    directory are candidates: other identical files (two extension modules, data) are imported or
    opened by their own names. Kept are the copies binaries load and, when none does, the one named
    by the library's own soname/install name (``binaries``: member -> that name); a group with no
    such copy is left alone."""
    drops: list[tuple[str, str]] = []
    for group in copies:
        if len({_family(m) for m in group.members}) != 1 or not all(m in binaries for m in group.members):
            continue
        keep = list(group.loaded) or [
            m for m in group.members if binaries[m] and posixpath.basename(m) == binaries[m]
        ]
        if not keep:
            continue
        drops += [(m, keep[0]) for m in group.members if m not in keep]
    return drops


def dedupe(archive: WheelArchive, graph: DependencyGraph) -> list[tuple[str, str]]:
    """What ``repair --dedupe`` drops: (member, the identical copy that stays)."""
    names = {
        key: posixpath.basename(node.binary.soname) if node.binary.soname else None
        for key, node in graph.nodes.items()
        if key in graph.roots
    }
    return droppable(identical_copies(archive, graph), names)


def vendored_bytes(graph: DependencyGraph) -> int:
    """Uncompressed bytes of the libraries repair would copy into the wheel."""
    return sum(graph.nodes[path].size for path in graph.vendored if path in graph.nodes)


def size_report(archive: WheelArchive, graph: DependencyGraph) -> dict[str, Any]:
    """The ``size`` object of show's JSON (docs/json.md)."""
    wheel = archive.path.stat().st_size
    added = vendored_bytes(graph)
    present = set(archive.members)
    binaries = [m for m in graph.roots if m in present]
    unpacked = sum(archive.size(m) for m in binaries)
    packed = sum(archive.zipinfo(m).compress_size for m in binaries)
    # Vendored libraries compress about as well as the wheel's own binaries do.
    ratio = packed / unpacked if unpacked else 0.4
    estimate = wheel + int(added * ratio)
    copies = identical_copies(archive, graph)
    return {
        "wheel": wheel,
        "unpacked": archive.total_size,
        "added": added,
        "estimated_output": estimate,
        "pypi_limit": PYPI_LIMIT,
        "over_pypi_limit": estimate > PYPI_LIMIT,
        "copies": [
            {"members": list(c.members), "size": c.size, "wasted": c.wasted, "loaded": list(c.loaded)}
            for c in copies
        ],
        "wasted": sum(c.wasted for c in copies),
    }
