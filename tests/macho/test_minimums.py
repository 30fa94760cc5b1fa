"""Per-architecture minimum macOS versions and MACOSX_DEPLOYMENT_TARGET, in the shapes of delocate's own
tests (test_scripts.py: fix_name, verify_name*, macos_release_*; test_delocating.py), with real
binaries built here and delocate's own tag computation (``_calculate_minimum_wheel_name``, which
reads load commands with macholib and needs no otool) as the truth where it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.version import Version

from tests.fixtures.macho_build import fat_bundle, fat_dylib, missing_tools
from tests.fixtures.wheels import make_wheel

delocating = pytest.importorskip("delocate.delocating")

NEEDS_B = "int b_value(void);\nint ext_value(void) { return b_value() * 2; }\n"


@pytest.fixture(autouse=True, scope="module")
def _toolchain() -> None:
    if missing_tools():
        pytest.skip(f"Mach-O toolchain missing: {', '.join(missing_tools())}")


def wheelrepair(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "MACOSX_DEPLOYMENT_TARGET"}
    return subprocess.run(
        [sys.executable, "-m", "wheelrepair", *args],
        capture_output=True,
        text=True,
        env={**environ, **(env or {})},
    )


def delocate_name(wheel_name: str, wheel: Path, unpacked: Path, target: str | None) -> tuple[str, set[str]]:
    """delocate's tag for the files of ``wheel`` (and the libraries it would refuse), by its own code."""
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(unpacked)
    name, bad = delocating._calculate_minimum_wheel_name(
        wheel_name, unpacked, Version(target) if target else None
    )
    return name.rsplit("-", 1)[1][: -len(".whl")], {p.name for p, _v in bad}


@dataclass(frozen=True)
class Case:
    """One wheel: an extension with the given slices, optionally a library it loads from the build
    tree (vendored by repair), the tag it carries, and MACOSX_DEPLOYMENT_TARGET."""

    ext: dict[str, str]
    tag: str
    lib: dict[str, str] | None = None
    target: str | None = None
    #: what wheelrepair writes, when it differs from delocate by design (docs/macos.md says why)
    ours: str | None = None


CASES = {
    # the example: Intel users on 10.9-11 keep the wheel
    "universal2-slices-differ": Case({"x86_64": "10.9", "arm64": "12.0"}, "macosx_10_9_universal2"),
    "universal2-arm64-at-11": Case({"x86_64": "10.9", "arm64": "11.0"}, "macosx_10_9_universal2"),
    # test_delocate_wheel_fix_name: a 12.0 library renames an x86_64 wheel
    "fix-name-x86_64": Case({"x86_64": "10.9"}, "macosx_10_9_x86_64", lib={"x86_64": "12.0"}),
    # a vendored library whose arm64 slice needs 12.0 splits the universal2 tag
    "vendored-arm64-12": Case(
        {"x86_64": "10.13", "arm64": "11.0"},
        "macosx_10_9_universal2",
        lib={"x86_64": "10.13", "arm64": "12.0"},
    ),
    # test_delocate_wheel_macos_release_minor_version: target 13.1 tags 13.0
    "target-minor-release": Case({"x86_64": "10.13"}, "macosx_10_9_x86_64", target="13.1"),
    # test_delocate_wheel_verify_name_universal2_ok: arm64 at 11.0 satisfies a 10.9 target
    "target-universal2-ok": Case(
        {"x86_64": "10.9", "arm64": "11.0"}, "macosx_10_9_universal2", target="10.9"
    ),
    "target-raises-both": Case({"x86_64": "10.9", "arm64": "11.0"}, "macosx_10_9_universal2", target="12.0"),
    # test_delocate_wheel_macos_release_version_warning: 12.1 is tagged 12.0, with a warning
    "minor-release-warning": Case({"x86_64": "10.9"}, "macosx_10_9_x86_64", lib={"x86_64": "12.1"}),
    "arm64-thin-12": Case({"arm64": "12.0"}, "macosx_11_0_arm64"),
    "both-slices-12": Case({"x86_64": "12.0", "arm64": "12.0"}, "macosx_10_9_universal2"),
    # delocate packs this into macosx_12_0_universal2, refusing arm64 Macs on macOS 11 that could load it
    "x86_64-newer-than-arm64": Case(
        {"x86_64": "12.0", "arm64": "11.0"},
        "macosx_10_9_universal2",
        ours="macosx_12_0_x86_64.macosx_11_0_arm64",
    ),
}
REFUSED = {
    # test_delocate_wheel_verify_name_universal2_verify_crash(_env_var): arm64 library at 12.0, target 10.9
    "target-arm64-12": Case(
        {"x86_64": "10.9", "arm64": "11.0"},
        "macosx_10_9_universal2",
        lib={"x86_64": "10.9", "arm64": "12.0"},
        target="10.9",
    ),
    # test_delocate_wheel_verify_name: target 10.6 below the binaries' 10.9
    "target-below-binaries": Case({"x86_64": "10.9"}, "macosx_10_6_x86_64", target="10.6"),
    "target-below-minor": Case({"x86_64": "12.1"}, "macosx_10_9_x86_64", target="12.0"),
}


