"""Content-derived names for vendored libraries: ``stem-<hash8>.ext``, stable across runs."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in bounded chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def name_digest(content_sha256: str, dependency_names: Iterable[str] = ()) -> str:
    """The 8 hex digits that go into a vendored library's name.

    They cover the library's content and the (already mangled) names of the vendored libraries it
    loads, so a library whose dependency changed gets a new name too, and two wheels that vendor
    different builds of one library never share a name at run time.
    """
    names = sorted(dependency_names)
    if not names:
        return content_sha256[:8]
    digest = hashlib.sha256(content_sha256.encode())
    for name in names:
        digest.update(b"\0" + name.encode())
    return digest.hexdigest()[:8]


def memoized_sha256() -> Callable[[str | Path], str]:
    """``file_sha256`` that hashes each file once per repair (naming and the SBOM both need the
    sources' digests; a vendored CUDA library is hundreds of MB)."""
    seen: dict[tuple[str, int, int], str] = {}

    def digest(path: str | Path) -> str:
        info = os.stat(path)
        key = (os.fspath(path), info.st_size, info.st_mtime_ns)
        if key not in seen:
            seen[key] = file_sha256(path)
        return seen[key]

    return digest
