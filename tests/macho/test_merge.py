"""``wheelrepair merge``: thin arm64 and x86_64 wheels into one universal wheel, in the shapes of
delocate's test_fuse.py (fuse_trees, fuse_wheels) and test_scripts.py (test_fuse_wheels). delocate's
fuse needs lipo, which this host lacks, so the fused files are compared with llvm-lipo's output, the
result is walked by dyld's rules and its signatures checked independently, and the tag is compared
with delocate's own retagging code (``delocate.fuse._retag_wheel``, pure Python over macholib)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.macho_build import fat_bundle, fat_dylib, lipo, missing_tools
from tests.fixtures.sbom import prop, read_sbom, sha256
from tests.fixtures.wheels import make_wheel
from tests.macho import dyldwalk, sigcheck
from wheelrepair.formats.macho.fuse import fuse

NEEDS_B = "int b_value(void);\nint ext_value(void) { return b_value() * 2; }\n"
MINIMUMS = {"x86_64": "10.13", "arm64": "11.0"}
TAGS = {"x86_64": "macosx_10_13_x86_64", "arm64": "macosx_11_0_arm64"}


@pytest.fixture(autouse=True, scope="module")
def _toolchain() -> None:
    if missing_tools():
        pytest.skip(f"Mach-O toolchain missing: {', '.join(missing_tools())}")


def wheelrepair(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True, cwd=cwd
    )


def thin_wheel(
    work: Path, arch: str, minimum: str | None = None, extra: dict[str, bytes | Path] | None = None
) -> Path:
    """An unrepaired thin wheel: demo/_ext.so loads libstray.dylib from its build tree."""
    build = work / f"build-{arch}"
    lib = fat_dylib(
        build / "libstray.dylib", {arch: minimum or MINIMUMS[arch]}, str(build / "libstray.dylib")
    )
    ext = fat_bundle(build / "ext" / "_ext.so", {arch: minimum or MINIMUMS[arch]}, NEEDS_B, {arch: lib})
    files: dict[str, bytes | Path] = {
        "demo/__init__.py": b"",
        "demo/data.txt": b"same\n",
        "demo/_ext.so": ext,
    }
    tag = f"macosx_{minimum.replace('.', '_')}_{arch}" if minimum else TAGS[arch]
    return make_wheel(work / f"in-{arch}", {**files, **(extra or {})}, tag=f"cp311-cp311-{tag}")


def repaired(work: Path, wheel: Path) -> Path:
    result = wheelrepair("repair", str(wheel), "-w", str(work / "repaired"), "--json")
    assert result.returncode == 0, result.stderr
    return Path(json.loads(result.stdout)["output"])


def merged(first: Path, second: Path, out: Path) -> tuple[Path, dict[str, object]]:
    result = wheelrepair("merge", str(first), str(second), "-w", str(out), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    return Path(report["output"]), report


def delocate_tag(first: Path, second: Path, output: Path, work: Path) -> str:
    """The tag delocate-merge gives the merged tree, by delocate's own code."""
    fuse = pytest.importorskip("delocate.fuse")
    tree = work / "delocate-tree"
    with zipfile.ZipFile(output) as zf:
        zf.extractall(tree)
    name = fuse._retag_wheel(first, second, tree)
    return str(name).rsplit("-", 1)[1][: -len(".whl")]


