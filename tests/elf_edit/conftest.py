"""Session-wide ELF fixtures: each gcc variant and zig target is built once, on first use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.elf_build import ElfFamily, build_gcc, build_zig, variant_available


@pytest.fixture(scope="session")
def gcc_family(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], ElfFamily]:
    built: dict[str, ElfFamily] = {}

    def get(variant: str) -> ElfFamily:
        if not variant_available(variant):
            pytest.skip(f"linker for {variant} not installed")
        if variant not in built:
            built[variant] = build_gcc(tmp_path_factory.mktemp(f"gcc-{variant}"), variant)
        return built[variant]

    return get


@pytest.fixture(scope="session")
def zig_family(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], ElfFamily]:
    built: dict[str, ElfFamily] = {}

    def get(target: str) -> ElfFamily:
        if target not in built:
            built[target] = build_zig(tmp_path_factory.mktemp(f"zig-{target}"), target)
        return built[target]

    return get


@pytest.fixture(scope="session")
def debug_family(tmp_path_factory: pytest.TempPathFactory) -> ElfFamily:
    return build_gcc(tmp_path_factory.mktemp("gcc-debug"), "default", debug=True)


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    return tmp_path / "work"
