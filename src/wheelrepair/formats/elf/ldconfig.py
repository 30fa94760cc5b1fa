"""The host's loader configuration: directories listed in ld.so.conf (glibc) or ld-musl-ARCH.path."""

from __future__ import annotations

import glob
import os
from functools import lru_cache

#: ``include`` nesting beyond this is a loop (ldconfig itself has no limit, but real configs are flat).
_MAX_DEPTH = 16


def _under(root: str, path: str) -> str:
    """``path`` (absolute in the target's view) as a path on this machine under ``root``."""
    if root in ("", "/"):
        return path
    return os.path.join(root, path.lstrip("/"))


def _parse(root: str, conf: str, depth: int, seen: set[str], out: list[str]) -> None:
    real = _under(root, conf)
    if depth > _MAX_DEPTH or real in seen:
        return
    seen.add(real)
    try:
        with open(real, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return
    base = os.path.dirname(conf)
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0] == "include":
            for pattern in words[1:]:
                if not pattern.startswith("/"):
                    pattern = os.path.join(base, pattern)
                # ldconfig expands includes with glob(3), which sorts its results.
                for match in sorted(glob.glob(_under(root, pattern))):
                    inner = "/" + os.path.relpath(match, root) if root not in ("", "/") else match
                    _parse(root, inner, depth + 1, seen, out)
        elif words[0] == "hwcap":
            continue
        else:
            # Old syntax allows "dir=TYPE" and several directories separated by ':' ',' or blanks.
            for entry in line.replace(",", " ").replace(":", " ").replace("\t", " ").split():
                entry = entry.split("=", 1)[0].rstrip("/") or "/"
                if entry.startswith("/") and entry not in out:
                    out.append(entry)


@lru_cache(maxsize=16)
def ld_so_conf_dirs(root: str = "/", conf: str = "/etc/ld.so.conf") -> tuple[str, ...]:
    """Directories named by ``conf`` and its includes, in file order, as absolute target paths."""
    out: list[str] = []
    _parse(root, conf, 0, set(), out)
    return tuple(out)


@lru_cache(maxsize=16)
def musl_path_dirs(root: str, musl_arch: str) -> tuple[str, ...] | None:
    """The directories of ``/etc/ld-musl-<arch>.path`` (None when the file does not exist)."""
    try:
        with open(_under(root, f"/etc/ld-musl-{musl_arch}.path"), encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    return tuple(e for e in text.replace("\n", ":").split(":") if e.startswith("/"))
