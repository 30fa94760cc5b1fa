"""The members a repair cannot change are copied into its output while the scan's workers read the
binaries (core/early.py): on a real gcc-built wheel large enough for the parallel scan, the output
holds the same members with the same bytes, those members first and in archive order, the binaries
after them; it installs and imports with the build libraries out of reach; a refused repair leaves
nothing in the output directory; and a copy the plan contradicts is thrown away."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.elf_project import ChainProject, build_gcc_wheel
from tests.fixtures.venv import fresh_venv, install
from tests.fixtures.wheels import make_wheel
from wheelrepair.core import scan
from wheelrepair.core.early import EarlyCopy
from wheelrepair.wheel.archive import WheelArchive

#: Enough uncompressed bytes for the parallel scan (scan._PARALLEL_BYTES), in members that pack
#: small (a random 64 bytes per 4 KiB: far from the zip-bomb ratio the reader refuses).
_DATA_MEMBERS = 7


def _semi_random(size: int) -> bytes:
    block = 4096
    return b"".join(os.urandom(64) + bytes(block - 64) for _ in range(size // block))


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> ChainProject:
    root = tmp_path_factory.mktemp("early")
    small = build_gcc_wheel(root, name="big")
    with zipfile.ZipFile(small.wheel) as zf:
        files: dict[str, bytes | Path] = {
            i.filename: zf.read(i) for i in zf.infolist() if ".dist-info/" not in i.filename
        }
    share = scan._PARALLEL_BYTES // _DATA_MEMBERS + 4096
    # Data before and after the extension in archive order, and small files in between.
    ordered: dict[str, bytes | Path] = {}
    for i in range(_DATA_MEMBERS):
        ordered[f"big/data/part{i}.bin"] = _semi_random(share)
        ordered[f"big/notes{i}.txt"] = f"note {i}\n".encode()
        if i == 3:
            ordered.update(files)
    wheel = make_wheel(root / "wheel", ordered, name="big", tag=small.wheel.name[:-4].split("-", 2)[2])
    return ChainProject(wheel, small.libdir)


def _repair(project: ChainProject, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wheelrepair", "repair", str(project.wheel), "--lib-path", str(project.libdir),
         "-w", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip


def test_output_starts_with_the_unchanging_members_in_archive_order(large: ChainProject, tmp_path: Path) -> None:
    out = tmp_path / "wheelhouse"
    out.mkdir()  # an existing directory: the early copy only writes into one
    result = _repair(large, out)
    assert result.returncode == 0, result.stderr
    [wheel] = out.iterdir()  # nothing else is left behind
    with zipfile.ZipFile(large.wheel) as before, zipfile.ZipFile(wheel) as after:
        source = [i.filename for i in before.infolist()]
        written = [i.filename for i in after.infolist()]
        assert after.testzip() is None
        data = [m for m in source if "/data/" in m or m.endswith(".txt")]
        # The data and text members come first, in archive order; the extension and __init__.py after.
        assert written[: len(data)] == data
        rest = written[len(data) :]
        assert any(m.endswith(".so") and m.startswith("big/_chain") for m in rest)
        assert "big/__init__.py" in rest
        assert rest[-1].endswith(".dist-info/RECORD")
        for member in data:
            assert after.read(member) == before.read(member)
            assert after.getinfo(member).CRC == before.getinfo(member).CRC
    python = fresh_venv(tmp_path / "venv")
    install(python, wheel)
    moved = large.libdir.with_name("lib-away")
    large.libdir.rename(moved)
    try:
        answer = subprocess.run([str(python), "-c", "import big; print(big.answer())"], capture_output=True,
                                text=True, cwd=tmp_path)  # fmt: skip
    finally:
        moved.rename(large.libdir)
    assert answer.stdout.strip() == "42", answer.stderr


def test_a_refused_repair_leaves_the_output_directory_as_it_was(large: ChainProject, tmp_path: Path) -> None:
    out = tmp_path / "wheelhouse"
    out.mkdir()
    (out / "other.txt").write_text("kept\n")
    away = large.libdir.with_name("lib-gone")
    large.libdir.rename(away)  # the build-machine RUNPATH and --lib-path now lead nowhere
    try:
        result = _repair(large, out)
    finally:
        away.rename(large.libdir)
    assert result.returncode == 1
    assert "libA.so.1" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["other.txt"]


def test_a_copy_the_plan_contradicts_is_thrown_away(large: ChainProject, tmp_path: Path) -> None:
    with WheelArchive.open(large.wheel) as archive:
        early = EarlyCopy(archive, tmp_path)
        early.offer("big/notes0.txt")
        early.offer("big/__init__.py")  # a plan may patch it: never copied early
        early.offer(f"{archive.metadata.dist_info}/METADATA")  # nor the dist-info
        [part] = tmp_path.iterdir()
        assert part.name.endswith(".part")
        kept = early.take({"big/notes1.txt"})
        assert kept is not None and kept.copied == {"big/notes0.txt"}
        kept.discard()
        early = EarlyCopy(archive, tmp_path)
        early.offer("big/notes0.txt")
        assert early.take({"big/notes0.txt"}) is None
        assert list(tmp_path.iterdir()) == []
