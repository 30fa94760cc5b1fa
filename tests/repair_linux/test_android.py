"""Android wheels (PEP 738, ``android_<api>_<abi>``), the shape auditwheel's test_android repairs: an
extension built with the NDK that needs ``libc++_shared.so`` (which no device provides), bionic's
libc/libm/libdl and libpython3.13 (which Android extensions link, unlike manylinux ones).

The files are built with zig for ``<arch>-linux-android`` and carry the NDK's ident note
(tests/fixtures/android_build.py). Nothing here can run (no bionic loader on this host): the tests
check what the loader reads (DT_NEEDED, DT_RUNPATH, DT_SONAME, read back with pyelftools), the tag,
and agreement with auditwheel 6.8, which repairs Android wheels too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from tests.fixtures import android_build
from tests.fixtures.wheels import make_wheel

MODULE = "spam.cpython-313-{arch}-linux-android.so"


def wheelrepair(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    merged = {k: v for k, v in os.environ.items() if k not in ("AUDITWHEEL_LD_LIBRARY_PATH", "LD_LIBRARY_PATH")}
    return subprocess.run(
        [sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True, env={**merged, **(env or {})}
    )


def dynamic(path: Path) -> dict[str, list[str]]:
    """DT_NEEDED / DT_RPATH / DT_RUNPATH / DT_SONAME as pyelftools reads them."""
    out: dict[str, list[str]] = {"needed": [], "rpath": [], "runpath": [], "soname": []}
    with path.open("rb") as fh:
        for section in ELFFile(fh).iter_sections():
            if isinstance(section, DynamicSection):
                for tag in section.iter_tags():
                    kind = tag.entry.d_tag
                    if kind == "DT_NEEDED":
                        out["needed"].append(tag.needed)
                    elif kind == "DT_RPATH":
                        out["rpath"].append(tag.rpath)
                    elif kind == "DT_RUNPATH":
                        out["runpath"].append(tag.runpath)
                    elif kind == "DT_SONAME":
                        out["soname"].append(tag.soname)
    return out


class Project:
    def __init__(self, root: Path, abi: str, api: int, **extension: bool) -> None:
        self.root, self.abi, self.api = root, abi, api
        self.arch = android_build.ZIG_ARCH[abi]
        self.sysroot = android_build.build_sysroot(root / "sysroot", abi, api)
        # Two C++ runtimes, as auditwheel's test keeps one for --ldpaths and one for the environment.
        self.arg = android_build.build_libcxx(root / "arg", abi, api, 1).parent
        self.env = android_build.build_libcxx(root / "env", abi, api, 2).parent
        module = android_build.build_extension(
            root / "build", self.sysroot, self.arg / "libc++_shared.so", abi, api, **extension
        )
        self.wheel = make_wheel(
            root / "dist",
            {module.name: module, "spam_info.py": b"VERSION = 1\n"},
            name="spam",
            version="0.1.0",
            tag=f"cp313-cp313-android_{api}_{abi}",
        )


@pytest.fixture(scope="module")
def arm64(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return Project(tmp_path_factory.mktemp("android-arm64"), "arm64_v8a", 24)


def _unpack(wheel: Path, target: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    return target


def _hash_of(libs: Path) -> str:
    (name,) = [p.name for p in libs.iterdir()]
    match = re.fullmatch(r"libc\+\+_shared-([0-9a-f]{8})\.so", name)
    assert match, name
    return match[1]


def test_the_fixture_is_what_the_ndk_builds(arm64: Project, tmp_path: Path) -> None:
    """The ident note (read by pyelftools) and the needed names auditwheel's wheel has."""
    module = _unpack(arm64.wheel, tmp_path) / MODULE.format(arch="aarch64")
    with module.open("rb") as fh:
        elf = ELFFile(fh)
        assert elf["e_machine"] == "EM_AARCH64"
        notes = [n for s in elf.iter_segments() if s["p_type"] == "PT_NOTE" for n in s.iter_notes()]
    # pyelftools names type 1 after the GNU note that shares the number.
    (ident,) = [n for n in notes if n["n_name"] == "Android" and n["n_type"] in (1, "NT_GNU_ABI_TAG")]
    assert int.from_bytes(ident["n_desc"][:4], "little") == arm64.api
    assert dynamic(module)["needed"] == ["libc++_shared.so", "libc.so", "libm.so", "libdl.so", "libpython3.13.so"]


def test_show_keeps_the_tag_and_lists_libpython_as_system(arm64: Project) -> None:
    shown = wheelrepair("show", "--json", str(arm64.wheel))
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["verdict"]["tag"] == "android_24_arm64_v8a"
    assert report["verdict"]["error"] is None
    text = wheelrepair("show", str(arm64.wheel)).stdout
    assert "libpython3.13.so  system" in text and "libc++_shared.so  missing" in text, text


