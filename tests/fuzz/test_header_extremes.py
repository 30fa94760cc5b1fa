"""Bounded work and memory whatever the headers claim: every count, size and offset field the
readers follow, set to extremes in a real binary, is read (or refused) in well under a second and a
few MiB, and the commands end in one line. Field positions come from the format specifications."""

from __future__ import annotations

import contextlib
import struct
import time
import tracemalloc
from pathlib import Path

import pytest

from tests.fuzz.driver import run
from tests.fuzz.mutate import Mutation
from tests.fuzz.seeds import Seed
from wheelrepair.errors import InvalidBinary
from wheelrepair.formats import backend_named

EXTREMES = (0, 1, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)
#: Far above what reading a 20 KiB binary needs, far below what a believed size would cost.
MAX_PEAK = 32 << 20
MAX_SECONDS = 1.0


def elf_fields(data: bytes) -> dict[str, tuple[int, int]]:
    """ELF64 header fields, and the PT_DYNAMIC program header's offset and size."""
    fields = {"e_phoff": (0x20, 8), "e_shoff": (0x28, 8), "e_phentsize": (0x36, 2), "e_phnum": (0x38, 2),
              "e_shentsize": (0x3A, 2), "e_shnum": (0x3C, 2), "e_shstrndx": (0x3E, 2)}  # fmt: skip
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for index in range(phnum):
        at = phoff + index * phentsize
        if struct.unpack_from("<I", data, at)[0] == 2:  # PT_DYNAMIC
            fields.update({"dynamic.p_offset": (at + 8, 8), "dynamic.p_filesz": (at + 32, 8)})
    return fields


def macho_fields(data: bytes) -> dict[str, tuple[int, int]]:
    if data[:4] == b"\xca\xfe\xba\xbe":  # fat header, big-endian
        return {"nfat_arch": (4, 4), "arch0.offset": (16, 4), "arch0.size": (20, 4), "arch1.offset": (36, 4)}
    return {"ncmds": (16, 4), "sizeofcmds": (20, 4), "cmd0.cmdsize": (36, 4)}


def pe_fields(data: bytes) -> dict[str, tuple[int, int]]:
    pe, = struct.unpack_from("<I", data, 0x3C)
    optional = pe + 24
    return {"e_lfanew": (0x3C, 4), "NumberOfSections": (pe + 6, 2), "SizeOfOptionalHeader": (pe + 20, 2),
            "NumberOfRvaAndSizes": (optional + 108, 4), "import.rva": (optional + 120, 4),
            "import.size": (optional + 124, 4), "section0.PointerToRawData": (optional + 240 + 20, 4)}  # fmt: skip


FIELDS = {"elf": elf_fields, "macho": macho_fields, "pe": pe_fields}


@pytest.mark.parametrize("name", ["elf-libbar", "macho-ext", "macho-fat", "pe-ext"])
def test_extreme_header_fields_cost_little(seeds: dict[str, Seed], name: str, tmp_path: Path) -> None:
    if name not in seeds:
        pytest.skip(f"no toolchain for {name}")
    seed = seeds[name]
    backend = backend_named(seed.format)
    fields = FIELDS[seed.format](seed.binary)
    assert len(fields) >= 3
    for field, (offset, width) in fields.items():
        for value in EXTREMES:
            mutated = Mutation("set", offset, width, value).apply(seed.binary)
            tracemalloc.start()
            start = time.perf_counter()
            with contextlib.suppress(InvalidBinary):
                backend.read(mutated, "lib")
            elapsed = time.perf_counter() - start
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert elapsed < MAX_SECONDS, (field, value, elapsed)
            assert peak < MAX_PEAK, (field, value, peak)
            bare = tmp_path / "lib"
            bare.write_bytes(mutated)
            for args in (["needed", str(bare)], ["patch", str(bare), "--set-rpath", "$ORIGIN/x"]):
                outcome = run(args, timeout=10)
                assert outcome.failure is None, (field, value, outcome.failure, outcome.detail)