def build(case: Case, work: Path) -> Path:
    libs = None
    if case.lib:
        lib = fat_dylib(work / "build" / "libnew.dylib", case.lib, str(work / "build" / "libnew.dylib"))
        libs = dict.fromkeys(case.ext, lib)
    ext = fat_bundle(work / "ext" / "_ext.so", case.ext, NEEDS_B, libs)
    return make_wheel(
        work / "in", {"demo/__init__.py": b"", "demo/_ext.so": ext}, tag=f"cp311-cp311-{case.tag}"
    )


@pytest.mark.parametrize("name", list(CASES))
def test_tag_agrees_with_delocate(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    wheel = build(case, tmp_path)
    env = {"MACOSX_DEPLOYMENT_TARGET": case.target} if case.target else {}
    result = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"), "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    output = Path(report["output"])
    theirs, refused = delocate_name(wheel.name, output, tmp_path / "unpacked", case.target)
    assert refused == set()
    tag = output.name.rsplit("-", 1)[1][: -len(".whl")]
    # delocate lists split tags in the order it met the files; the order means nothing to pip
    assert set(tag.split(".")) == set((case.ours or theirs).split("."))
    if case.ours:
        assert set(theirs.split(".")) != set(case.ours.split("."))  # the documented difference holds
    with zipfile.ZipFile(output) as zf:
        wheel_file = zf.read("demo-1.0.dist-info/WHEEL").decode()
    assert sorted(
        line.split("-")[-1] for line in wheel_file.splitlines() if line.startswith("Tag:")
    ) == sorted(tag.split("."))
    assert wheelrepair("check", str(output)).returncode == 0
    if name == "minor-release-warning":
        assert any("requires macOS 12.1" in w for w in report["warnings"])


@pytest.mark.parametrize("name", list(REFUSED))
def test_target_refusal_agrees_with_delocate(name: str, tmp_path: Path) -> None:
    case = REFUSED[name]
    wheel = build(case, tmp_path)
    out = tmp_path / "out"
    result = wheelrepair(
        "repair", str(wheel), "-w", str(out), env={"MACOSX_DEPLOYMENT_TARGET": case.target or ""}
    )
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert "MACOSX_DEPLOYMENT_TARGET=" in line and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists() or not list(out.glob("*.whl"))
    # delocate refuses the same files (it reads the wheel with the library already vendored)
    repaired = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "free"), "--json")
    assert repaired.returncode == 0, repaired.stderr
    _tag, refused = delocate_name(
        wheel.name, Path(json.loads(repaired.stdout)["output"]), tmp_path / "u", case.target
    )
    # one file each; ours names it as found before vendoring (libnew.dylib), delocate's as vendored
    (theirs,) = refused
    assert theirs.split("-")[0].split(".")[0] in line, (theirs, line)
    if case.lib:
        assert "requires macOS 12.0 (arm64)" in line and "MACOSX_DEPLOYMENT_TARGET=12.0" in line


def test_show_and_needed_give_each_slice_its_minimum(tmp_path: Path) -> None:
    case = CASES["universal2-slices-differ"]
    wheel = build(case, tmp_path)
    shown = wheelrepair("show", "--json", str(wheel))
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    (binary,) = report["binaries"]
    assert binary["min_os_by_arch"] == {"x86_64": "10.9", "arm64": "12.0"}
    assert report["tag"] == "macosx_10_9_x86_64.macosx_12_0_arm64"
    assert report["verdict"]["tags"] == ["macosx_10_9_x86_64", "macosx_12_0_arm64"]
    human = wheelrepair("show", str(wheel)).stdout
    assert "x86_64 10.9, arm64 12.0" in human
    with zipfile.ZipFile(wheel) as zf:
        (tmp_path / "_ext.so").write_bytes(zf.read("demo/_ext.so"))
    needed = wheelrepair("needed", "--json", str(tmp_path / "_ext.so"))
    assert json.loads(needed.stdout)["min_os_by_arch"] == {"x86_64": "10.9", "arm64": "12.0"}
    theirs = {arch.lower(): str(v) for arch, v in delocating._get_macos_min_version(tmp_path / "_ext.so")}
    assert theirs == json.loads(needed.stdout)["min_os_by_arch"]
    assert "min_os: x86_64 10.9, arm64 12.0" in wheelrepair("needed", str(tmp_path / "_ext.so")).stdout


