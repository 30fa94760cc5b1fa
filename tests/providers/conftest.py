"""Fixtures for the Windows runtime proofs of providers: this directory's own wine prefix and
python.org's embeddable CPython (the builders are shared with tests/pe)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.pe_build import boot_wine_prefix, embedded_cpython
from tests.fixtures.pypi import CACHE


@pytest.fixture(scope="session")
def provider_wine_prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return boot_wine_prefix(tmp_path_factory.mktemp("provider-wineprefix"))


@pytest.fixture(scope="session")
def provider_cpython(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return embedded_cpython(CACHE, tmp_path_factory.mktemp("provider-cpython"))
