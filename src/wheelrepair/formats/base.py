"""The seam between the core and the binary formats: the Backend and Resolver protocols and the
search context a resolver looks things up in.

A backend knows one binary format and one loader's rules; it never sees a wheel. The core hands a
resolver a ``SearchContext`` in which the wheel's binaries appear as files under ``WHEEL_ROOT`` (the
virtual site-packages directory the wheel will be installed into) and everything else is the host
file system.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path, PurePosixPath
from typing import ClassVar, Protocol, overload, runtime_checkable

from ..model import Binary, BinaryEdit

#: Where the wheel's files appear to resolvers: the installed site-packages directory.
WHEEL_ROOT = PurePosixPath("/<wheel>")


class ByteSource(Protocol):
    """What a lazy binary reader needs of a file's content: ``bytes`` qualifies, and so does
    ``wheel.stream.MemberBytes``, which inflates a zip member only as far as it is read."""

    def __len__(self) -> int: ...

    @overload
    def __getitem__(self, key: int) -> int: ...

    @overload
    def __getitem__(self, key: slice) -> bytes: ...

    def find(self, sub: bytes, start: int = 0, end: int | None = None) -> int: ...


@dataclass(frozen=True)
class Location:
    """Where a dependency was found.

    ``key`` is the wheel member path for wheel files and the absolute host path otherwise;
    ``path`` is the loader's view of the file (under ``WHEEL_ROOT`` for wheel files).
    """

    key: str
    path: PurePosixPath
    in_wheel: bool
    binary: Binary
    #: The distribution that ships this file when it comes from a provider wheel (under
    #: ``WHEEL_ROOT`` like the wheel's own files), None for the wheel's own files and the host's.
    provider: str | None = None

    @property
    def directory(self) -> PurePosixPath:
        return self.path.parent


@dataclass(frozen=True)
class Loaded:
    """One image on the load chain: where the loader sees it and what it is."""

    path: PurePosixPath
    binary: Binary

    @cached_property
    def folder(self) -> str:
        """The directory the image is in, as text: a resolver's cache key and ``$ORIGIN`` (a walk
        asks it of every image on the chain for each of torch's 956 needed names)."""
        return posixpath.dirname(str(self.path)) or "."


@dataclass(frozen=True)
class Resolution:
    location: Location | None
    searched: tuple[str, ...] = ()


@dataclass
class SearchContext:
    """Everything a resolver may look at.

    ``wheel_files`` maps installed paths (relative to ``WHEEL_ROOT``) to (member path, Binary) for the
    binaries in the wheel. ``lib_path`` are the user's ``--lib-path`` directories. ``environ`` is the
    environment the search uses (LD_LIBRARY_PATH, DYLD_LIBRARY_PATH, PATH...). ``read_host`` parses a
    host file with the backend and returns None when it is not a binary of that format.
    """

    wheel_files: Mapping[str, tuple[str, Binary]]
    lib_path: Sequence[str] = ()
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    read_host: Callable[[str], Binary | None] = lambda path: None
    #: Host root for system directories (``/`` normally; tests may point it elsewhere).
    host_root: str = "/"
    #: True when the resolver may consult the host's own loader configuration (ld.so.conf...).
    use_host_config: bool = True
    #: False for ``check``: only the wheel's own files (and what the platform provides) count.
    allow_host: bool = True
    #: Installed paths in ``wheel_files`` that another wheel provides -> that distribution's name.
    #: They sit in the same site-packages as the wheel, so every search rule reaches them as it
    #: reaches the wheel's own files; Windows resolvers also count their directories as added (the
    #: loader patch adds them).
    providers: Mapping[str, str] = field(default_factory=dict)

    def in_wheel(self, path: PurePosixPath) -> bool:
        return in_wheel(path)

    def lookup(
        self, path: PurePosixPath | str, accept: Callable[[Binary], bool] = lambda b: True
    ) -> Location | None:
        """Return the binary at ``path`` (wheel or host) if it exists and ``accept`` says it is usable;
        ``path`` may be given as text (a resolver trying 1,000 directories saves building paths)."""
        text = os.path.normpath(path if isinstance(path, str) else str(path))
        if text.startswith(_WHEEL_PREFIX):
            entry = self.wheel_files.get(text[len(_WHEEL_PREFIX) :])
            if entry is None:
                return None
            member, binary = entry
            if not accept(binary):
                return None
            provider = self.providers.get(text[len(_WHEEL_PREFIX) :])
            return Location(member, PurePosixPath(text), True, binary, provider)
        if not self.allow_host or not _host_has(text):
            return None
        host_binary = self.read_host(text)
        if host_binary is None or not accept(host_binary):
            return None
        return Location(os.path.realpath(text), PurePosixPath(text), False, host_binary)


