"""Real macOS wheels from PyPI, handled on this (Linux) host: every Mach-O file reads like macholib
reads it, vendored dependencies resolve inside the wheel, ``check`` passes, repair changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.pypi import fetch_wheel
from tests.macho import dyldwalk, sigcheck
from wheelrepair.formats.macho.backend import MachOBackend
from wheelrepair.model import BinaryEdit

pytestmark = pytest.mark.network
BACKEND = MachOBackend()

WHEELS = {
    "pillow-arm64": ("pillow", ["macosx_11_0_arm64"]),
    "pillow-x86_64": ("pillow", ["macosx_10_13_x86_64", "macosx_10_10_x86_64"]),
    "numpy-arm64": ("numpy", ["macosx_14_0_arm64"]),
    "numpy-x86_64": ("numpy", ["macosx_10_13_x86_64", "macosx_10_9_x86_64"]),
    "scipy-arm64": ("scipy", ["macosx_14_0_arm64", "macosx_12_0_arm64"]),
    "scipy-x86_64": ("scipy", ["macosx_14_0_x86_64", "macosx_10_13_x86_64", "macosx_10_9_x86_64"]),
    "lxml-universal2": ("lxml", ["macosx_10_9_universal2"]),
}


def wheelrepair(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True)


@pytest.fixture(scope="module", params=list(WHEELS))
def wheel(request: pytest.FixtureRequest) -> Path:
    requirement, platforms = WHEELS[request.param]
    return fetch_wheel(requirement, platforms)


def test_every_binary_reads_like_macholib(wheel: Path, tmp_path: Path) -> None:
    binaries = dyldwalk.install(wheel, tmp_path)
    assert binaries
    for path in binaries:
        binary = BACKEND.read(path.read_bytes(), path.name)
        theirs = sigcheck.commands(path)
        slices = binary.slices or (binary,)
        assert [s.archs[0] for s in slices] == [t.arch for t in theirs]
        for mine, other in zip(slices, theirs):
            assert list(mine.needed) == other.needed and list(mine.rpaths) == other.rpaths
            assert mine.soname == other.install_name and mine.min_os == other.minos


def test_show_resolves_vendored_dependencies_inside_the_wheel(wheel: Path, tmp_path: Path) -> None:
    result = wheelrepair("show", "--json", str(wheel))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["platform"] == "macos" and report["verdict"]["error"] is None
    assert not [e for e in report["external"] if e.get("action") not in ("system",)], report["external"]
    with zipfile.ZipFile(wheel) as zf:
        vendored = {n.split(".data/platlib/")[-1] for n in zf.namelist() if n.endswith(".dylib")}
    # every library delocate vendored is what some binary's dependency resolved to, inside the wheel
    assert vendored <= {item["path"] for item in report["in_wheel"]}
    root = tmp_path / "installed"
    assert dyldwalk.unresolved(root, dyldwalk.install(wheel, root)) == []


def test_check_passes_and_repair_is_a_no_op(wheel: Path, tmp_path: Path) -> None:
    assert wheelrepair("check", str(wheel)).returncode == 0
    result = wheelrepair("repair", str(wheel), "-w", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    output = Path(json.loads(result.stdout)["output"])
    assert output.name == wheel.name
    with zipfile.ZipFile(wheel) as before, zipfile.ZipFile(output) as after:
        for info in before.infolist():
            if not info.filename.endswith("RECORD"):
                assert before.read(info) == after.read(info.filename), info.filename


def test_real_binaries_take_rpath_edits_and_fresh_signatures(wheel: Path, tmp_path: Path) -> None:
    # Turn each @loader_path/<dir>/libX reference into @rpath/libX plus one LC_RPATH: real Apple-linked
    # files have as little as 48 bytes of header padding, and every one must still edit and re-sign.
    for path in dyldwalk.install(wheel, tmp_path):
        before = BACKEND.read(path.read_bytes(), path.name)
        changes, dirs = {}, set()
        for name in before.needed:
            if name.startswith("@loader_path/"):
                rel, _, leaf = name[len("@loader_path/") :].rpartition("/")
                changes[name] = "@rpath/" + leaf
                dirs.add(rel or ".")
        BACKEND.rewrite(path, BinaryEdit(replace_needed=changes, add_search_paths=tuple(sorted(dirs))))
        BACKEND.finalize(path)
        after = BACKEND.read(path.read_bytes(), path.name)
        assert set(after.needed) == {changes.get(n, n) for n in before.needed}
        assert after.signed == before.signed and after.archs == before.archs
        assert len(sigcheck.verify(path)) == sum(s.signed for s in (before.slices or (before,)))
