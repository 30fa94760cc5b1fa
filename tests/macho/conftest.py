"""Session-wide Mach-O fixtures: real binaries built once with zig, ld64.lld and llvm-lipo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fixtures.macho_build import MachOSet, build_tree, missing_tools


@pytest.fixture(scope="session")
def tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MachOSet]:
    missing = missing_tools()
    if missing:
        message = f"Mach-O toolchain missing: {', '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return build_tree(tmp_path_factory.mktemp("macho"))


@pytest.fixture(scope="session")
def all_files(tree: dict[str, MachOSet]) -> list[Path]:
    return [getattr(s, f) for s in tree.values() for f in ("libb", "liba", "ext", "ext_roomy")]
