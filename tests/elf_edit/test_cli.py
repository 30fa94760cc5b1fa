"""``wheelrepair patch``: the user's view of the editor, and its errors on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.fixtures.elf_build import BAR_20, ElfFamily
from wheelrepair.cli_patch import patch

from .checks import copy_family, readelf_strings, run
from .test_edit import LONG_BAR, LONG_FOO, LONG_RPATH


def _patch(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(patch, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.fixture()
def family(gcc_family: Callable[[str], ElfFamily], tmp_path: Path) -> Path:
    return copy_family(gcc_family("default").directory, tmp_path / "w")


def test_patch_then_print_json(family: Path) -> None:
    bar = family / "libbar.so"
    code, _ = _patch(
        str(bar),
        "--replace-needed",
        "libfoo.so.1",
        LONG_FOO,
        "--set-rpath",
        f"{LONG_RPATH}:$ORIGIN",
        "--set-soname",
        LONG_BAR,
    )
    assert code == 0
    code, out = _patch(str(bar), "--json")
    document = json.loads(out)
    assert code == 0 and document["changed"] is False
    assert document["needed"] == [LONG_FOO] and document["soname"] == LONG_BAR
    assert document["runpath"] == [LONG_RPATH, "$ORIGIN"] and document["rpath"] == []
    assert (document["format"], document["arch"], document["class"], document["endian"]) == (
        "elf",
        "x86_64",
        "ELF64",
        "little",
    )
    assert readelf_strings(bar)["NEEDED"] == [LONG_FOO]


def test_print_shows_fields(family: Path) -> None:
    code, out = _patch(str(family / "main"), "--print")
    assert code == 0
    assert "libbar.so" in out and "libc.so.6" in out and "ld-linux-x86-64.so.2" in out


def test_macho_spellings_make_the_same_edit(family: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.so"
    other.write_bytes((family / "libbar.so").read_bytes())
    assert (
        _patch(
            str(family / "libbar.so"),
            "--replace-needed",
            "libfoo.so.1",
            LONG_FOO,
            "--set-soname",
            LONG_BAR,
            "--add-rpath",
            "$ORIGIN/lib",
            "--delete-rpath",
            "/opt/build-machine/lib",
        )[0]
        == 0
    )
    assert (
        _patch(
            str(other),
            "--change",
            "libfoo.so.1",
            LONG_FOO,
            "--id",
            LONG_BAR,
            "--add-rpath",
            "$ORIGIN/lib",
            "--delete-rpath",
            "/opt/build-machine/lib",
        )[0]
        == 0
    )
    assert other.read_bytes() == (family / "libbar.so").read_bytes()
    assert readelf_strings(other)["RUNPATH"] == ["$ORIGIN/lib"]


def test_program_runs_after_patch_through_main_command(family: Path) -> None:
    (family / LONG_BAR).symlink_to("libbar.so")
    main = family / "main"
    for target, args in (
        (family / "libbar.so", ["--set-rpath", "$ORIGIN"]),
        (main, ["--replace-needed", "libbar.so", LONG_BAR, "--set-rpath", "$ORIGIN"]),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "wheelrepair", "patch", str(target), *args], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
    assert run(main) == str(BAR_20)


def test_not_a_binary(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("just text\n")
    code, out = _patch(str(text), "--set-rpath", "$ORIGIN")
    assert code == 2
    assert f"{text}: not an ELF, Mach-O or PE file" in out and len(out.strip().splitlines()) == 1
    assert text.read_text() == "just text\n"


def test_truncated_elf_is_refused_untouched(family: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.so"
    broken.write_bytes((family / "libbar.so").read_bytes()[:300])
    code, out = _patch(str(broken), "--set-rpath", "$ORIGIN")
    assert code == 2 and str(broken) in out and len(out.strip().splitlines()) == 1
    assert broken.read_bytes() == (family / "libbar.so").read_bytes()[:300]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.so", "w"]  # no temporary file left


def test_static_program_cannot_be_patched(tmp_path: Path) -> None:
    (tmp_path / "hello.c").write_text("int main(void) { return 0; }\n")
    built = subprocess.run(["gcc", "-static", "-o", "hello", "hello.c"], cwd=tmp_path, capture_output=True)
    if built.returncode:
        pytest.skip("no static libc")
    program = tmp_path / "hello"
    data = program.read_bytes()
    code, out = _patch(str(program), "--add-needed", "libm.so.6")
    assert code == 1 and "no dynamic section" in out and str(program) in out
    assert program.read_bytes() == data


def test_contradictory_options(family: Path) -> None:
    code, out = _patch(str(family / "libbar.so"), "--set-rpath", "$ORIGIN", "--remove-rpath")
    assert code == 2 and "--remove-rpath" in out
