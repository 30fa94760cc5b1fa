"""Android (PEP 738): what an ``android_<api>_<abi>`` wheel may link, and the verdict over its binaries.

An Android wheel is cross-compiled for one API level, which its tag names; repair never changes
that tag (as auditwheel does), it only decides what to vendor. The libraries the platform provides
are the NDK's stable system libraries of that level, and the ones CPython's Android build installs
beside libpython (which, unlike on manylinux, extensions link normally). Bionic's loader follows
DT_RUNPATH only from API level 24 and ignores DT_RPATH, so vendoring needs level 24.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Iterable, Sequence
from functools import cache

from ..model import Binary, Reason, Rejection, Verdict
from .base import PolicyInfo

#: NDK stable system libraries, by the API level that added them.
LIBRARIES = {
    21: (
        "libc.so libm.so libdl.so liblog.so libz.so libandroid.so libjnigraphics.so libEGL.so "
        "libGLESv1_CM.so libGLESv2.so libGLESv3.so libOpenSLES.so libOpenMAXAL.so libmediandk.so"
    ),
    24: "libcamera2ndk.so libvulkan.so",
    26: "libaaudio.so libsync.so libnativewindow.so",
    27: "libneuralnetworks.so",
    29: "libamidi.so libbinder_ndk.so",
    31: "libicu.so",
}
#: What CPython's Android build ships next to the interpreter (its OpenSSL and SQLite are renamed
#: so that they never clash with the system's).
PYTHON_LIBRARIES = ("libcrypto_python.so", "libssl_python.so", "libsqlite3_python.so")
LIBPYTHON = re.compile(r"^libpython3\.\d+t?\.so$")

#: PEP 738 ABI names and the ELF architectures they hold.
ABIS = {"arm64_v8a": "aarch64", "x86_64": "x86_64", "armeabi_v7a": "armv7l", "x86": "i686"}
#: Bionic's symbol version nodes (libc.so, libm.so, libdl.so) and the API level that added each;
#: ``LIBC`` holds everything up to level 23.
BIONIC_VERSIONS = {
    "LIBC_N": 24,
    "LIBC_O": 26,
    "LIBC_OMR1": 27,
    "LIBC_P": 28,
    "LIBC_Q": 29,
    "LIBC_R": 30,
    "LIBC_S": 31,
    "LIBC_T": 33,
    "LIBC_U": 34,
    "LIBC_V": 35,
}
BIONIC_LIBRARIES = ("libc.so", "libm.so", "libdl.so")
#: The first level CPython supports (PEP 738) and the first whose loader follows DT_RUNPATH.
MIN_API, RUNPATH_API = 21, 24
_TAG = re.compile(r"^android_(\d+)_([a-z0-9_]+)$")


def parse_tag(tag: str) -> tuple[int, str] | None:
    """``android_24_arm64_v8a`` -> (24, ``arm64_v8a``); None for any other tag."""
    match = _TAG.match(tag)
    return (int(match[1]), match[2]) if match else None


def is_android_tag(tag: str | None) -> bool:
    return bool(tag) and parse_tag(tag or "") is not None


def wheel_is_android(tags: Iterable[str]) -> bool:
    return any(is_android_tag(t) for t in tags)


def adopt(binary: Binary) -> Binary:
    """A file of an Android wheel is built for bionic, whatever it says itself (one without the
    NDK's note that needs the bare ``libc.so`` would pass for musl): the wheel's tag decides, as
    for auditwheel."""
    return binary if binary.libc == "android" else dataclasses.replace(binary, libc="android")


@cache
def libraries(api: int) -> frozenset[str]:
    names: set[str] = set(PYTHON_LIBRARIES)
    for since, text in LIBRARIES.items():
        if since <= api:
            names.update(text.split())
    return frozenset(names)


def provides(name: str) -> bool:
    """True for a library some Android level provides (never vendored, not looked up)."""
    return name in _any_level() or LIBPYTHON.match(name) is not None


@cache
def _any_level() -> frozenset[str]:
    return libraries(max(LIBRARIES))


def policies() -> list[PolicyInfo]:
    rows = []
    for api in LIBRARIES:
        for abi in ("arm64_v8a", "x86_64"):
            added = ", ".join(LIBRARIES[api].split()) if api > MIN_API else "the NDK's base system libraries"
            rows.append(PolicyInfo(f"android_{api}_{abi}", (), "linux", f"Android API {api}+: {added}"))
    return rows


def verdict(
    binaries: Sequence[tuple[str, Binary]],
    wheel_tags: Sequence[str],
    arch: str,
    own: Collection[str],
    requested: str | None = None,
    vendored: Collection[str] = (),
) -> Verdict:
    """Judge an Android wheel: the tag is the wheel's own (or ``--plat``'s, if it names an Android
    tag); the binaries must be built for its ABI and link only what its level provides."""
    tag = requested if requested and requested not in ("auto", "") else None
    if tag is None:
        own_tags = sorted({t for t in wheel_tags if is_android_tag(t)})
        if len(own_tags) != 1:
            found = ", ".join(own_tags) or ", ".join(wheel_tags) or "none"
            return Verdict(
                "linux",
                None,
                error=f"an Android wheel needs exactly one android_<api>_<abi> platform tag (it has {found}); "
                "pass --plat to name it",
            )
        tag = own_tags[0]
    parsed = parse_tag(tag)
    if parsed is None:
        return Verdict(
            "linux", None, error=f"cannot tag Android binaries as {tag}: use android_<api>_<abi>", usage_error=True
        )
    api, abi = parsed
    if ABIS.get(abi) != arch:
        known = next((a for a, machine in ABIS.items() if machine == arch), None)
        hint = f" (android_{api}_{known})" if known else ""
        return Verdict("linux", None, error=f"{tag} is for {abi} but the binaries are built for {arch}{hint}")
    if api < MIN_API:
        return Verdict("linux", None, error=f"{tag}: Python supports Android from API level {MIN_API}")
    if vendored and api < RUNPATH_API:
        return Verdict(
            "linux",
            None,
            error=f"{tag}: vendoring libraries needs DT_RUNPATH, which Android's loader follows from API "
            f"level {RUNPATH_API}; build for android_{RUNPATH_API} or newer",
        )
    provided = libraries(api)
    reasons: list[Reason] = []
    for path, binary in binaries:
        for name in binary.needed:
            if name in own or name in provided or LIBPYTHON.match(name):
                continue
            if provides(name):
                reasons.append(Reason(path, f"{name}, which Android API level {api} does not provide"))
    if reasons:
        return Verdict("linux", None, (tag,), (Rejection(tag, tuple(reasons)),))
    return Verdict("linux", tag, (tag,), warnings=tuple(_newer_symbols(binaries, api)))


def _newer_symbols(binaries: Sequence[tuple[str, Binary]], api: int) -> list[str]:
    """Bionic symbol versions newer than ``api``: the binary will not load on devices of that level
    unless it guards the calls (weak references); a warning, as the NDK allows that."""
    out = []
    for path, binary in binaries:
        for library, versions in sorted(binary.symbol_versions.items()):
            if library not in BIONIC_LIBRARIES:
                continue
            newer = sorted(v for v in versions if BIONIC_VERSIONS.get(v, 0) > api)
            if newer:
                levels = ", ".join(f"{v} (API {BIONIC_VERSIONS[v]})" for v in newer)
                out.append(f"{path} needs {levels} from {library}, newer than API level {api}")
    return out