def test_split_tag_repairs_again_to_itself_and_only_plat_keeps_it(tmp_path: Path) -> None:
    wheel = build(CASES["universal2-slices-differ"], tmp_path)
    first = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "a"), "--only-plat", "--json")
    assert first.returncode == 0, first.stderr
    output = Path(json.loads(first.stdout)["output"])
    assert output.name.endswith("-macosx_10_9_x86_64.macosx_12_0_arm64.whl")
    again = wheelrepair("repair", str(output), "-w", str(tmp_path / "b"), "--json")
    assert again.returncode == 0, again.stderr
    assert Path(json.loads(again.stdout)["output"]).name == output.name
    # --plat with the compressed set is accepted; a 10.9 universal2 promise is refused naming the slice
    assert (
        wheelrepair(
            "repair", str(wheel), "-w", str(tmp_path / "c"), "--plat", output.name.split("-")[-1][:-4]
        ).returncode
        == 0
    )
    strict = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "d"), "--plat", "macosx_10_9_universal2")
    assert strict.returncode == 1 and "demo/_ext.so requires macOS 12.0 (arm64)" in strict.stderr


def test_bad_deployment_target_is_a_usage_error(tmp_path: Path) -> None:
    wheel = build(Case({"x86_64": "10.9"}, "macosx_10_9_x86_64"), tmp_path)
    result = wheelrepair(
        "repair", str(wheel), "-w", str(tmp_path / "out"), env={"MACOSX_DEPLOYMENT_TARGET": "ten"}
    )
    assert result.returncode == 2 and "MACOSX_DEPLOYMENT_TARGET='ten'" in result.stderr


def test_library_lacking_an_arch_names_its_minimum(tmp_path: Path) -> None:
    # a 12.0 arm64-only library in a universal2 wheel: the refusal says what it holds, 12.0 included
    lib = fat_dylib(
        tmp_path / "build" / "libarm.dylib", {"arm64": "12.0"}, str(tmp_path / "build" / "libarm.dylib")
    )
    wheel = make_wheel(
        tmp_path / "in",
        {
            "demo/__init__.py": b"",
            "demo/libarm.dylib": lib,
            "demo/_ext.so": fat_bundle(tmp_path / "e" / "_ext.so", {"x86_64": "10.9", "arm64": "11.0"}),
        },
        tag="cp311-cp311-macosx_10_9_universal2",
    )
    result = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "demo/libarm.dylib (arm64 macOS 12.0) lacks x86_64" in result.stderr


def test_deployment_target_comes_from_the_environment_and_wheelrepair_settings_win(tmp_path: Path) -> None:
    from wheelrepair.config import load_options

    (tmp_path / "pyproject.toml").write_text('[tool.wheelrepair]\nrequire-archs = "universal2"\n')
    plain = load_options({}, cwd=tmp_path, environ={"MACOSX_DEPLOYMENT_TARGET": "10.13"})
    assert plain.deployment_target == "10.13" and plain.require_archs == "universal2"
    ours = {"MACOSX_DEPLOYMENT_TARGET": "10.13", "WHEELREPAIR_DEPLOYMENT_TARGET": "11.0"}
    assert load_options({}, cwd=tmp_path, environ=ours).deployment_target == "11.0"
    given = load_options({"require_archs": "x86_64"}, cwd=tmp_path, environ={})
    assert given.require_archs == "x86_64" and given.deployment_target is None


def test_tag_promising_a_missing_arch_is_refused_as_delocate_does(tmp_path: Path) -> None:
    # test_delocate_wheel_missing_architecture: an "intel" wheel with no i386 code
    wheel = build(Case({"x86_64": "10.9"}, "macosx_10_9_intel"), tmp_path)
    result = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "demo/_ext.so (x86_64 macOS 10.9) lacks i386 required by macosx_10_9_intel" in result.stderr
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp_path / "unpacked")
    with pytest.raises(delocating.DelocationError, match="required architecture: 'i386'"):
        delocating._calculate_minimum_wheel_name(wheel.name, tmp_path / "unpacked", None)
