"""The one ``--exclude`` model: shell globs matched against a dependency's needed name, its leaf name
and its resolved path, the same on every platform."""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class GlobSet:
    patterns: tuple[str, ...] = ()

    @classmethod
    def of(cls, patterns: Iterable[str]) -> GlobSet:
        return cls(tuple(p for p in patterns if p))

    def matches(self, name: str, path: str | None = None) -> bool:
        """True if a pattern matches ``name`` (as written, e.g. ``@rpath/libfoo.dylib``), its leaf
        name (``libfoo.dylib``), or the resolved ``path``. Matching is case-insensitive for names
        because Windows DLL names are."""
        if not self.patterns:
            return False  # the usual case, asked for every dependency of every binary
        candidates = {name, posixpath.basename(name), name.lower(), posixpath.basename(name).lower()}
        if path:
            candidates.add(path)
        return any(
            fnmatch.fnmatchcase(c, p) or fnmatch.fnmatchcase(c, p.lower())
            for p in self.patterns
            for c in candidates
        )

    def __bool__(self) -> bool:
        return bool(self.patterns)
