"""Every ELF file of numpy's manylinux wheel survives a growing edit and still loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.elf_build import extract_elf_files, system_library
from tests.fixtures.pypi import fetch_wheel
from wheelrepair.formats.base import PatchRequest
from wheelrepair.formats.elf.editor import describe_elf, edit_elf

from .checks import readelf, readelf_strings

SUFFIX = "-renamed-" + "0123456789abcdef" * 2  # +41 characters
LONG_ENTRY = "$ORIGIN/../" + "never-existing-directory-to-make-the-run-path-long/" * 2


@pytest.mark.network
def test_numpy_wheel_files_load_after_edit(tmp_path: Path) -> None:
    wheel = fetch_wheel("numpy", ["manylinux_2_28_x86_64", "manylinux2014_x86_64"])
    files = extract_elf_files(wheel, tmp_path / "site")
    assert len(files) > 10
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    by_name = {f.name: f for f in files}
    for path in files:
        before = describe_elf(path.read_bytes(), str(path))
        needed = list(before["needed"])  # type: ignore[call-overload]
        renames: tuple[tuple[str, str], ...] = ()
        if needed:
            old, new = needed[0], needed[0] + SUFFIX
            source = by_name.get(old) or system_library(old)
            assert source is not None, f"{path.name} needs {old}, found nowhere"
            if not (renamed / new).exists():
                (renamed / new).symlink_to(source)
            renames = ((old, new),)
            needed[0] = new
        search = (str(renamed), LONG_ENTRY, *before["runpath"], *before["rpath"])  # type: ignore[misc]
        request = PatchRequest(replace_needed=renames, set_rpath=search)
        assert edit_elf(path, request)
        assert not edit_elf(path, request)
        shown = readelf_strings(path)
        assert shown["NEEDED"] == needed and shown["RUNPATH"] == [":".join(search)]
        readelf(path, "-l", "-S")

    # Bundled libraries first, as the extensions' own loads would find them.
    ordered = sorted(files, key=lambda f: ".libs" not in str(f.parent))
    code = (
        "import ctypes, sys\n"
        "bad = []\n"
        "for p in sys.argv[1:]:\n"
        "    try: ctypes.CDLL(p)\n"
        "    except OSError as e: bad.append(str(e))\n"
        "print('\\n'.join(bad)); sys.exit(len(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, *map(str, ordered)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
