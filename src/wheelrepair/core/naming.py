"""Content-derived names for vendored libraries: ``stem-<hash8>.ext``, stable across runs."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
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


def memoized_sha256(ahead: HashAhead | None = None) -> Callable[[str | Path], str]:
    """``file_sha256`` that hashes each file once per repair (naming and the SBOM both need the
    sources' digests; a vendored CUDA library is hundreds of MB), taking what ``ahead`` already
    hashed in the background."""
    seen: dict[tuple[str, int, int], str] = {}

    def digest(path: str | Path) -> str:
        info = os.stat(path)
        key = (os.fspath(path), info.st_size, info.st_mtime_ns)
        if key not in seen:
            early = ahead.digest(path) if ahead is not None else None
            seen[key] = early if early is not None else file_sha256(path)
        return seen[key]

    return digest


class HashAhead:
    """Hashes files on a background thread as soon as they are named (``start``): the host
    libraries a repair's walk parses, some of which it will vendor and name by their digest. The
    walk is single-threaded Python, so the hashing uses a core that would otherwise wait."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[tuple[str, int, int], Future[str]] = {}
        self._lock = threading.Lock()

    def start(self, path: str | Path) -> None:
        try:
            key = _identity(path)
        except OSError:
            return  # the reader reports it, or hashing it later does
        with self._lock:
            if key in self._futures:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1)
            self._futures[key] = self._pool.submit(file_sha256, key[0])

    def digest(self, path: str | Path) -> str | None:
        """The digest of ``path`` as it is now, if it was hashed ahead (None: hash it yourself)."""
        try:
            key = _identity(path)
        except OSError:
            return None
        with self._lock:
            future = self._futures.get(key)
        if future is None:
            return None
        try:
            return future.result()
        except OSError:
            return None

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> HashAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _identity(path: str | Path) -> tuple[str, int, int]:
    real = os.path.realpath(path)
    info = os.stat(real)
    return real, info.st_size, info.st_mtime_ns
