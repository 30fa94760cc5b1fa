"""The Windows platform: what it provides, which tag a wheel's binaries allow, and the warning for
an outdated vendored Visual C++ runtime."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from wheelrepair.formats.pe.reader import read_binary
from wheelrepair.model import Binary
from wheelrepair.policy import platform_for_format
from wheelrepair.policy.windows import WindowsPlatform


def read(path: Path) -> Binary:
    return read_binary(path.read_bytes(), path.name)


@pytest.mark.parametrize(
    "name",
    [
        "KERNEL32.dll", "user32.dll", "ADVAPI32.DLL", "ws2_32.dll", "ucrtbase.dll", "bcrypt.dll", "ntdll.dll",
        "api-ms-win-crt-runtime-l1-1-0.dll", "API-MS-Win-Core-Synch-l1-2-0.dll", "ext-ms-win-gdi-dc-l1-2-0.dll",
        "python3.dll", "python311.dll", "python313t.dll", "VCRUNTIME140.dll", "vcruntime140_1.dll", "msvcrt.dll",
        "kernel32",
    ],
)  # fmt: skip
def test_windows_and_python_provide(name: str, mingw_chain: dict[str, Path]) -> None:
    assert WindowsPlatform().provides(name, read(mingw_chain["ext"]))


@pytest.mark.parametrize(
    "name",
    ["msvcp140.dll", "MSVCP140_1.dll", "concrt140.dll", "vcomp140.dll", "vccorlib140.dll", "libA.dll", "libgfortran-5.dll",
     "vcruntime140d.dll", "msvcr90.dll", "openblas.dll"],
)  # fmt: skip
def test_everything_else_is_vendored(name: str, mingw_chain: dict[str, Path]) -> None:
    assert not WindowsPlatform().provides(name, read(mingw_chain["ext"]))


def test_the_registry_maps_pe_to_windows() -> None:
    assert isinstance(platform_for_format("pe"), WindowsPlatform)


@pytest.mark.parametrize(("arch", "tag"), [("x86_64", "win_amd64"), ("x86", "win32"), ("arm64", "win_arm64")])
def test_tag_follows_the_machine(zig_chains: dict[str, dict[str, Path]], arch: str, tag: str) -> None:
    binaries = [(f"pkg/{p.name}", read(p)) for p in zig_chains[arch].values()]
    verdict = WindowsPlatform().verdict(binaries, [tag])
    assert (verdict.tag, verdict.tags, verdict.error, verdict.rejected) == (tag, (tag,), None, ())
    assert WindowsPlatform().verdict(binaries, ["any"]).tag == tag  # inferred from the binaries
    assert WindowsPlatform().verdict(binaries, [tag], requested=tag).error is None


def test_a_binary_of_another_machine_is_named(zig_chains: dict[str, dict[str, Path]]) -> None:
    binaries = [
        ("pkg/_ext.pyd", read(zig_chains["x86_64"]["ext"])),
        ("pkg/libA.dll", read(zig_chains["arm64"]["libA"])),
    ]
    verdict = WindowsPlatform().verdict(binaries, ["win_amd64"])
    assert verdict.tag is None
    [rejection] = verdict.rejected
    assert rejection.tag == "win_amd64"
    assert [(r.binary, r.detail) for r in rejection.reasons] == [
        ("pkg/libA.dll", "is arm64; win_amd64 needs x86_64")
    ]


def test_requested_tag_must_match_the_machine(zig_chains: dict[str, dict[str, Path]]) -> None:
    binaries = [("pkg/_ext.pyd", read(zig_chains["x86_64"]["ext"]))]
    wrong = WindowsPlatform().verdict(binaries, ["win_amd64"], requested="win32")
    assert wrong.tag is None and wrong.error is not None
    assert "win32" in wrong.error and "pkg/_ext.pyd" in wrong.error
    unknown = WindowsPlatform().verdict(binaries, ["win_amd64"], requested="manylinux_2_28_x86_64")
    assert unknown.error is not None and "not a Windows tag" in unknown.error


def test_policies_list_the_three_tags() -> None:
    assert [p.tag for p in WindowsPlatform().policies()] == ["win32", "win_amd64", "win_arm64"]


def test_an_older_vendored_msvc_runtime_is_warned_about(zig_chains: dict[str, dict[str, Path]]) -> None:
    # The age comparison works on linker versions; give real binaries the versions Visual C++ 2019
    # (14.29) and 2022 (14.38) linkers write.
    ext = dataclasses.replace(
        read(zig_chains["x86_64"]["ext"]), needed=("msvcp140.dll",), linker_version=(14, 38)
    )
    runtime = dataclasses.replace(read(zig_chains["x86_64"]["libB"]), linker_version=(14, 29))
    verdict = WindowsPlatform().verdict(
        [("pkg/_ext.pyd", ext), ("/opt/old/MSVCP140.dll", runtime)],
        ["win_amd64"],
        vendored=["/opt/old/MSVCP140.dll"],
    )
    [warning] = verdict.warnings
    # A runtime already in the wheel was the packager's choice: not judged.
    assert (
        not WindowsPlatform()
        .verdict([("pkg/_ext.pyd", ext), ("pkg/MSVCP140.dll", runtime)], ["win_amd64"])
        .warnings
    )
    assert warning.startswith("/opt/old/MSVCP140.dll: ") and "14.29" in warning and "14.38" in warning
    newer = dataclasses.replace(runtime, linker_version=(14, 40))
    assert (
        not WindowsPlatform()
        .verdict([("pkg/_ext.pyd", ext), ("/opt/MSVCP140.dll", newer)], ["win_amd64"])
        .warnings
    )
    # MinGW's GNU ld writes its own version (2.x): no comparison is possible.
    gnu = dataclasses.replace(ext, linker_version=(2, 40))
    assert (
        not WindowsPlatform()
        .verdict([("pkg/_ext.pyd", gnu), ("/opt/old/MSVCP140.dll", runtime)], ["win_amd64"])
        .warnings
    )
