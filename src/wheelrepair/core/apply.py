"""Carry out a plan's binary edits: every edited member and vendored library read, edited, and
handed to the writer, with the files the plan adds.

A backend that edits in memory (``MemoryEditor``: ELF) gets each file up to ``IN_MEMORY_MAX`` bytes
as bytes, largest first, and each edited file goes straight to a ``DeflateAhead`` pool: the largest
compression (scipy's 25 MB OpenBLAS) starts first and runs beside the editing of the others, and
nothing is written to a scratch file and read back. The edited bytes are parsed here too, while the
pool compresses, so the output's check reads them without a second pass. Past ``IN_MEMORY_BUDGET``
bytes held at once, and for other backends (Mach-O signs a file on disk), files go through a scratch
file and the backend's ``rewrite``/``finalize`` as before.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import malformed_binary
from ..formats.base import Backend, MemoryEditor
from ..model import Binary, RepairPlan
from ..wheel.archive import WheelArchive
from ..wheel.writer import Content, DeflateAhead, Deflated

#: Files at most this large are edited in memory (a larger one streams through a scratch file, so
#: memory stays bounded by this, not by the largest library: torch's 434 MB libtorch_cpu.so).
IN_MEMORY_MAX = 32 << 20
#: At most this many bytes of files edited in memory are held at once (each until it is written).
IN_MEMORY_BUDGET = 64 << 20


@dataclass
class Applied:
    replace: dict[str, Content] = field(default_factory=dict)
    add: dict[str, Content] = field(default_factory=dict)
    #: Members edited in memory, parsed from exactly the bytes handed to the writer.
    parsed: dict[str, Binary] = field(default_factory=dict)

    def digests(self) -> Mapping[str, str]:
        """sha256 hex digests the compression pool computes (members edited in memory), each
        waited for only when asked for."""
        return _Digests({m: c for m, c in {**self.replace, **self.add}.items() if isinstance(c, Deflated)})


class _Digests(Mapping[str, str]):
    def __init__(self, contents: Mapping[str, Deflated]) -> None:
        self._contents = contents

    def __getitem__(self, member: str) -> str:
        return self._contents[member].sha256_hex()

    def __iter__(self) -> Iterator[str]:
        return iter(self._contents)

    def __len__(self) -> int:
        return len(self._contents)


def apply_plan(
    plan: RepairPlan,
    archive: WheelArchive,
    backend: Backend,
    scratch: Path,
    ahead: DeflateAhead,
    current: Callable[[str], Binary | None] = lambda _: None,
) -> Applied:
    """Edit every file the plan edits; ``current(target)`` is the file as the scan parsed it (or None)."""
    applied = Applied()
    sources = {v.dest: v.source for v in plan.vendored}
    editor = backend if isinstance(backend, MemoryEditor) else None

    def size_of(target: str) -> int:
        return os.path.getsize(sources[target]) if target in sources else archive.size(target)

    # Largest first: its compression, the longest, starts first.
    targets = sorted(plan.edits, key=lambda t: (-size_of(t), t))
    held = 0
    for index, target in enumerate(targets):
        edit = plan.edits[target]
        dest = applied.add if target in sources else applied.replace
        size = size_of(target)
        if editor is not None and size <= IN_MEMORY_MAX and held + size <= IN_MEMORY_BUDGET:
            held += size
            data = _read(sources[target]) if target in sources else archive.read(target)
            where = f"{archive.metadata.filename}: {target}"
            with malformed_binary(where):
                if not edit.is_empty:
                    data = editor.rewrite_bytes(data, target, edit, current(target))
                deflated = ahead.deflate(data)
            if backend.sniff(data[:64]):
                with malformed_binary(where):
                    applied.parsed[target] = backend.read(data, target)
            dest[target] = deflated
            continue
        work = scratch / f"{index}-{os.path.basename(target)}"
        if target in sources:
            shutil.copyfile(sources[target], work)
        else:
            archive.extract(target, work)
        if not edit.is_empty:
            with malformed_binary(f"{archive.metadata.filename}: {target}"):
                backend.rewrite(work, edit)
                backend.finalize(work)
        dest[target] = work
    for vendored in plan.vendored:
        applied.add.setdefault(vendored.dest, Path(vendored.source))
    for directory in plan.copy_dirs:
        for vendored in plan.vendored:
            applied.add[posixpath.join(directory, posixpath.basename(vendored.dest))] = applied.add[vendored.dest]
    for member, content in plan.files.items():
        (applied.replace if member in archive.members else applied.add)[member] = content
    return applied


def _read(path: str) -> bytes:
    with open(path, "rb") as stream:
        return stream.read()
