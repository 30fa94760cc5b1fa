"""Stripping in pure Python leaves what ``strip -s`` leaves, and the library still loads."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.elf_build import BAR_20, ZIG_TARGETS, ElfFamily, strip_section_headers
from wheelrepair.formats.elf.editor import edit_elf, strip_elf
from wheelrepair.formats.elf.strip import strip_elf_bytes

from .checks import call_bar, copy_family, elflint, readelf, unchanged_entries
from .test_edit import GROW, LONG_FOO

_SECTION = re.compile(r"^\s*\[\s*\d+\]\s+(\S+)")


def section_names(path: Path) -> list[str]:
    return [m.group(1) for line in readelf(path, "-S").splitlines() if (m := _SECTION.match(line))][1:]


def _env(directory: Path) -> dict[str, str]:
    return {**os.environ, "LD_LIBRARY_PATH": str(directory)}


def test_strip_matches_binutils_and_loads(debug_family: ElfFamily, tmp_path: Path) -> None:
    work = copy_family(debug_family.directory, tmp_path / "w")
    bar = work / "libbar.so"
    reference = tmp_path / "reference.so"
    shutil.copy(bar, reference)
    subprocess.run(["strip", "-s", str(reference)], check=True)
    assert any(name.startswith(".debug") for name in section_names(bar)) and ".symtab" in section_names(bar)
    dynamic, lint, size = unchanged_entries(bar), elflint(bar), bar.stat().st_size
    original = bar.read_bytes()

    assert strip_elf(bar)
    assert strip_elf_bytes(original, bar.name) == bar.read_bytes()  # repair strips in memory
    assert section_names(bar) == section_names(reference)
    assert ".symtab" not in section_names(bar) and ".strtab" not in section_names(bar)
    assert bar.stat().st_size < size
    assert unchanged_entries(bar) == dynamic
    assert elflint(bar) - lint == set()
    assert readelf(bar, "-l") == readelf(reference, "-l").replace(str(reference), str(bar))
    assert call_bar(bar, _env(work)) == str(BAR_20)
    data = bar.read_bytes()
    assert not strip_elf(bar)
    assert bar.read_bytes() == data
    assert strip_elf_bytes(data, bar.name) is None


def test_strip_after_growing_edit(debug_family: ElfFamily, tmp_path: Path) -> None:
    work = copy_family(debug_family.directory, tmp_path / "w")
    bar = work / "libbar.so"
    assert edit_elf(bar, GROW)
    assert strip_elf(bar)
    assert ".symtab" not in section_names(bar)
    readelf(bar, "-l", "-S", "-d")
    (work / LONG_FOO).symlink_to("libfoo.so.1")
    assert call_bar(bar) == str(BAR_20)


def test_nothing_to_strip(debug_family: ElfFamily, tmp_path: Path) -> None:
    work = copy_family(debug_family.directory, tmp_path / "w")
    bar = work / "libbar.so"
    strip_section_headers(bar)
    data = bar.read_bytes()
    assert not strip_elf(bar)
    assert bar.read_bytes() == data
    assert strip_elf_bytes(data, bar.name) is None


@pytest.mark.parametrize("target", list(ZIG_TARGETS))
def test_strip_cross_targets(zig_family: Callable[[str], ElfFamily], tmp_path: Path, target: str) -> None:
    work = copy_family(zig_family(target).directory, tmp_path / "w")
    bar = work / "libbar.so"
    assert ".symtab" in section_names(bar)
    dynamic, lint, headers = unchanged_entries(bar), elflint(bar), readelf(bar, "-l")
    assert strip_elf(bar)
    assert ".symtab" not in section_names(bar) and ".strtab" not in section_names(bar)
    assert unchanged_entries(bar) == dynamic
    assert readelf(bar, "-l") == headers
    assert elflint(bar) - lint == set()
