"""The macOS tag a set of real binaries allows: raised minimum OS, --plat errors, missing architectures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.macho_build import LIBB_C, MachOSet, build_dylib, link_bundle, lipo
from wheelrepair.formats.macho.backend import MachOBackend
from wheelrepair.model import Binary
from wheelrepair.policy import platform_for_format
from wheelrepair.policy.macos import MacOSPlatform

BACKEND = MachOBackend()
PLATFORM = MacOSPlatform()


def read(path: Path) -> Binary:
    return BACKEND.read(path.read_bytes(), path.name)


@pytest.fixture(scope="module")
def lib12(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lib12") / "libnew.dylib"
    return build_dylib(out, LIBB_C, "arm64", "@rpath/libnew.dylib", target="aarch64-macos.12.0")


def test_registry_finds_the_platform() -> None:
    assert platform_for_format("macho").name == "macos"


def test_system_paths_are_provided(tree: dict[str, MachOSet]) -> None:
    requester = read(tree["arm64"].liba)
    assert PLATFORM.provides("/usr/lib/libSystem.B.dylib", requester)
    assert PLATFORM.provides(
        "/System/Library/Frameworks/CoreFoundation.framework/Versions/A/CoreFoundation", requester
    )
    assert not PLATFORM.provides("@rpath/libswiftCore.dylib", requester)
    assert not PLATFORM.provides("/usr/local/lib/libpng16.16.dylib", requester)
    assert not PLATFORM.provides("/opt/homebrew/lib/libz.dylib", requester)


def test_matching_binaries_keep_the_wheel_tag(tree: dict[str, MachOSet]) -> None:
    arm = tree["arm64"]
    verdict = PLATFORM.verdict([("pkg/_ext.so", read(arm.ext)), ("pkg.libs/liba.dylib", read(arm.liba))],
                               ["macosx_11_0_arm64"])  # fmt: skip
    assert verdict.tag == "macosx_11_0_arm64" and verdict.tags == ("macosx_11_0_arm64",)
    assert verdict.error is None and not verdict.warnings


def test_newer_library_raises_the_tag_with_a_warning(tree: dict[str, MachOSet], lib12: Path) -> None:
    binaries = [("pkg/_ext.so", read(tree["arm64"].ext)), ("demo.libs/libnew.dylib", read(lib12))]
    verdict = PLATFORM.verdict(binaries, ["macosx_11_0_arm64"])
    assert verdict.tag == "macosx_12_0_arm64" and verdict.error is None
    assert any("demo.libs/libnew.dylib" in w and "12.0" in w for w in verdict.warnings)
    assert verdict.rejected[0].tag == "macosx_11_0_arm64"
    assert verdict.rejected[0].reasons[0].binary == "demo.libs/libnew.dylib"


def test_newer_library_is_an_error_with_plat(tree: dict[str, MachOSet], lib12: Path) -> None:
    binaries = [("pkg/_ext.so", read(tree["arm64"].ext)), ("demo.libs/libnew.dylib", read(lib12))]
    verdict = PLATFORM.verdict(binaries, ["macosx_11_0_arm64"], requested="macosx_11_0_arm64")
    assert verdict.tag is None
    assert verdict.error is not None and "demo.libs/libnew.dylib" in verdict.error and "12.0" in verdict.error
    ok = PLATFORM.verdict(binaries, ["macosx_11_0_arm64"], requested="macosx_12_0_arm64")
    assert ok.tag == "macosx_12_0_arm64" and ok.error is None


def test_universal2_counts_each_slice_for_its_own_arch(tree: dict[str, MachOSet]) -> None:
    fat = tree["fat"]
    binaries = [("pkg/_ext.so", read(fat.ext)), ("pkg.libs/liba.dylib", read(fat.liba))]
    # x86_64 slices need 10.13; the arm64 slices' 11.0 costs nothing (arm64 starts at 11).
    verdict = PLATFORM.verdict(binaries, ["macosx_10_9_universal2"])
    assert verdict.tag == "macosx_10_13_universal2"
    assert any("10.13" in w for w in verdict.warnings)
    assert PLATFORM.verdict(binaries, ["macosx_10_13_universal2"]).tag == "macosx_10_13_universal2"
    assert PLATFORM.verdict(binaries, ["macosx_10_9_x86_64"]).tag == "macosx_10_13_x86_64"


def test_missing_architecture_is_an_error_naming_the_library(tree: dict[str, MachOSet]) -> None:
    binaries = [("pkg/_ext.so", read(tree["fat"].ext)), ("pkg.libs/libb.dylib", read(tree["arm64"].libb))]
    verdict = PLATFORM.verdict(binaries, ["macosx_10_13_universal2"])
    assert verdict.tag is None
    # the refusal names what the file holds, minimums included
    assert verdict.error == (
        "pkg.libs/libb.dylib (arm64 macOS 11.0) lacks x86_64 required by macosx_10_13_universal2"
    )
    intel = PLATFORM.verdict([("pkg/_ext.so", read(tree["x86_64"].ext))], ["macosx_11_0_arm64"])
    assert intel.error == "pkg/_ext.so (x86_64 macOS 10.13) lacks arm64 required by macosx_11_0_arm64"


def test_tag_is_inferred_when_the_wheel_has_none(tree: dict[str, MachOSet]) -> None:
    fat = tree["fat"]
    assert PLATFORM.verdict([("x.so", read(fat.ext))], ["any"]).tag == "macosx_10_13_universal2"
    assert PLATFORM.verdict([("x.so", read(tree["arm64"].ext))], []).tag == "macosx_11_0_arm64"


def test_bad_plat_and_policies() -> None:
    assert PLATFORM.verdict([], ["macosx_11_0_arm64"], requested="manylinux_2_17_x86_64").error
    tags = [p.tag for p in PLATFORM.policies()]
    assert "macosx_11_0_arm64" in tags and "macosx_10_9_universal2" in tags


def test_minor_release_above_11_is_warned_not_raised(tree: dict[str, MachOSet], tmp_path: Path) -> None:
    # An arm64 slice for macOS 11.3 in a universal2 file: no tag can say 11.3 (macOS 11+ tags are X_0),
    # and raising the tag to 11_0 would buy nothing, so the tag stays and the user is warned.
    slices = []
    for arch, version in (("x86_64", "10.13"), ("arm64", "11.3")):
        obj = tree[arch].dir / "ext.o"
        slices.append(
            link_bundle(tmp_path / f"{arch}.so", [obj], arch, [tree[arch].liba], [], min_os=version)
        )
    fat = lipo(tmp_path / "_ext.so", slices)
    verdict = PLATFORM.verdict([("pkg/_ext.so", read(fat))], ["macosx_10_9_universal2"])
    assert verdict.tag == "macosx_10_13_universal2"
    assert any("pkg/_ext.so requires macOS 11.3" in w for w in verdict.warnings)
