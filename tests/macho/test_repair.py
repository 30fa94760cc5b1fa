"""Repair unrepaired macOS wheels built here (thin arm64, thin x86_64, universal2) on this Linux host:
the output loads by dyld's rules from inside the wheel, every edited file has a valid ad-hoc signature,
the tag is right, and repairing the output again changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.macho_build import LIBB_C, MachOSet, build_dylib, compile_object, link_bundle
from tests.fixtures.wheels import make_wheel
from tests.macho import dyldwalk, sigcheck

TAGS = {
    "arm64": ("cp311-cp311-macosx_11_0_arm64", "macosx_11_0_arm64"),
    # zig's x86_64 target is macOS 10.13, above the wheel's 10.9: repair raises the tag.
    "x86_64": ("cp311-cp311-macosx_10_9_x86_64", "macosx_10_13_x86_64"),
    "fat": ("cp311-cp311-macosx_10_9_universal2", "macosx_10_13_universal2"),
}


def wheelrepair(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True)


def unrepaired(tree: dict[str, MachOSet], kind: str, out: Path) -> Path:
    files = tree[kind]
    members: dict[str, bytes | Path] = {
        "demo/__init__.py": b"",
        "demo/_ext.so": files.ext,
        "demo/sub/_ext_roomy.so": files.ext_roomy,
    }
    return make_wheel(out, members, tag=TAGS[kind][0])


@pytest.fixture(scope="module", params=list(TAGS))
def repaired(
    request: pytest.FixtureRequest, tree: dict[str, MachOSet], tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, Path]:
    kind = request.param
    work = tmp_path_factory.mktemp(f"repair-{kind}")
    wheel = unrepaired(tree, kind, work / "in")
    result = wheelrepair("repair", str(wheel), "-w", str(work / "out"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    return kind, Path(report["output"]), work


def test_output_loads_from_inside_the_wheel(repaired: tuple[str, Path, Path]) -> None:
    kind, wheel, work = repaired
    root = work / "installed"
    binaries = dyldwalk.install(wheel, root)
    assert any(p.name.startswith("liba-") for p in binaries) and any(
        p.name.startswith("libb-") for p in binaries
    )
    assert dyldwalk.unresolved(root, binaries) == []


def test_every_signed_file_has_a_valid_signature(repaired: tuple[str, Path, Path]) -> None:
    kind, wheel, work = repaired
    root = work / "installed-sig"
    binaries = dyldwalk.install(wheel, root)
    signed = [s for path in binaries for s in sigcheck.verify(path)]
    if kind == "x86_64":
        assert signed == []  # unsigned stays unsigned
    else:
        assert len(signed) == len(binaries)  # every arm64 slice
        assert all(s.arch == "arm64" for s in signed)


def test_tag_is_right(repaired: tuple[str, Path, Path]) -> None:
    kind, wheel, _work = repaired
    assert wheel.name.endswith(f"-{TAGS[kind][1]}.whl")


def test_check_passes_and_repair_again_is_a_no_op(repaired: tuple[str, Path, Path]) -> None:
    _kind, wheel, work = repaired
    assert wheelrepair("check", str(wheel)).returncode == 0
    again = wheelrepair("repair", str(wheel), "-w", str(work / "again"), "--json")
    assert again.returncode == 0, again.stderr
    output = Path(json.loads(again.stdout)["output"])
    with zipfile.ZipFile(wheel) as first, zipfile.ZipFile(output) as second:
        for name in first.namelist():
            if not name.endswith("RECORD"):
                assert first.read(name) == second.read(name), name


def test_unrepaired_wheel_fails_the_independent_walk(tree: dict[str, MachOSet], tmp_path: Path) -> None:
    wheel = unrepaired(tree, "arm64", tmp_path / "in")
    root = tmp_path / "installed"
    problems = dyldwalk.unresolved(root, dyldwalk.install(wheel, root))
    assert len(problems) == 2 and all("liba.dylib" in p for p in problems)


def test_missing_weak_dependency_is_reported_not_fatal(tree: dict[str, MachOSet], tmp_path: Path) -> None:
    obj = compile_object(tmp_path / "w.o", "int w(void) { return 1; }\n", "arm64")
    # libb is linked weakly and nothing in the bundle says where @rpath is: dyld would skip it.
    bundle = link_bundle(tmp_path / "_w.so", [obj], "arm64", [], [], weak_libs=[tree["arm64"].libb])
    wheel = make_wheel(tmp_path / "in", {"demo/_w.so": bundle}, tag=TAGS["arm64"][0])
    shown = wheelrepair("show", "--json", str(wheel))
    assert shown.returncode == 0, shown.stderr
    (missing,) = [e for e in json.loads(shown.stdout)["external"] if e["action"] == "missing"]
    assert missing["name"] == "@rpath/libb.dylib" and missing["weak"] is True
    assert wheelrepair("check", str(wheel)).returncode == 0
    repaired = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"))
    assert repaired.returncode == 0
    # Left as is, but said: where the user's machine has the library, it is loaded from there.
    (warning,) = [line for line in repaired.stderr.splitlines() if "weak dependency" in line]
    assert "demo/_w.so" in warning and "@rpath/libb.dylib" in warning


def test_library_for_a_newer_macos_raises_the_tag_or_fails_with_plat(tmp_path: Path) -> None:
    lib = build_dylib(
        tmp_path / "libnew.dylib",
        LIBB_C,
        "arm64",
        str(tmp_path / "libnew.dylib"),
        target="aarch64-macos.12.0",
    )
    obj = compile_object(tmp_path / "n.o", "int b_value(void);\nint n(void) { return b_value(); }\n", "arm64")
    bundle = link_bundle(tmp_path / "_n.so", [obj], "arm64", [lib], [])
    wheel = make_wheel(tmp_path / "in", {"demo/_n.so": bundle}, tag=TAGS["arm64"][0])
    raised = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"), "--json")
    assert raised.returncode == 0, raised.stderr
    report = json.loads(raised.stdout)
    assert Path(report["output"]).name.endswith("-macosx_12_0_arm64.whl")
    assert any("libnew.dylib requires macOS 12.0" in w for w in report["warnings"])  # names the library
    strict = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "strict"), "--plat", "macosx_11_0_arm64")
    assert strict.returncode == 1
    assert "libnew" in strict.stderr and "12.0" in strict.stderr
    assert "tag it macosx_12_0_arm64" in strict.stderr  # the fix, in words that hold for check too
    assert not (tmp_path / "strict").exists() or not list((tmp_path / "strict").iterdir())
