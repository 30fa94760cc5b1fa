"""Which operating-system package installed a host file, where the host can tell: Debian's dpkg,
RPM, Alpine's apk, and Homebrew's Cellar layout (read from the path, no tool needed).

The SBOM names these packages (as package URLs) for the libraries repair vendors. Lookups never fail
a repair: a missing tool, an unowned file or a tool that errors or hangs means "not known". dpkg is
asked once for all files; rpm and apk once per file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from urllib.parse import quote

#: Seconds one package-manager query may take before its answer is given up.
QUERY_TIMEOUT = 30

# <prefix>/Cellar/<formula>/<version>/... (opt/ and lib/ symlinks resolve into it).
_CELLAR = re.compile(r"/Cellar/([^/]+)/([^/]+)/")
# "/usr/lib/libz.so.1 is owned by zlib-1.3.1-r0"; the version is "<x>-r<n>".
_APK_OWNER = re.compile(r" is owned by (.+)-([^-]+-r\d+)\s*$")


@dataclass(frozen=True)
class OwningPackage:
    #: Package URL type: "deb", "rpm", "apk", "brew".
    type: str
    name: str
    version: str | None = None
    #: The distribution (os-release ID: debian, ubuntu, fedora, alpine...), the purl namespace.
    distro: str | None = None
    arch: str | None = None

    @property
    def manager(self) -> str:
        return {"deb": "dpkg", "rpm": "rpm", "apk": "apk", "brew": "homebrew"}.get(self.type, self.type)

    @property
    def purl(self) -> str:
        """``pkg:deb/debian/libffi8@3.4.4-1?arch=amd64``, ``pkg:brew/openssl%403@3.3.1``."""
        text = f"pkg:{self.type}/"
        if self.distro:
            text += quote(self.distro, safe="") + "/"
        text += quote(self.name, safe="")
        if self.version:
            text += "@" + quote(self.version, safe="")
        if self.arch:
            text += "?arch=" + quote(self.arch, safe="")
        return text


#: Lookups started ahead of need (``prefetch``), by the paths asked about.
_prefetched: dict[tuple[str, ...], Future[dict[str, OwningPackage]]] = {}


def prefetch(paths: Iterable[str]) -> None:
    """Start looking up the owners of ``paths`` on a background thread: a later ``owners`` of the
    same paths takes that answer instead of asking again. The package managers take a while
    (dpkg-query: ~0.07 s), which repair spends editing binaries meanwhile."""
    key = tuple(dict.fromkeys(paths))
    if not key or key in _prefetched:
        return
    future: Future[dict[str, OwningPackage]] = Future()

    def run() -> None:
        try:
            future.set_result(_lookup(list(key)))
        except BaseException as err:  # handed to whoever asks for the answer
            future.set_exception(err)

    _prefetched[key] = future
    threading.Thread(target=run, name="owners-prefetch", daemon=True).start()


def owners(paths: Iterable[str]) -> dict[str, OwningPackage]:
    """The owning package of each path that has a known one."""
    key = tuple(dict.fromkeys(paths))
    future = _prefetched.pop(key, None)
    if future is not None:
        return dict(future.result())
    return _lookup(list(key))


def _lookup(wanted: list[str]) -> dict[str, OwningPackage]:
    found: dict[str, OwningPackage] = {}
    for path in wanted:
        cellar = _cellar(path)
        if cellar is not None:
            found[path] = cellar
    rest = [p for p in wanted if p not in found]
    if rest and shutil.which("dpkg-query"):
        found.update(_dpkg(rest, _distro()))
    rest = [p for p in wanted if p not in found]
    if rest and shutil.which("rpm"):
        found.update(_each(rest, lambda p: _rpm(p, _distro())))
    rest = [p for p in wanted if p not in found]
    if rest and shutil.which("apk"):
        found.update(_each(rest, lambda p: _apk(p, _distro())))
    return found


def _each(paths: Sequence[str], lookup: Callable[[str], OwningPackage | None]) -> dict[str, OwningPackage]:
    result: dict[str, OwningPackage] = {}
    for path in paths:
        owner = lookup(path)
        if owner is not None:
            result[path] = owner
    return result


def _cellar(path: str) -> OwningPackage | None:
    match = _CELLAR.search(os.path.realpath(path)) or _CELLAR.search(path)
    return OwningPackage("brew", match.group(1), match.group(2)) if match else None


def _distro() -> str | None:
    try:
        with open("/etc/os-release", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.strip().partition("=")
                if key == "ID":
                    return value.strip().strip("\"'") or None
    except OSError:
        pass
    return None


def _query(cmd: Sequence[str]) -> str | None:
    """stdout of a query (also on a non-zero exit: dpkg answers what it knows, then fails)."""
    try:
        done = subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=QUERY_TIMEOUT, env=_quiet_env(), check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout


def _quiet_env() -> Mapping[str, str]:
    return {**os.environ, "LC_ALL": "C"}


def _aliases(path: str) -> list[str]:
    """The names a package database may know the file by: as found, resolved, and across the
    merged-/usr symlinks (``/lib`` -> ``/usr/lib``), since packages record the path they shipped."""
    names = [path, os.path.realpath(path)]
    for name in list(names):
        if name.startswith("/usr/"):
            names.append(name[len("/usr") :])
        else:
            names.append("/usr" + name)
    return list(dict.fromkeys(names))


def _dpkg(paths: Sequence[str], distro: str | None) -> dict[str, OwningPackage]:
    aliases = {path: _aliases(path) for path in paths}
    queried = sorted({a for names in aliases.values() for a in names})
    out = _query(["dpkg-query", "-S", *queried])
    if not out:
        return {}
    package_of: dict[str, str] = {}
    for line in out.splitlines():
        if line.startswith(("diversion by", "local diversion")):
            continue
        packages, sep, owned = line.partition(": ")
        if not sep or owned not in queried:
            continue
        # "libffi8:amd64" (or several, comma-separated, for a shared directory: not a file's owner).
        if "," not in packages:
            package_of.setdefault(owned, packages.strip())
    versions = _dpkg_versions(sorted(set(package_of.values())))
    result: dict[str, OwningPackage] = {}
    for path, names in aliases.items():
        package = next((package_of[n] for n in names if n in package_of), None)
        if package is None:
            continue
        name, _, arch = package.partition(":")
        version, package_arch = versions.get(package, (None, None))
        result[path] = OwningPackage("deb", name, version, distro, arch or package_arch)
    return result


def _dpkg_versions(packages: Sequence[str]) -> dict[str, tuple[str | None, str | None]]:
    if not packages:
        return {}
    out = _query(["dpkg-query", "-W", "-f", "${binary:Package}\t${Version}\t${Architecture}\n", *packages])
    found: dict[str, tuple[str | None, str | None]] = {}
    for line in (out or "").splitlines():
        fields = line.split("\t")
        if len(fields) == 3:
            found[fields[0]] = (fields[1] or None, fields[2] or None)
            # dpkg -S names a package "libffi8:amd64" only when it is multi-arch "same".
            found.setdefault(fields[0].partition(":")[0], (fields[1] or None, fields[2] or None))
    return found


def _rpm(path: str, distro: str | None) -> OwningPackage | None:
    out = _query(["rpm", "-qf", "--queryformat", "%{NAME}\t%{VERSION}-%{RELEASE}\t%{ARCH}\n", path])
    fields = (out or "").strip().split("\t")
    if len(fields) != 3 or " " in fields[0]:
        return None  # "file ... is not owned by any package"
    return OwningPackage("rpm", fields[0], fields[1], distro, fields[2])


def _apk(path: str, distro: str | None) -> OwningPackage | None:
    match = _APK_OWNER.search(_query(["apk", "info", "--who-owns", path]) or "")
    return OwningPackage("apk", match.group(1), match.group(2), distro) if match else None
