"""The format registry imports a backend only when a file of its format is met: its own copy of
the magic bytes must be each backend's, and a Linux wheel's ``show`` must not import the others."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.elf_project import build_gcc_wheel
from wheelrepair.formats import REGISTRY, backend_named


def test_registry_magics_are_the_backends_own() -> None:
    for fmt, magics, _, _ in REGISTRY:
        backend = backend_named(fmt)
        assert backend.format == fmt
        assert tuple(backend.magics) == magics


@pytest.fixture(scope="module")
def chain_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_gcc_wheel(tmp_path_factory.mktemp("registry")).wheel


def test_show_of_a_linux_wheel_imports_only_the_elf_backend(chain_wheel: Path) -> None:
    probe = (
        "import sys\n"
        "sys.argv = ['wheelrepair', 'show', sys.argv[1]]\n"
        "from wheelrepair.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.endswith('.backend') and 'wheelrepair' in m))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(chain_wheel)], capture_output=True, text=True, check=True
    )
    report, loaded = result.stdout.rsplit("LOADED", 1)
    assert "libA.so" in report  # the wheel was read, its binary parsed
    assert loaded.strip() == "['wheelrepair.formats.elf.backend']"