def contents(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as zf:
        return {n: zf.read(n) for n in zf.namelist() if not n.endswith(("RECORD", "WHEEL"))}


@pytest.fixture(scope="module")
def thin_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    work = tmp_path_factory.mktemp("merge")
    arm = repaired(work, thin_wheel(work, "arm64"))
    intel = repaired(work, thin_wheel(work, "x86_64"))
    return work, arm, intel


def test_repaired_thin_wheels_become_one_universal2_wheel(thin_pair: tuple[Path, Path, Path]) -> None:
    work, arm, intel = thin_pair
    output, report = merged(arm, intel, work / "out")
    tag = output.name.rsplit("-", 1)[1][: -len(".whl")]
    assert tag == "macosx_10_13_universal2" == delocate_tag(arm, intel, output, work)
    assert report["fused"] == ["demo/_ext.so"]
    # each side's vendored library is kept: the arm64 slice loads one, the x86_64 slice the other
    vendored = [m for m in report["added"] if m.startswith("demo.libs/libstray-")]  # type: ignore[union-attr]
    assert len(vendored) == 1  # the first wheel's is there already, the second's is added
    with zipfile.ZipFile(output) as zf:
        names = [n for n in zf.namelist() if n.startswith("demo.libs/libstray-")]
    assert len(names) == 2
    # one SBOM describes both sides' vendored libraries, with the hashes of the files as merged
    document, files, _ = read_sbom(output)
    by_file = {prop(c, "wheelrepair:file"): c for c in document["components"]}
    assert sorted(by_file) == sorted(names)
    for name in names:
        assert by_file[name]["hashes"] == [{"alg": "SHA-256", "content": sha256(files[name])}]
    assert document["metadata"]["component"]["purl"].endswith(f"?file_name={output.name}")
    root = work / "installed"
    binaries = dyldwalk.install(output, root)
    assert dyldwalk.unresolved(root, binaries) == []
    fused_ext = root / "demo" / "_ext.so"
    assert [s.arch for s in sigcheck.commands(fused_ext)] == ["x86_64", "arm64"]
    arm64_files = [p for p in binaries if any(s.arch == "arm64" for s in sigcheck.commands(p))]
    assert sorted(s.arch for p in arm64_files for s in sigcheck.verify(p)) == ["arm64"] * len(arm64_files)
    assert wheelrepair("check", str(output)).returncode == 0
    # merged the other way round: the same files, the same tag
    back, _ = merged(intel, arm, work / "back")
    assert back.name == output.name and contents(back).keys() == contents(output).keys()


def test_fused_file_is_byte_for_byte_what_llvm_lipo_writes(tmp_path: Path) -> None:
    intel = fat_bundle(tmp_path / "x" / "_ext.so", {"x86_64": "10.13"}, NEEDS_B)
    arm = fat_bundle(tmp_path / "a" / "_ext.so", {"arm64": "11.0"}, NEEDS_B)
    reference = lipo(tmp_path / "lipo.so", [intel, arm]).read_bytes()
    assert fuse(intel.read_bytes(), arm.read_bytes()) == reference
    assert fuse(arm.read_bytes(), intel.read_bytes()) == reference
    # fusing a fat file with one of its own slices changes nothing
    assert fuse(reference, arm.read_bytes()) == reference


def test_slices_needing_different_minimums_get_a_tag_each(tmp_path: Path) -> None:
    arm = repaired(tmp_path, thin_wheel(tmp_path, "arm64", minimum="12.0"))
    intel = repaired(tmp_path, thin_wheel(tmp_path, "x86_64"))
    output, _ = merged(arm, intel, tmp_path / "out")
    tag = output.name.rsplit("-", 1)[1][: -len(".whl")]
    assert tag == "macosx_10_13_x86_64.macosx_12_0_arm64"
    # delocate lists the same tags in the order it met the files; the order means nothing to pip
    assert set(tag.split(".")) == set(delocate_tag(intel, arm, output, tmp_path).split("."))
    assert wheelrepair("check", str(output)).returncode == 0


def test_unrepaired_thin_wheels_merge_then_repair(tmp_path: Path) -> None:
    # each slice of the fused extension names its own build tree's library; repair vendors both
    arm, intel = thin_wheel(tmp_path, "arm64"), thin_wheel(tmp_path, "x86_64")
    result = wheelrepair("merge", str(arm), str(intel), "-w", str(tmp_path / "out"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert any("not self-contained yet" in w for w in report["warnings"])
    fixed = repaired(tmp_path, Path(report["output"]))
    assert fixed.name.endswith("-macosx_10_13_universal2.whl")
    root = tmp_path / "installed"
    assert dyldwalk.unresolved(root, dyldwalk.install(fixed, root)) == []


def test_identical_wheels_merge_to_the_same_contents(
    thin_pair: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    # delocate's test_fuse_wheels: fusing a wheel with itself is no error and changes nothing
    _work, arm, _intel = thin_pair
    copy = tmp_path / "copy" / arm.name
    copy.parent.mkdir()
    shutil.copyfile(arm, copy)
    output, report = merged(arm, copy, tmp_path / "out")
    assert output.name == arm.name and report["fused"] == [] and report["added"] == []
    assert contents(output) == contents(arm)


def test_pure_wheels_merge_to_the_same_contents(tmp_path: Path) -> None:
    files: dict[str, bytes | Path] = {"demo/__init__.py": b"x = 1\n"}
    first = make_wheel(tmp_path / "a", files, tag="py3-none-any", root_is_purelib=True)
    second = make_wheel(tmp_path / "b", files, tag="py3-none-any", root_is_purelib=True)
    output, _ = merged(first, second, tmp_path / "out")
    assert output.name == first.name and contents(output) == contents(first)


def test_a_file_only_one_wheel_holds_is_kept(tmp_path: Path) -> None:
    arm = repaired(tmp_path, thin_wheel(tmp_path, "arm64", extra={"demo/only_arm.txt": b"arm\n"}))
    intel = repaired(tmp_path, thin_wheel(tmp_path, "x86_64", extra={"demo/only_intel.txt": b"intel\n"}))
    output, _ = merged(arm, intel, tmp_path / "out")
    files = contents(output)
    assert files["demo/only_arm.txt"] == b"arm\n" and files["demo/only_intel.txt"] == b"intel\n"


def test_a_differing_file_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    arm = thin_wheel(tmp_path, "arm64")
    intel = thin_wheel(tmp_path, "x86_64", extra={"demo/data.txt": b"different\n"})
    before = arm.read_bytes(), intel.read_bytes()
    result = wheelrepair("merge", str(arm), str(intel), "-w", str(tmp_path / "out"))
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "demo/data.txt differs between the two wheels" in line
    assert not list((tmp_path / "out").glob("*.whl")) and (arm.read_bytes(), intel.read_bytes()) == before


def test_two_builds_for_one_cpu_cannot_be_fused(tmp_path: Path) -> None:
    first = thin_wheel(tmp_path / "one", "x86_64")
    second = thin_wheel(tmp_path / "two", "x86_64", minimum="10.15")
    renamed = second.with_name(first.name.replace("10_13", "10_15"))
    second.rename(renamed)
    result = wheelrepair("merge", str(first), str(renamed), "-w", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "demo/_ext.so: both files hold a different x86_64 slice" in result.stderr


def test_different_projects_are_a_usage_error(tmp_path: Path) -> None:
    files: dict[str, bytes | Path] = {"demo/__init__.py": b""}
    first = make_wheel(tmp_path / "a", files, tag="cp311-cp311-macosx_11_0_arm64")
    second = make_wheel(tmp_path / "b", files, version="2.0", tag="cp311-cp311-macosx_10_13_x86_64")
    result = wheelrepair("merge", str(first), str(second), "-w", str(tmp_path / "out"))
    assert result.returncode == 2 and "version differs (1.0 and 2.0)" in result.stderr


def test_a_library_at_the_same_path_in_both_is_fused(tmp_path: Path) -> None:
    # delocate's own layout: both thin wheels vendor <pkg>/.dylibs/libstray.dylib under one name
    wheels = []
    for arch in ("arm64", "x86_64"):
        build = tmp_path / f"b-{arch}"
        lib = fat_dylib(
            build / "libstray.dylib", {arch: MINIMUMS[arch]}, "@loader_path/.dylibs/libstray.dylib"
        )
        ext = fat_bundle(build / "ext" / "_ext.so", {arch: MINIMUMS[arch]}, NEEDS_B, {arch: lib})
        files: dict[str, bytes | Path] = {"demo/_ext.so": ext, "demo/.dylibs/libstray.dylib": lib}
        wheels.append(make_wheel(tmp_path / f"in-{arch}", files, tag=f"cp311-cp311-{TAGS[arch]}"))
    output, report = merged(wheels[0], wheels[1], tmp_path / "out")
    assert report["fused"] == ["demo/.dylibs/libstray.dylib", "demo/_ext.so"]
    assert output.name.endswith("-macosx_10_13_universal2.whl")
    root = tmp_path / "installed"
    binaries = dyldwalk.install(output, root)
    assert all([s.arch for s in sigcheck.commands(p)] == ["x86_64", "arm64"] for p in binaries)
    assert dyldwalk.unresolved(root, binaries) == []
