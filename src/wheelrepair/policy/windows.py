"""The Windows platform: win32 / win_amd64 / win_arm64 from the binaries' machine, the DLLs Windows
and Python provide, and the age check for vendored Visual C++ runtime DLLs."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Sequence
from typing import ClassVar

from ..formats.pe.system_dlls import is_system_dll, is_vendored_msvc_runtime
from ..model import Binary, Reason, Rejection, Verdict
from .base import Context, PolicyInfo

#: Normalized PE architecture (formats/pe/reader.py) -> wheel platform tag.
ARCH_TAGS = {"x86": "win32", "x86_64": "win_amd64", "arm64": "win_arm64"}
_TAG_ARCHS = {tag: arch for arch, tag in ARCH_TAGS.items()}
_SUMMARIES = {
    "win32": "32-bit x86 Windows",
    "win_amd64": "64-bit x86 Windows (x64)",
    "win_arm64": "64-bit ARM Windows",
}
# Every Visual C++ toolset since 2015 links with version 14.x and shares the *140.dll runtime.
_MSVC_LINKER_MAJOR = 14
_MANGLED = re.compile(r"-[0-9a-f]{8,32}(?=\.[^.]*$)")


#: Delay-loaded imports a DLL never loads on the Windows versions Python supports (by the DLL's
#: export name): some builds of msvcp140.dll delay-load concrt140.dll for Windows XP only, which
#: delvewheel ignores too. Counted as present, so such a DLL vendored without concrt140 passes.
_UNNEEDED_DELAY_IMPORTS = {"msvcp140.dll": frozenset({"concrt140.dll"})}


def _unneeded_delay_import(name: str, requester: Binary) -> bool:
    own = (requester.soname or "").lower()
    return name.lower() in _UNNEEDED_DELAY_IMPORTS.get(own, ()) and name in requester.delay_needed


class WindowsPlatform:
    name: ClassVar[str] = "windows"

    def provides(self, name: str, requester: Binary) -> bool:
        return is_system_dll(name) or _unneeded_delay_import(name, requester)

    def removable(self, name: str, requester: Binary) -> bool:
        return False  # the interpreter's library is provided here, not forbidden

    def verdict(
        self,
        binaries: Sequence[tuple[str, Binary]],
        wheel_tags: Sequence[str],
        requested: str | None = None,
        vendored: Collection[str] = (),
        context: Context | None = None,
    ) -> Verdict:
        if requested is not None and requested not in _TAG_ARCHS:
            known = ", ".join(_TAG_ARCHS)
            return Verdict(
                self.name, None, error=f"--plat {requested} is not a Windows tag ({known})", usage_error=True
            )
        tag = requested or _wheel_tag(wheel_tags) or _inferred_tag(binaries)
        warnings = _msvc_runtime_warnings(binaries, vendored)
        if tag is None:
            return Verdict(self.name, None, warnings=warnings)
        arch = _TAG_ARCHS[tag]
        reasons = tuple(
            Reason(path, f"is {binary.arch}; {tag} needs {arch}")
            for path, binary in binaries
            if binary.archs != (arch,)
        )
        if reasons:
            error = f"{tag} is impossible: {reasons[0].binary} {reasons[0].detail}" if requested else None
            return Verdict(
                self.name, None, rejected=(Rejection(tag, reasons),), warnings=warnings, error=error
            )
        return Verdict(self.name, tag, (tag,), warnings=warnings)

    def policies(self) -> Sequence[PolicyInfo]:
        return tuple(PolicyInfo(tag, (), self.name, summary) for tag, summary in _SUMMARIES.items())


def _wheel_tag(wheel_tags: Sequence[str]) -> str | None:
    return next((t for t in wheel_tags if t in _TAG_ARCHS), None)


def _inferred_tag(binaries: Sequence[tuple[str, Binary]]) -> str | None:
    for _path, binary in binaries:
        tag = ARCH_TAGS.get(binary.arch)
        if tag is not None:
            return tag
    return None


def _msvc_runtime_warnings(
    binaries: Sequence[tuple[str, Binary]], vendored: Collection[str]
) -> tuple[str, ...]:
    """A Visual C++ runtime DLL that repair is about to vendor, linked by an older toolset than a
    binary importing it: an old msvcp140.dll (typically picked up from PATH) crashes code built against
    a newer one. Runtimes already inside the wheel were the packager's choice and are not judged."""
    by_name = {posixpath.basename(path.replace("\\", "/")).casefold(): (path, b) for path, b in binaries}
    warnings: list[str] = []
    for path, binary in binaries:
        for name in binary.needed:
            if not is_vendored_msvc_runtime(name):
                continue
            found = by_name.get(name.casefold())
            if found is None:
                continue
            runtime_path, runtime = found
            if runtime_path not in vendored:
                continue
            theirs, ours = runtime.linker_version, binary.linker_version
            if not theirs or not ours or theirs[0] != _MSVC_LINKER_MAJOR or ours[0] != _MSVC_LINKER_MAJOR:
                continue
            # delvewheel's rule: one toolset family (14.4x, 14.3x...) shares a redistributable. VS
            # 2022 17.11 links as 14.41 yet works with the 14.40 runtime, so patch levels within a
            # family are not compared.
            if (theirs[0], theirs[1] // 10) < (ours[0], ours[1] // 10):
                plain = _MANGLED.sub("", name)
                warnings.append(
                    f"{runtime_path}: this {plain} was built by Visual C++ {theirs[0]}.{theirs[1]}, older than "
                    f"the {ours[0]}.{ours[1]} that built {path}, which may crash with it; "
                    "vendor a newer copy (--lib-path to a current Visual C++ redistributable)"
                )
    return tuple(dict.fromkeys(warnings))
