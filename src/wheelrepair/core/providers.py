"""Libraries other wheels provide (``--provider``): reading a provider as it will be installed, and
answering which of its libraries can serve a binary of the wheel under repair.

A provider is a wheel file or an installed distribution. Its binaries are read exactly like the
wheel's own and placed under the same virtual site-packages root (``formats.base.WHEEL_ROOT``), so
the loaders' rules reach them with no new rule; what reaches them is ``provided``, never vendored.
A library that the rules do not reach is still taken from the provider when its name matches, and
planning adds a search path from the binary to the provider's directory.
"""

from __future__ import annotations

import mmap
import os
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, cast

from packaging.utils import canonicalize_name

from ..errors import InvalidBinary, UsageError, WheelRepairError
from ..formats import backend_for
from ..formats.base import WHEEL_ROOT, Location
from ..model import Action, Binary, DependencyGraph
from ..policy import platform_name
from ..wheel.archive import WheelArchive
from ..wheel.metadata import parse_wheel_file
from ..wheel.requires import compatible_requirement, name_and_version, requirement_problem
from .scan import scan_wheel, wheel_format

if TYPE_CHECKING:
    # Imported where an installed provider is looked up: it costs ~20 ms at every start otherwise.
    from importlib import metadata as importlib_metadata


@dataclass(frozen=True)
class ProviderFile:
    #: Where the file lands, relative to site-packages.
    installed: str
    binary: Binary
    size: int


@dataclass(frozen=True)
class Provider:
    """One distribution whose libraries the wheel links to instead of vendoring them."""

    name: str
    version: str
    #: The wheel file, or the installed distribution's metadata directory.
    source: str
    format: str | None
    files: tuple[ProviderFile, ...]


def load_providers(specs: Sequence[str], provider_path: Sequence[str]) -> tuple[Provider, ...]:
    return tuple(load_provider(spec, tuple(provider_path)) for spec in specs)


@lru_cache(maxsize=64)
def load_provider(spec: str, provider_path: tuple[str, ...] = ()) -> Provider:
    """Read ``spec``: a wheel file, else a distribution installed under one of ``provider_path``
    (site-packages directories), else one installed in the running environment."""
    if spec.endswith(".whl") or os.path.isfile(spec):
        return _from_wheel(Path(spec))
    dist = _find_distribution(spec, provider_path)
    if dist is None:
        where = ", ".join(provider_path) if provider_path else "the running environment"
        raise UsageError(
            f"--provider {spec}: not a wheel file, and no distribution of that name is installed in {where}"
        )
    return _from_installed(spec, dist)


def _from_wheel(path: Path) -> Provider:
    if not path.is_file():
        raise UsageError(f"--provider {path}: no such wheel file")
    try:
        with WheelArchive.open(path) as archive:
            fmt, scanned = scan_wheel(archive)
            meta = archive.metadata
            text = archive.read(f"{meta.dist_info}/METADATA").decode("utf-8", "replace")
    except WheelRepairError as err:
        raise UsageError(f"--provider {path}: {err}") from None
    except KeyError:
        raise UsageError(f"--provider {path}: the wheel has no METADATA") from None
    name, version = name_and_version(text)
    files = tuple(ProviderFile(s.installed, s.binary, s.size) for s in scanned if s.installed is not None)
    return Provider(name or meta.name, version or meta.version, str(path), fmt, files)


def _find_distribution(spec: str, provider_path: tuple[str, ...]) -> importlib_metadata.Distribution | None:
    from importlib import metadata as importlib_metadata

    wanted = canonicalize_name(spec)
    for directory in provider_path:
        for dist in importlib_metadata.distributions(path=[os.path.abspath(directory)]):
            if canonicalize_name(dist.metadata["Name"] or "") == wanted:
                return dist
    if provider_path:
        return None  # --provider-path names where providers are installed: only there
    try:
        return importlib_metadata.distribution(spec)
    except importlib_metadata.PackageNotFoundError:
        return None


