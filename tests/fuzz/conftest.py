"""The fuzzing seeds, built once per session from real toolchains (see seeds.py)."""

from __future__ import annotations

import os

import pytest

from tests.fuzz.seeds import Seed, build_seeds


@pytest.fixture(scope="session")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Seed]:
    built = {seed.name: seed for seed in build_seeds(tmp_path_factory.mktemp("fuzz-seeds"))}
    formats = {seed.format for seed in built.values()}
    missing = {"elf", "macho", "pe"} - formats
    if missing and os.environ.get("CI"):
        pytest.fail(f"no toolchain for {sorted(missing)} seeds")
    return built
