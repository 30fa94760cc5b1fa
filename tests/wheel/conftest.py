"""Fixtures shared by the wheel-layer tests: a well-formed demo wheel and its contents."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.fixtures.wheels import make_wheel


@pytest.fixture(scope="session")
def payload() -> dict[str, bytes]:
    """Member contents of the demo wheel: text, a compressible blob and an incompressible one."""
    rng = random.Random(1234)
    return {
        "demo/__init__.py": b"VALUE = 42\n",
        "demo/data/table.txt": b"row\n" * 50_000,
        "demo/data/noise.bin": rng.randbytes(3 * 1024 * 1024),
        "demo-1.0.data/scripts/demo-tool": b"#!python\nprint('tool')\n",
    }


@pytest.fixture(scope="session")
def demo_wheel(tmp_path_factory: pytest.TempPathFactory, payload: dict[str, bytes]) -> Path:
    return make_wheel(tmp_path_factory.mktemp("demo"), payload, tag="py3-none-any", root_is_purelib=True)