def _from_installed(spec: str, dist: importlib_metadata.Distribution) -> Provider:
    found: list[tuple[str, str, Binary, int]] = []
    for entry in dist.files or ():
        installed = entry.as_posix()
        if installed.startswith("../") or installed.startswith("/"):
            continue  # scripts and data outside site-packages
        full = Path(str(dist.locate_file(entry)))
        try:
            parsed = _read_installed(full)
        except (OSError, InvalidBinary):
            continue
        if parsed is not None:
            found.append((installed, *parsed))
    tags: tuple[str, ...] = ()
    wheel_text = dist.read_text("WHEEL")
    if wheel_text:
        try:
            tags = tuple(t.split("-")[-1] for t in parse_wheel_file(wheel_text)[0])
        except ValueError:
            tags = ()
    fmt = wheel_format(tags, [f for _, f, _, _ in found])
    files = tuple(ProviderFile(i, b, size) for i, f, b, size in found if f == fmt)
    name = dist.metadata["Name"] or spec
    source = str(getattr(dist, "_path", "")) or name
    return Provider(name, dist.version, source, fmt, files)


def _read_installed(path: Path) -> tuple[str, Binary, int] | None:
    """(format, Binary, size) of an installed file, None when it is not a binary. A lazy backend
    reads a memory map, so a 500 MB library costs the pages its headers sit on, not 500 MB."""
    with open(path, "rb") as fh:
        head = fh.read(64)
        backend = backend_for(head) if len(head) >= 16 else None
        if backend is None:
            return None
        size = os.fstat(fh.fileno()).st_size
        if backend.lazy and size:
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
                # A lazy backend's ``read`` takes any ByteSource (see Backend.lazy); mmap is one.
                return backend.format, backend.read(cast(bytes, view), str(path)), size
        fh.seek(0)
        return backend.format, backend.read(fh.read(), str(path)), size


@dataclass
class ProviderIndex:
    """The providers' binaries as the resolvers and the walk see them, for one binary format."""

    providers: tuple[Provider, ...] = ()
    #: Installed path -> (node key, Binary), to merge into ``SearchContext.wheel_files``.
    wheel_files: dict[str, tuple[str, Binary]] = field(default_factory=dict)
    #: Installed path -> provider name (``SearchContext.providers``).
    owners: dict[str, str] = field(default_factory=dict)
    _sizes: dict[str, int] = field(default_factory=dict)
    _by_leaf: dict[str, list[Location]] = field(default_factory=dict)
    _by_folded: dict[str, list[Location]] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> ProviderIndex:
        return cls()

    @classmethod
    def build(cls, providers: Sequence[Provider], fmt: str, own: Iterable[str] = ()) -> ProviderIndex:
        """Index ``providers`` for a wheel of format ``fmt`` whose own files install to ``own``
        (which win: the same path from two wheels is the wheel's own file once installed)."""
        index = cls(tuple(providers))
        taken = set(own)
        for provider in providers:
            if provider.format is None or not provider.files:
                raise UsageError(f"--provider {provider.source}: ships no binaries to link to")
            if provider.format != fmt:
                raise UsageError(
                    f"--provider {provider.source}: holds {platform_name(provider.format)} binaries, "
                    f"but the wheel is for {platform_name(fmt)}"
                )
            for item in provider.files:
                if item.installed in taken:
                    continue
                taken.add(item.installed)
                index.wheel_files[item.installed] = (item.installed, item.binary)
                index.owners[item.installed] = provider.name
                index._sizes[item.installed] = item.size
                location = Location(
                    item.installed, WHEEL_ROOT / item.installed, True, item.binary, provider.name
                )
                leaf = posixpath.basename(item.installed)
                index._by_leaf.setdefault(leaf, []).append(location)
                index._by_folded.setdefault(leaf.casefold(), []).append(location)
        return index

    def __bool__(self) -> bool:
        return bool(self.wheel_files)

    def size(self, key: str) -> int:
        return self._sizes.get(key, 0)

    def named(self, name: str) -> Provider | None:
        return next((p for p in self.providers if p.name == name), None)

    def directories(self) -> tuple[PurePosixPath, ...]:
        return tuple(dict.fromkeys(WHEEL_ROOT / posixpath.dirname(p) for p in self.owners))

    def refusal(self, name: str, requester: Binary, location: Location) -> str | None:
        """Why the provider's file at ``location`` cannot serve ``requester``'s need ``name``."""
        binary = location.binary
        who = f"{location.provider}'s {location.key}"
        if binary.format != requester.format:
            return f"{who} not used: it is not a {requester.format} file"
        lacking = set(requester.archs) - set(binary.archs)
        if lacking:
            return f"{who} not used: it is {binary.arch}, the binary needs {'+'.join(sorted(lacking))}"
        wanted = requester.symbol_versions.get(name, frozenset())
        if wanted and binary.defined_versions:
            missing = sorted(wanted - binary.defined_versions)
            if missing:
                return (
                    f"{who} not used: it lacks symbol version {', '.join(missing)} "
                    f"(it defines {', '.join(sorted(binary.defined_versions))})"
                )
        return None

    def by_name(self, name: str, requester: Binary) -> tuple[Location | None, str | None]:
        """The provider library whose file name is ``name``'s, if one can serve ``requester``; else
        None and why the candidates were not used (None when there was no candidate)."""
        leaf = posixpath.basename(name.replace("\\", "/"))
        candidates = self._by_leaf.get(leaf) or self._by_folded.get(leaf.casefold(), [])
        notes: list[str] = []
        for candidate in candidates:
            refusal = self.refusal(name, requester, candidate)
            if refusal is None:
                return candidate, None
            notes.append(refusal)
        return None, "; ".join(notes) or None


