"""The two ways repair edits a binary give the same wheel: in memory, compressed ahead on the pool
(libraries up to ``apply.IN_MEMORY_MAX``), and through a scratch file edited by path (larger ones,
and everything past the memory budget). test_repair_chain installs and imports the default (in
memory) result with the build libraries gone. And the digests hashed ahead are never stale."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.elf_project import ChainProject, build_gcc_wheel
from wheelrepair.core import apply
from wheelrepair.core.naming import HashAhead, file_sha256, memoized_sha256
from wheelrepair.core.repair import repair
from wheelrepair.formats.elf.backend import ElfBackend
from wheelrepair.options import RepairOptions


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> ChainProject:
    return build_gcc_wheel(tmp_path_factory.mktemp("paths"), name="pathsdemo", ext_flags=("-g",))


def _contents(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _repair(
    project: ChainProject, out: Path, monkeypatch: pytest.MonkeyPatch, *, scratch: bool, strip: bool
) -> tuple[Path, int]:
    """Repair in process; return the output and how many files were edited by path."""
    by_path = 0
    rewrite = ElfBackend.rewrite

    def counted(self: ElfBackend, path: Path, edit: object) -> None:
        nonlocal by_path
        by_path += 1
        rewrite(self, path, edit)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(ElfBackend, "rewrite", counted)
        if scratch:
            patch.setattr(apply, "IN_MEMORY_MAX", 0)
        result = repair(project.wheel, out, RepairOptions(lib_path=(str(project.libdir),), strip=strip))
    return result.output, by_path


@pytest.mark.parametrize("strip", [False, True], ids=["edit", "strip"])
def test_in_memory_and_scratch_file_edits_give_the_same_wheel(
    project: ChainProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, strip: bool
) -> None:
    memory, by_path = _repair(project, tmp_path / "memory", monkeypatch, scratch=False, strip=strip)
    assert by_path == 0  # every file went through the in-memory path
    files, by_path = _repair(project, tmp_path / "files", monkeypatch, scratch=True, strip=strip)
    assert by_path >= 3  # the extension and both vendored libraries were edited on disk
    ours, theirs = _contents(memory), _contents(files)
    assert ours.keys() == theirs.keys()
    assert ours == theirs
    with zipfile.ZipFile(memory) as zf:
        assert zf.testzip() is None
        assert any(name.startswith("pathsdemo.libs/") for name in zf.namelist())


def test_a_digest_hashed_ahead_is_never_stale(tmp_path: Path) -> None:
    library = tmp_path / "libx.so"
    library.write_bytes(b"\x7fELF" + bytes(1 << 20))
    with HashAhead() as ahead:
        ahead.start(library)
        digest = memoized_sha256(ahead)
        assert digest(library) == hashlib.sha256(library.read_bytes()).hexdigest()
        # Same size, new content and time: the early digest is of another file now.
        library.write_bytes(b"\x7fELF" + bytes(range(256)) * 4096)
        os.utime(library, ns=(1, 1))
        assert ahead.digest(library) is None
        assert memoized_sha256(ahead)(library) == file_sha256(library)
        # A file that vanished before its turn is hashed (and fails) where it is asked for.
        ahead.start(tmp_path / "missing.so")
        assert ahead.digest(tmp_path / "missing.so") is None
