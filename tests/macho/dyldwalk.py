"""An independent check for tests: unpack a wheel as pip would install it and walk every Mach-O file's
dependencies by dyld's rules (load commands read by macholib), failing on anything that would not load."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from tests.macho import sigcheck

_MAGICS = {b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe"}
_SYSTEM = ("/usr/lib/", "/System/Library/")


def install(wheel: Path, dest: Path) -> list[Path]:
    """Extract ``wheel`` into ``dest`` in the installed layout; return its Mach-O files."""
    found = []
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.namelist():
            if member.endswith("/"):
                continue
            parts = member.split("/")
            if parts[0].endswith(".data") and len(parts) > 2 and parts[1] in ("platlib", "purelib"):
                parts = parts[2:]
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            data = zf.read(member)
            target.write_bytes(data)
            if data[:4] in _MAGICS:
                found.append(target)
    return found


class _Slices(dict[Path, dict[str, sigcheck.SliceInfo]]):
    """Each file's slices by architecture, read once per walk."""

    def __missing__(self, path: Path) -> dict[str, sigcheck.SliceInfo]:
        self[path] = {s.arch: s for s in sigcheck.commands(path)}
        return self[path]


def _expand(entry: str, owner: Path) -> Path | None:
    if entry.startswith("@loader_path"):
        return Path(os.path.normpath(str(owner.parent) + entry[len("@loader_path") :]))
    return Path(entry) if entry.startswith("/") else None


def unresolved(root: Path, binaries: list[Path]) -> list[str]:
    """Every (binary, needed name) dyld could not satisfy from inside ``root`` (weak ones excepted).

    dyld maps one slice of a fat file, so the walk runs once per architecture: a slice's names are
    looked up through the LC_RPATHs of the same architecture's slices up the chain, and what they
    find must hold that architecture."""
    slices = _Slices()
    problems: list[str] = []
    seen: set[tuple[str, Path, tuple[Path, ...]]] = set()
    stack: list[tuple[str, Path, tuple[Path, ...]]] = [
        (arch, b, (b,)) for b in binaries for arch in slices[b]
    ]
    while stack:
        arch, image, chain = stack.pop()
        if (arch, image, chain[:-1]) in seen or len(chain) > 16:
            continue
        seen.add((arch, image, chain[:-1]))
        info = slices[image][arch]
        for name in info.needed:
            if name.startswith(_SYSTEM):
                continue
            candidates: list[Path] = []
            if name.startswith("@rpath/"):
                for owner in reversed(chain):
                    owner_slice = slices[owner].get(arch)
                    for entry in owner_slice.rpaths if owner_slice else []:
                        directory = _expand(entry, owner)
                        if directory is not None:
                            candidates.append(directory / name[len("@rpath/") :])
            elif name.startswith("@loader_path/"):
                candidates.append(Path(os.path.normpath(image.parent / name[len("@loader_path/") :])))
            elif name.startswith("/"):
                candidates.append(Path(name))
            hit = next(
                (c for c in candidates if root in c.parents and c.is_file() and arch in slices[c]),
                None,
            )
            if hit is None:
                if name not in info.weak:
                    problems.append(f"{image.relative_to(root)}: {name}")
            elif hit not in chain:
                stack.append((arch, hit, (*chain, hit)))
    return sorted(set(problems))