def used_providers(graph: DependencyGraph, index: ProviderIndex) -> dict[str, list[str]]:
    """Provider name -> the library names the wheel takes from it (first-seen order)."""
    used: dict[str, list[str]] = {}
    for edge in graph.edges:
        if edge.action is Action.PROVIDED and edge.provider is not None:
            names = used.setdefault(edge.provider, [])
            if edge.name not in names:
                names.append(edge.name)
    return {name: libs for name, libs in used.items() if index.named(name) is not None}


@dataclass(frozen=True)
class RequirementCheck:
    #: One line per provider the METADATA declares at versions that exclude it.
    unsatisfied: tuple[str, ...]
    #: One line per provider the METADATA does not declare.
    undeclared: tuple[str, ...]
    #: ``Requires-Dist`` values to add for the undeclared ones (what --add-requires writes).
    missing: tuple[str, ...]

    @property
    def problems(self) -> tuple[str, ...]:
        return self.unsatisfied + self.undeclared


def check_requirements(
    wheel: str, metadata_text: str, used: Mapping[str, Sequence[str]], index: ProviderIndex
) -> RequirementCheck:
    """Whether installing the wheel brings every provider it links to, at a version that has the
    libraries it was repaired against."""
    unsatisfied: list[str] = []
    undeclared: list[str] = []
    missing: list[str] = []
    for name, libs in used.items():
        provider = index.named(name)
        assert provider is not None
        problem = requirement_problem(metadata_text, name, provider.version)
        if problem is None:
            continue
        libraries = ", ".join(libs)
        if problem == "missing":
            requirement = compatible_requirement(name, provider.version)
            missing.append(requirement)
            undeclared.append(
                f"{wheel}: links {libraries} from {name} {provider.version}, but its METADATA has no "
                f"Requires-Dist on {name}; declare it or pass --add-requires (adds {requirement!r})"
            )
        else:
            unsatisfied.append(f"{wheel}: links {libraries} from {name}, but {problem}")
    return RequirementCheck(tuple(unsatisfied), tuple(undeclared), tuple(missing))