_WHEEL_PREFIX = f"{WHEEL_ROOT}/"


@lru_cache(maxsize=4096)
def _listing(directory: str) -> frozenset[str] | None:
    try:
        return frozenset(os.listdir(directory))
    except OSError:
        return None


def _host_has(path: str) -> bool:
    """Whether a host file exists: one directory listing per directory (resolvers probe the same
    few system directories for every name) instead of one stat per probe."""
    directory, name = os.path.split(path)
    names = _listing(directory)
    return names is not None and name in names and os.path.isfile(path)


def in_wheel(path: PurePosixPath | str) -> bool:
    """True for paths inside the installed wheel (under ``WHEEL_ROOT``)."""
    text = str(path)
    return text == str(WHEEL_ROOT) or text.startswith(_WHEEL_PREFIX)


def normalize(path: PurePosixPath) -> PurePosixPath:
    """Collapse ``.`` and ``..`` lexically (as the loaders do for $ORIGIN / @loader_path paths)."""
    return PurePosixPath(os.path.normpath(str(path)))


@dataclass(frozen=True)
class PatchRequest:
    """One ``wheelrepair patch`` invocation, format-neutral. A backend raises ``UsageError`` for a
    field its format has no meaning for (e.g. ``add_needed`` on Mach-O)."""

    replace_needed: tuple[tuple[str, str], ...] = ()
    add_needed: tuple[str, ...] = ()
    remove_needed: tuple[str, ...] = ()
    set_soname: str | None = None
    #: Replace all search paths (ELF: DT_RUNPATH, or DT_RPATH with ``force_rpath``; Mach-O: LC_RPATHs).
    set_rpath: tuple[str, ...] | None = None
    add_rpath: tuple[str, ...] = ()
    delete_rpath: tuple[str, ...] = ()
    remove_rpath: bool = False
    force_rpath: bool = False


class Resolver(Protocol):
    """A loader's search rules as data."""

    def resolve(self, name: str, chain: Sequence[Loaded]) -> Resolution:
        """Find ``name`` as needed by ``chain[-1]``, loaded (transitively) by ``chain[0]``."""
        ...

    def expand(self, search_path: str, loader: Loaded) -> PurePosixPath | None:
        """The directory a raw search path entry of ``loader`` names (None if it cannot be known)."""
        ...


