"""The data model every stage passes along: frozen values, never mutated in place.

``Binary`` is what a backend reads from one file; ``DependencyGraph`` is what the walk finds;
``Verdict`` is what the policy decides; ``RepairPlan`` is what repair will change; ``Report`` is what
the user is told. Nothing here knows ELF, Mach-O or PE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from pathlib import PurePosixPath


@dataclass(frozen=True)
class Binary:
    """What the core needs to know about one binary file, whatever its format.

    ``needed`` are the dependency names exactly as written in the file (DT_NEEDED, install names,
    imported DLL names), in load order. ``rpaths`` are search paths inherited down the load chain
    (ELF DT_RPATH without DT_RUNPATH, Mach-O LC_RPATH); ``runpaths`` are ELF DT_RUNPATH entries (used
    for the file's own dependencies only). ``archs`` holds one normalized architecture name, or several
    for a fat Mach-O file, whose per-architecture details are in ``slices``.
    """

    format: str
    archs: tuple[str, ...]
    needed: tuple[str, ...] = ()
    weak: frozenset[str] = frozenset()
    soname: str | None = None
    rpaths: tuple[str, ...] = ()
    runpaths: tuple[str, ...] = ()
    interpreter: str | None = None
    #: The file asks the loader for an executable stack (ELF: PT_GNU_STACK with PF_X), which glibc
    #: 2.41+ refuses for a dlopened library.
    exec_stack: bool = False
    #: ELF: library name -> symbol versions required from it (from .gnu.version_r).
    symbol_versions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: Mach-O: minimum OS version (LC_BUILD_VERSION / LC_VERSION_MIN_MACOSX), e.g. (11, 0).
    min_os: tuple[int, ...] | None = None
    #: Mach-O: carries a code signature (must be re-signed after an edit).
    signed: bool = False
    #: PE: names imported through the delay-load directory (also listed in ``needed``).
    delay_needed: tuple[str, ...] = ()
    #: PE: MajorLinkerVersion.MinorLinkerVersion, to compare MSVC runtime ages.
    linker_version: tuple[int, int] | None = None
    #: Fat Mach-O: one thin ``Binary`` per architecture; empty for thin files.
    slices: tuple[Binary, ...] = ()
    #: True for files that are executables rather than shared objects / extensions.
    executable: bool = False
    #: ELF: the C library it is built for, "glibc", "musl" or "android" (bionic), when the file
    #: tells (needed names, interpreter, the NDK's ident note, or a CPython extension suffix such as
    #: ``-linux-musl.so``) or an Android wheel's tag does; None when silent.
    libc: str | None = None
    #: ELF x86-64: the ISA level GNU_PROPERTY_X86_ISA_1_NEEDED asks for ("x86-64-v3"), if above
    #: the baseline.
    isa_level: str | None = None
    #: ELF: names of the undefined, non-weak dynamic symbols (what it imports), for the policies'
    #: lists of forbidden symbols.
    undefined_symbols: frozenset[str] = frozenset()
    #: ELF: the symbol versions the file defines (.gnu.version_d, without the base entry), which a
    #: library another wheel provides must hold for each version its users require of it.
    defined_versions: frozenset[str] = frozenset()

    @property
    def arch(self) -> str:
        return self.archs[0] if len(self.archs) == 1 else "+".join(self.archs)

    @property
    def min_os_by_arch(self) -> dict[str, str]:
        """Each architecture's minimum OS as text (``{"x86_64": "10.9", "arm64": "12.0"}``); empty
        for formats without one."""
        return {
            item.archs[0]: ".".join(map(str, item.min_os))
            for item in (self.slices or (self,))
            if item.min_os is not None
        }


class Action(str, Enum):
    """What repair does with one dependency."""

    IN_WHEEL = "in-wheel"
    SYSTEM = "system"
    VENDOR = "vendor"
    EXCLUDED = "excluded"
    MISSING = "missing"
    #: A dependency the target platform forbids and whose symbols the process already has (libpython
    #: on manylinux: the interpreter provides it): repair removes the reference.
    REMOVE = "remove"
    #: Shipped by another wheel (a provider, ``--provider``): never vendored; repair points the
    #: binary at the provider's installed directory.
    PROVIDED = "provided"
    #: Part of the GPU / graphics driver stack of the user's machine (libcuda, libEGL...): never
    #: vendored, whether or not the build machine has a copy (see ``policy/drivers.py``).
    DRIVER = "driver"


@dataclass(frozen=True)
class Node:
    """One binary in the graph: a wheel member (``key`` is its member path) or a host library
    (``key`` is its absolute path on this machine)."""

    key: str
    in_wheel: bool
    binary: Binary
    size: int
    #: Where the loader will see this file once installed: a path under ``WHEEL_ROOT`` for wheel
    #: members, the real absolute path for host libraries.
    location: PurePosixPath


#: ``Dependency.needed_by`` of a library the user asked for with ``--include``: no binary links it
#: (the package loads it at run time with dlopen / LoadLibrary), so no node requires it.
INCLUDED = "--include"


@dataclass(frozen=True)
class Dependency:
    """One edge: ``needed_by`` (a node key) needs ``name``; the walk decided ``action``."""

    name: str
    needed_by: str
    action: Action
    #: The node key it resolved to (wheel member or host path), or None when missing / system
    #: libraries that were not looked up.
    path: str | None = None
    weak: bool = False
    #: Directories searched, in order, for the error message when missing.
    searched: tuple[str, ...] = ()
    #: False for an in-wheel library found only by its name: the loader's search rules do not reach
    #: it from the requester (repair adds a search path to its directory).
    reachable: bool = True
    #: For ``PROVIDED``: the distribution that ships the library.
    provider: str | None = None
    #: One line for the user: why a driver library stays external, or why a provider's library of
    #: that name was not used.
    note: str | None = None


@dataclass(frozen=True)
class DependencyGraph:
    roots: tuple[str, ...]
    nodes: Mapping[str, Node]
    edges: tuple[Dependency, ...]

    def edges_from(self, key: str) -> tuple[Dependency, ...]:
        return self._edges_by_requester.get(key, ())

    @cached_property
    def _edges_by_requester(self) -> Mapping[str, tuple[Dependency, ...]]:
        """``edges`` by ``needed_by``, in order (the report asks for each of torch's 1,092 nodes)."""
        grouped: dict[str, list[Dependency]] = {}
        for edge in self.edges:
            grouped.setdefault(edge.needed_by, []).append(edge)
        return {key: tuple(edges) for key, edges in grouped.items()}

    @property
    def vendored(self) -> tuple[str, ...]:
        """Host libraries to copy into the wheel, in breadth-first order, each once."""
        seen: dict[str, None] = {}
        for edge in self.edges:
            if edge.action is Action.VENDOR and edge.path is not None:
                seen.setdefault(edge.path, None)
        return tuple(seen)


@dataclass(frozen=True)
class Reason:
    """Why one policy is ruled out: which binary, and what in it."""

    binary: str
    detail: str


@dataclass(frozen=True)
class Rejection:
    tag: str
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class Verdict:
    """The policy's answer for a wheel.

    ``tag`` is the most compatible platform tag the repaired wheel can carry (None when none fits),
    ``tags`` every platform tag to write (``tag`` first, then legacy aliases and other tags it
    implies), ``rejected`` the more compatible policies and why each fails.
    """

    platform: str
    tag: str | None
    tags: tuple[str, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    warnings: tuple[str, ...] = ()
    #: Set when a requested tag (``--plat``) cannot be met: the one-line reason.
    error: str | None = None
    #: True when ``error`` is about the request itself (an unknown or inapplicable tag): exit 2.
    usage_error: bool = False
    #: The tags ``--only-plat`` writes: the requested (or best) policy's tag and its legacy aliases;
    #: empty where the platform makes no such distinction (then ``tag`` alone).
    requested_tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class BinaryEdit:
    """What to change in one binary, format-neutrally. The backend knows how.

    ``add_search_paths`` are directories relative to the binary's own directory (``"../pkg.libs"``,
    ``"."``), rendered by the backend as ``$ORIGIN/..``, ``@loader_path/..`` or ignored (PE).
    ``keep_search_paths`` are existing raw entries to keep (None: leave existing entries alone).
    """

    replace_needed: Mapping[str, str] = field(default_factory=dict)
    #: Drop the file's request for an executable stack (see ``Binary.exec_stack``).
    clear_exec_stack: bool = False
    remove_needed: tuple[str, ...] = ()
    set_own_name: str | None = None
    add_search_paths: tuple[str, ...] = ()
    keep_search_paths: tuple[str, ...] | None = None
    strip: bool = False
    #: The binary is a library repair copies into the wheel (ELF: it gets one DT_RPATH ``$ORIGIN``).
    vendored: bool = False
    #: ELF: write search paths as DT_RUNPATH only, never DT_RPATH (Android's loader ignores DT_RPATH).
    runpath_only: bool = False

    @property
    def is_empty(self) -> bool:
        return (
            not self.replace_needed
            and not self.remove_needed
            and self.set_own_name is None
            and not self.add_search_paths
            and self.keep_search_paths is None
            and not self.strip
            and not self.clear_exec_stack
        )


@dataclass(frozen=True)
class VendoredLibrary:
    source: str
    """Absolute host path of the library to copy."""
    dest: str
    """Member path inside the repaired wheel."""
    name: str
    """The dependency name binaries use for it now."""
    new_name: str
    """The (mangled) name binaries will use after repair."""


@dataclass(frozen=True)
class RepairPlan:
    wheel: str
    verdict: Verdict
    libs_dir: str
    vendored: tuple[VendoredLibrary, ...]
    #: Member path (existing member or a vendored ``dest``) -> edit.
    edits: Mapping[str, BinaryEdit]
    #: Extra or replaced non-binary members (e.g. the Windows loader patch in ``__init__.py``).
    files: Mapping[str, bytes] = field(default_factory=dict)
    excluded: tuple[Dependency, ...] = ()
    warnings: tuple[str, ...] = ()
    #: Directories (wheel-relative, as installed) that get a copy of every vendored library besides
    #: ``libs_dir``: Windows extensions in namespace packages find DLLs only beside them.
    copy_dirs: tuple[str, ...] = ()

    @property
    def changes_nothing(self) -> bool:
        return not self.vendored and not self.files and all(e.is_empty for e in self.edits.values())
