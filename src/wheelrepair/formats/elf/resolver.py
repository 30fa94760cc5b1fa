"""The Linux loaders' library search rules (glibc ld.so and musl), as data over a SearchContext."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import PurePosixPath

from ...model import Binary
from ..base import Loaded, Resolution, SearchContext
from .hostplatform import host_arch, host_platform
from .ldconfig import ld_so_conf_dirs, musl_path_dirs

#: Debian multiarch triplets: the system directories' names and what Debian's ld.so substitutes for
#: ``$LIB`` ("lib/<triplet>", because Debian builds glibc with slibdir=/lib/<triplet>).
MULTIARCH = {
    "x86_64": "x86_64-linux-gnu",
    "i686": "i386-linux-gnu",
    "aarch64": "aarch64-linux-gnu",
    "ppc64le": "powerpc64le-linux-gnu",
    "ppc64": "powerpc64-linux-gnu",
    "s390x": "s390x-linux-gnu",
    "armv7l": "arm-linux-gnueabihf",
    "armel": "arm-linux-gnueabi",
    "riscv64": "riscv64-linux-gnu",
    "loongarch64": "loongarch64-linux-gnu",
    "x32": "x86_64-linux-gnux32",
    "mips64el": "mips64el-linux-gnuabi64",
    "mipsel": "mipsel-linux-gnu",
    "sparc64": "sparc64-linux-gnu",
}

#: The kernel's AT_PLATFORM string, which ``$PLATFORM`` expands to on a machine other than this
#: one (for this machine, hostplatform.py asks the kernel and applies glibc's x86 override). Only
#: architectures where it does not depend on the CPU model are listed (ppc64le and s390x report
#: "power9", "z15"...); for x86_64 it is the kernel's value, which glibc keeps on AMD CPUs and
#: older Intel ones (newer Intel CPUs get "haswell"): the target machine is unknown.
AT_PLATFORM = {"x86_64": "x86_64", "i686": "i686", "aarch64": "aarch64", "armv7l": "v7l"}

#: Name part of musl's loader and its path file: /lib/ld-musl-<name>.so.1, /etc/ld-musl-<name>.path.
MUSL_ARCH = {
    "x86_64": "x86_64",
    "i686": "i386",
    "aarch64": "aarch64",
    "armv7l": "armhf",
    "ppc64le": "powerpc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "loongarch64": "loongarch64",
}

_64BIT = {"x86_64", "aarch64", "ppc64le", "ppc64", "s390x", "riscv64", "loongarch64", "mips64el", "sparc64"}

MUSL_DEFAULT_DIRS = ("/lib", "/usr/local/lib", "/usr/lib")


def is_musl(binary: Binary) -> bool:
    """True when ``binary`` is linked against musl rather than glibc.

    Alpine's toolchain records ``libc.musl-<arch>.so.1``; zig records the bare ``libc.so``, a name
    glibc binaries never need (glibc's libc.so is a linker script that resolves to libc.so.6).
    The reader also knows an extension's C library from its file name (``-linux-musl.so``).
    """
    if binary.libc is not None:
        return binary.libc == "musl"
    if binary.interpreter and PurePosixPath(binary.interpreter).name.startswith("ld-musl-"):
        return True
    return any(name == "libc.so" or name.startswith(("libc.musl-", "ld-musl-")) for name in binary.needed)


def default_dirs(arch: str, musl: bool = False) -> tuple[str, ...]:
    """The loader's built-in directories for ``arch``: multiarch (Debian), lib64 (Fedora), then /lib."""
    if musl:
        return MUSL_DEFAULT_DIRS
    dirs: list[str] = []
    triplet = MULTIARCH.get(arch)
    if triplet:
        dirs += [f"/lib/{triplet}", f"/usr/lib/{triplet}"]
    if arch in _64BIT:
        dirs += ["/lib64", "/usr/lib64"]
    elif arch in ("i686", "x32"):
        dirs += ["/lib32", "/usr/lib32"] if arch == "i686" else ["/libx32", "/usr/libx32"]
    return (*dirs, "/lib", "/usr/lib")


def _split(value: str) -> list[str]:
    # glibc accepts ':' and ';' between LD_LIBRARY_PATH entries.
    return [e for e in value.replace(";", ":").split(":") if e]


def _absolute(value: str) -> list[str]:
    """The absolute entries of a LD_LIBRARY_PATH-style list, normalized (relative ones name the
    process's working directory, unknown here)."""
    return [str(PurePosixPath(e)) for e in _split(value) if e.startswith("/")]


def _origin_only(binary: Binary) -> bool:
    """musl and bionic expand ``$ORIGIN`` alone in run paths."""
    return binary.libc == "android" or is_musl(binary)


class ElfResolver:
    """Resolve DT_NEEDED names the way the target's loader will once the wheel is installed.

    glibc order, for a name without '/':

    1. DT_RPATH of the requester, then of each object up the load chain, all skipped when the
       requester has DT_RUNPATH; an object with DT_RUNPATH never contributes its DT_RPATH.
    2. LD_LIBRARY_PATH (``ctx.environ``).
    3. ``--lib-path`` (``ctx.lib_path``). It sits with LD_LIBRARY_PATH because it is the same kind of
       request, "take dependencies from here", given on our command line instead of the
       environment; it must come before DT_RUNPATH, which on an unrepaired wheel usually names the
       build machine (this machine's Python adds its own lib dir), so that the user's choice wins.
       It comes after DT_RPATH because the loader lets nothing outrank DT_RPATH.
    4. DT_RUNPATH of the requester only (not inherited).
    5. Directories from the host's /etc/ld.so.conf (stand-in for ld.so.cache), when
       ``ctx.use_host_config``.
    6. The built-in directories for the architecture.

    musl searches LD_LIBRARY_PATH, then (our --lib-path), then the run path of every object up the
    chain (DT_RUNPATH replacing DT_RPATH, both inherited), then /etc/ld-musl-ARCH.path or its
    defaults, and expands only ``$ORIGIN``.

    Bionic (Android) searches LD_LIBRARY_PATH, then the requester's DT_RUNPATH (``$ORIGIN`` only);
    it ignores DT_RPATH. An Android wheel is cross-compiled, so this host's LD_LIBRARY_PATH and
    system directories say nothing about the device: only ``--lib-path`` and auditwheel's
    AUDITWHEEL_LD_LIBRARY_PATH (searched first) stand in for the device's libraries.

    AUDITWHEEL_LD_LIBRARY_PATH is searched before LD_LIBRARY_PATH everywhere, as auditwheel does.

    The executable at the top of a real load chain (python) is unknown here, so its DT_RPATH is not
    searched; relative entries (relative to the process's working directory) are never followed.
    """

    def __init__(self, ctx: SearchContext) -> None:
        self.ctx = ctx
        self._memo: dict[tuple[object, ...], Resolution] = {}
        # The context's own directories, the same for every question: as text (a walk of torch's
        # 956 needed names asks them of a few hundred directories).
        self._auditwheel = _absolute(ctx.environ.get("AUDITWHEEL_LD_LIBRARY_PATH", ""))
        self._user = [os.path.abspath(e) for e in ctx.lib_path]
        self._env = self._auditwheel + _absolute(ctx.environ.get("LD_LIBRARY_PATH", ""))

    def expand(self, search_path: str, loader: Loaded) -> PurePosixPath | None:
        text = _expand(search_path, loader, musl=_origin_only(loader.binary), platform=self._platform(loader))
        return None if text is None else PurePosixPath(text)

    def _platform(self, loader: Loaded) -> str | None:
        """``$PLATFORM`` for ``loader``: this machine's loader's value when resolving against this
        machine's own files for its own architecture, else the table's."""
        arch = loader.binary.archs[0]
        if self.ctx.host_root in ("", "/") and self.ctx.allow_host and arch == host_arch():
            return host_platform() or AT_PLATFORM.get(arch)
        return AT_PLATFORM.get(arch)

    def resolve(self, name: str, chain: Sequence[Loaded]) -> Resolution:
        if not chain:
            raise ValueError("resolve needs at least the requesting binary in the chain")
        requester = chain[-1]
        arch = requester.binary.archs[0]

        def accept(candidate: Binary) -> bool:
            return candidate.format == "elf" and candidate.archs == (arch,)

        if "/" in name:
            if not name.startswith("/"):
                return Resolution(None, ())
            return Resolution(
                self.ctx.lookup(PurePosixPath(name), accept), (str(PurePosixPath(name).parent),)
            )
        # Binaries in one directory with the same search paths ask the same questions: the answer
        # depends on the name, the requester's directory and paths, and the inherited DT_RPATHs.
        key = (
            name,
            arch,
            requester.folder,
            requester.binary.rpaths,
            requester.binary.runpaths,
            any(is_musl(item.binary) for item in chain),
            requester.binary.libc == "android",
            tuple((item.folder, item.binary.rpaths, bool(item.binary.runpaths)) for item in chain[:-1]),
        )
        cached = self._memo.get(key)
        if cached is None:
            cached = self._memo[key] = self._search(name, chain, arch, accept)
        return cached

    def _search(
        self, name: str, chain: Sequence[Loaded], arch: str, accept: Callable[[Binary], bool]
    ) -> Resolution:
        searched: list[str] = []
        seen: set[str] = set()
        for directory in self._directories(chain, arch):
            if directory in seen:
                continue
            seen.add(directory)
            searched.append(directory)
            found = self.ctx.lookup(posixpath.join(directory, name), accept)
            if found is not None:
                return Resolution(found, tuple(searched))
        return Resolution(None, tuple(searched))

    def _directories(self, chain: Sequence[Loaded], arch: str) -> Iterator[str]:
        """The directories searched, in order, as normalized absolute paths (text)."""
        musl = any(is_musl(item.binary) for item in chain)
        requester = chain[-1]
        user = self._user
        if requester.binary.libc == "android":
            yield from self._auditwheel
            yield from user
            yield from self._entries(requester.binary.runpaths, requester, musl=True)  # $ORIGIN only
            return
        env = self._env
        if musl:
            yield from env
            yield from user
            for item in reversed(chain):
                yield from self._entries(item.binary.runpaths or item.binary.rpaths, item, musl)
            yield from self._system(arch, musl)
            return
        if not requester.binary.runpaths:
            for item in reversed(chain):
                if not item.binary.runpaths:
                    yield from self._entries(item.binary.rpaths, item, musl)
        yield from env
        yield from user
        yield from self._entries(requester.binary.runpaths, requester, musl)
        yield from self._system(arch, musl)

    def _entries(self, entries: Sequence[str], loader: Loaded, musl: bool) -> Iterator[str]:
        if not entries:
            return
        platform = self._platform(loader)
        for entry in entries:
            directory = _expand(entry, loader, musl, platform)
            if directory is not None:
                yield directory

    def _system(self, arch: str, musl: bool) -> tuple[str, ...]:
        return _system_dirs(self.ctx.host_root, arch, musl, self.ctx.use_host_config)


@lru_cache(maxsize=64)
def _system_dirs(root: str, arch: str, musl: bool, use_host_config: bool) -> tuple[str, ...]:
    dirs: tuple[str, ...] = ()
    if musl:
        configured = musl_path_dirs(root, MUSL_ARCH.get(arch, arch)) if use_host_config else None
        dirs = configured if configured is not None else MUSL_DEFAULT_DIRS
    else:
        if use_host_config:
            dirs = ld_so_conf_dirs(root)
        dirs = (*dirs, *default_dirs(arch))
    return tuple(_rooted(root, d) for d in dirs)


def _rooted(root: str, directory: str) -> str:
    if root in ("", "/"):
        return str(PurePosixPath(directory))
    return str(PurePosixPath(root) / directory.lstrip("/"))


def _expand(entry: str, loader: Loaded, musl: bool, platform: str | None) -> str | None:
    """Substitute the dynamic string tokens in one search path entry: the directory, normalized,
    as text; None if unknowable."""
    return _expanded(entry, loader.folder, loader.binary.archs[0], musl, platform)


@lru_cache(maxsize=4096)
def _expanded(entry: str, origin: str, arch: str, musl: bool, platform: str | None) -> str | None:
    # Cached: the binaries of one directory share their run paths, and a walk expands each entry
    # of the chain for every name it resolves.
    values = {"ORIGIN": origin}
    if not musl:
        triplet = MULTIARCH.get(arch)
        values["LIB"] = f"lib/{triplet}" if triplet else ("lib64" if arch in _64BIT else "lib")
        if platform is not None:
            values["PLATFORM"] = platform
    out: list[str] = []
    i = 0
    while i < len(entry):
        char = entry[i]
        if char != "$":
            out.append(char)
            i += 1
            continue
        token, end = _token(entry, i + 1)
        if token is None:
            out.append(char)
            i += 1
            continue
        if token not in values:
            if not musl and token in ("LIB", "PLATFORM"):
                return None  # glibc substitutes it, but with a value we cannot know
            out.append(entry[i:end])  # glibc and musl keep unknown tokens literally
        else:
            out.append(values[token])
        i = end
    text = "".join(out)
    if not text.startswith("/"):
        return None
    return posixpath.normpath(text)


def _token(entry: str, start: int) -> tuple[str | None, int]:
    """The name after a '$' at ``start``: ``NAME`` or ``{NAME}``, and where it ends."""
    if start < len(entry) and entry[start] == "{":
        close = entry.find("}", start)
        if close < 0:
            return None, start
        return entry[start + 1 : close], close + 1
    end = start
    while end < len(entry) and (entry[end].isalnum() or entry[end] == "_"):
        end += 1
    return (entry[start:end], end) if end > start else (None, start)