def test_the_host_is_never_searched(arm64: Project, tmp_path: Path) -> None:
    """A cross-compiled wheel: this machine's LD_LIBRARY_PATH and system directories say nothing about
    a device, so a libc++_shared.so there is not taken (auditwheel searches no host directory either)."""
    result = wheelrepair("repair", "-w", str(tmp_path), str(arm64.wheel), env={"LD_LIBRARY_PATH": str(arm64.arg)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "libc++_shared.so" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not list(tmp_path.glob("*.whl"))
    checked = wheelrepair("check", str(arm64.wheel))
    assert checked.returncode == 1 and "libc++_shared.so" in checked.stdout + checked.stderr


@pytest.mark.parametrize("source", ["arg", "env", "both"])
def test_repair_matches_auditwheel(arm64: Project, tmp_path: Path, source: str) -> None:
    """auditwheel's test_libcxx: --ldpaths, AUDITWHEEL_LD_LIBRARY_PATH (searched first), or both."""
    args, env = [], {}
    if source in ("arg", "both"):
        args = ["--ldpaths", str(arm64.arg)]
    if source in ("env", "both"):
        env = {"AUDITWHEEL_LD_LIBRARY_PATH": str(arm64.env)}
    ours_dir, theirs_dir = tmp_path / "ours", tmp_path / "theirs"
    result = wheelrepair("repair", "-w", str(ours_dir), *args, str(arm64.wheel), env=env)
    assert result.returncode == 0, result.stderr
    (ours,) = ours_dir.iterdir()
    assert ours.name == arm64.wheel.name  # the tag is the wheel's own, never changed
    out = _unpack(ours, tmp_path / "ours-x")
    libs = out / "spam.libs"
    grafted = f"libc++_shared-{_hash_of(libs)}.so"
    expected_source = arm64.env if source in ("env", "both") else arm64.arg
    lib = dynamic(libs / grafted)
    assert lib["soname"] == [grafted] and lib["rpath"] == [] and lib["runpath"] == ["$ORIGIN"]
    module = dynamic(out / MODULE.format(arch="aarch64"))
    assert set(module["needed"]) == {"libc.so", "libdl.so", "libm.so", "libpython3.13.so", grafted}
    assert module["rpath"] == [] and module["runpath"] == ["$ORIGIN/spam.libs"]
    sbom = json.loads((out / "spam-0.1.0.dist-info" / "sboms" / "wheelrepair.cdx.json").read_text())
    assert str(expected_source / "libc++_shared.so") in json.dumps(sbom)

    auditwheel = shutil.which("auditwheel") or str(Path(sys.executable).parent / "auditwheel")
    their_env = {**{k: v for k, v in os.environ.items() if k != "AUDITWHEEL_LD_LIBRARY_PATH"}, **env}
    subprocess.run([auditwheel, "repair", "-w", str(theirs_dir), *args, str(arm64.wheel)], check=True,
                   capture_output=True, env=their_env)
    (theirs,) = theirs_dir.iterdir()
    assert theirs.name == ours.name
    their_out = _unpack(theirs, tmp_path / "theirs-x")
    assert sorted(p.name for p in (their_out / "spam.libs").iterdir()) == [grafted]  # same content hash
    theirs_module = dynamic(their_out / MODULE.format(arch="aarch64"))
    assert set(theirs_module["needed"]) == set(module["needed"])
    assert theirs_module["runpath"] == module["runpath"] and theirs_module["rpath"] == []

    checked = wheelrepair("check", str(ours))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_x86_64_and_an_api_level_that_cannot_vendor(tmp_path: Path) -> None:
    """API 21: bionic follows DT_RUNPATH from level 24 only, so vendoring is refused in one line
    (auditwheel refuses too); x86_64 maps to its own ABI name."""
    project = Project(tmp_path / "p", "x86_64", 21)
    shown = json.loads(wheelrepair("show", "--json", "--lib-path", str(project.arg), str(project.wheel)).stdout)
    assert shown["verdict"]["tag"] is None and "API level 24" in shown["verdict"]["error"]
    result = wheelrepair("repair", "-w", str(tmp_path / "out"), "--lib-path", str(project.arg), str(project.wheel))
    assert result.returncode == 1 and "android_21_x86_64" in result.stderr and "API level 24" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "out").glob("*.whl"))
    # --exclude leaves the runtime external: nothing to vendor, and the wheel keeps its tag.
    excluded = wheelrepair("repair", "-w", str(tmp_path / "out2"), "--exclude", "libc++_shared.so", str(project.wheel))
    assert excluded.returncode == 0, excluded.stderr
    assert [p.name for p in (tmp_path / "out2").iterdir()] == [project.wheel.name]
    wrong = wheelrepair("show", "--json", "--plat", "android_24_arm64_v8a", str(project.wheel))
    assert "built for x86_64" in json.loads(wrong.stdout)["verdict"]["error"]


def test_a_library_newer_than_the_api_level(tmp_path: Path) -> None:
    """libvulkan.so is a system library from API 24: a level-24 wheel may link it, and the same
    extension tagged as level 21 (by --plat) may not. A call from bionic's LIBC_P node (API 28) in a
    level-24 wheel is reported as a warning naming the binary, the version and its level."""
    project = Project(tmp_path / "p", "arm64_v8a", 24, vulkan=True, newer_libc=True)
    shown = json.loads(wheelrepair("show", "--json", "--lib-path", str(project.arg), str(project.wheel)).stdout)
    verdict = shown["verdict"]
    assert verdict["tag"] == "android_24_arm64_v8a", verdict
    module = MODULE.format(arch="aarch64")
    assert any(module in w and "LIBC_P (API 28)" in w for w in verdict["warnings"]), verdict["warnings"]
    older = json.loads(
        wheelrepair("show", "--json", "--plat", "android_21_arm64_v8a", "--exclude", "libc++_shared.so",
                    str(project.wheel)).stdout
    )["verdict"]
    assert older["tag"] is None
    reasons = [r["detail"] for rej in older["rejected"] for r in rej["reasons"]]
    assert any("libvulkan.so" in r and "API level 21" in r for r in reasons), older