class Backend(Protocol):
    """One binary format: reading, resolving, editing."""

    #: True when an executable finds its libraries through search paths relative to itself (ELF,
    #: Mach-O): one in ``<dist>.data/scripts`` then needs moving into site-packages, with a launcher
    #: left in its place (core/scripts.py). PE executables find DLLs beside them or on PATH instead.
    script_launcher: ClassVar[bool]
    format: ClassVar[str]
    #: Every file of the format starts with one of these: ``sniff`` is asked only then (most members
    #: of a wheel are not binaries, and torch has 12,000 of them).
    magics: ClassVar[tuple[bytes, ...]]
    #: True when ``read`` accepts any ``ByteSource``, not only ``bytes``: the core then hands it
    #: large wheel members lazily, so it inflates only what the reader touches.
    lazy: ClassVar[bool]
    #: True when only files installed into site-packages are binaries to analyse; files of other
    #: wheel schemes (``.data/data``, ``.data/scripts``) are then data (PE, which has no search paths).
    site_packages_only: ClassVar[bool]

    def sniff(self, head: bytes) -> bool:
        """True if ``head`` (the first 64 bytes of a file) starts a binary of this format."""
        ...

    def read(self, data: bytes, name: str) -> Binary:
        """Parse a whole file's bytes; raise ``InvalidBinary`` naming ``name`` when malformed."""
        ...

    def resolver(self, ctx: SearchContext) -> Resolver: ...

    def rewrite(self, path: Path, edit: BinaryEdit) -> None:
        """Apply ``edit`` to the file at ``path`` in place (the core passes a scratch copy)."""
        ...

    def finalize(self, path: Path) -> None:
        """Make an edited file valid again (Mach-O ad-hoc signature); a no-op elsewhere."""
        ...

    def patch(self, path: Path, request: PatchRequest) -> None:
        """Apply a user's ``wheelrepair patch`` request to the file at ``path`` in place."""
        ...

    def describe(self, data: bytes, name: str) -> Mapping[str, object]:
        """The fields ``wheelrepair patch --print`` shows (JSON-serialisable), e.g. for ELF
        {"soname": ..., "needed": [...], "rpath": [...], "runpath": [...], "interpreter": ...}."""
        ...

    def library_filename(self, name: str, source: str, digest: str) -> str:
        """The mangled file name for a vendored library needed as ``name`` (found at ``source``),
        e.g. ``libfoo.so.1`` -> ``libfoo-1a2b3c4d.so.1``; ``digest`` is the 8-hex content hash."""
        ...

    def needed_reference(self, filename: str, from_dir: str, libs_dir: str) -> str:
        """How a binary in ``from_dir`` names a vendored file ``filename`` in ``libs_dir`` (both
        wheel-relative): ``libfoo-1a2b.so.1`` (ELF, PE) or ``@rpath/libfoo-1a2b.dylib`` (Mach-O)."""
        ...

    def libs_dir(self, default: str, users: Sequence[str], members: Sequence[str]) -> str:
        """The wheel directory vendored libraries go to, given the default (``<dist>.libs``), the
        binaries that need them and every member path. ELF and Mach-O binaries point at any
        directory with a search path and return ``default``; Windows may need another one."""
        ...

    def extra_libs_dirs(self, libs_dir: str, users: Sequence[str], members: Sequence[str]) -> tuple[str, ...]:
        """Directories besides ``libs_dir`` that need a copy of every vendored library: ELF and
        Mach-O need none; Windows needs one beside extensions that no package ``__init__.py`` runs
        before (in namespace packages), the only place its loader looks for them."""
        ...

    def support_files(
        self,
        libs_dir: str,
        vendored: Sequence[str],
        users: Sequence[str],
        members: Sequence[str],
        read_member: Callable[[str], bytes],
        provided: Sequence[tuple[str, str]] = (),
    ) -> Mapping[str, bytes]:
        """Non-binary members the loader needs after repair, as {member path: new content}.

        ``vendored`` are the libs-dir member paths in dependency order (dependencies first),
        ``users`` the wheel binaries that need any of them, ``members`` every member path of the
        wheel. Windows returns the patched ``__init__.py`` files here; ELF and Mach-O return {}.
        ``provided`` are the (installed path, provider) pairs of libraries other wheels ship that
        the users need: Windows finds and preloads them from the provider's directory at run time.
        """
        ...


@runtime_checkable
class Fuser(Protocol):
    """A format whose files for different CPUs combine into one (Mach-O universal files): what
    ``wheelrepair merge`` needs of a backend, beyond ``Backend``."""

    def fuse(self, first: bytes, second: bytes, name: str) -> bytes:
        """One file holding the architectures of both; ``NotRepairable`` naming ``name`` if they
        hold different code for the same architecture."""
        ...


@runtime_checkable
class MemoryEditor(Protocol):
    """A format whose edits can be applied to a file held in memory (ELF), beyond ``Backend``'s
    ``rewrite`` of a file on disk: repair then edits small files without a scratch file."""

    def rewrite_bytes(self, data: bytes, name: str, edit: BinaryEdit, current: Binary | None = None) -> bytes:
        """``data`` with ``edit`` applied (and finalized); ``current`` is its parse, if known."""
        ...
