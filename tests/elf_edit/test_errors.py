"""Damaged input: every failure is a one-line WheelRepairError naming the file, never a traceback,
and the file is never left half-written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.elf_build import ElfFamily
from wheelrepair.errors import InvalidBinary, WheelRepairError
from wheelrepair.formats.elf.editor import describe_elf, edit_elf, strip_elf

from .test_edit import GROW


def test_not_elf(tmp_path: Path) -> None:
    path = tmp_path / "x.so"
    path.write_bytes(b"MZ" + bytes(200))
    with pytest.raises(InvalidBinary, match=f"^{path}: not an ELF file$"):
        edit_elf(path, GROW)
    with pytest.raises(InvalidBinary, match="not an ELF file"):
        strip_elf(path)


@pytest.mark.parametrize("variant", ["default", "lld"])
def test_damaged_files_fail_cleanly(
    gcc_family: Callable[[str], ElfFamily], tmp_path: Path, variant: str
) -> None:
    original = (gcc_family(variant).directory / "libbar.so").read_bytes()
    damaged: list[bytes] = [original[:cut] for cut in range(0, 0x600, 24)]
    for at in range(0x10, 0x400, 4):
        data = bytearray(original)
        data[at : at + 4] = b"\xff\xff\xff\x7f"
        damaged.append(bytes(data))
    path = tmp_path / "lib.so"
    failures = 0
    for data in damaged:
        path.write_bytes(data)
        try:
            describe_elf(data, str(path))
            edit_elf(path, GROW)
            strip_elf(path)
        except WheelRepairError as err:
            failures += 1
            assert str(err).startswith(f"{path}: ") and "\n" not in str(err)
            assert path.read_bytes() == data
        assert sorted(p.name for p in tmp_path.iterdir()) == ["lib.so"]
    assert failures > len(damaged) // 4
