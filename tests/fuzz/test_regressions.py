"""Every distinct failure the fuzzer found, as its minimal input: a wheel around a binary built at
test time, with one zip field set as the fuzzer's mutation set it. Each used to end in a traceback
(or a message thousands of characters long); each is now one line naming the wheel and member."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.mutate import CENTRAL_FIELDS, LOCAL_FIELDS, Mutation, zip_records
from tests.fuzz.seeds import Seed


def field(data: bytes, member: str, record: bytes, name: str) -> tuple[int, int]:
    """(offset, width) of field ``name`` in ``member``'s local header (``PK\\3\\4``) or central
    directory record (``PK\\1\\2``)."""
    fields, name_at = (LOCAL_FIELDS, 30) if record == b"PK\x03\x04" else (CENTRAL_FIELDS, 46)
    for position, signature in zip_records(data):
        if signature == record and data[position + name_at :].startswith(member.encode()):
            offset, width = fields[name]
            return position + offset, width
    raise AssertionError(f"no {record!r} record for {member}")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True, timeout=120)


def damaged_wheel(seed: Seed, tmp_path: Path, record: bytes, name: str, value: int) -> Path:
    wheel = seed.wheel(tmp_path / "in")
    data = wheel.read_bytes()
    offset, width = field(data, seed.member, record, name)
    wheel.write_bytes(Mutation("set", offset, width, value).apply(data))
    return wheel


CASES = {
    # zipfile: NotImplementedError("zip file version 18.9") at open, on every command.
    "version-needed": (b"PK\x01\x02", "version", 189, "needs zip version 18.9 to extract"),
    # zipfile: NotImplementedError("compressed patched data (flag bit 5)") when the member is read.
    "patched-data-flag": (b"PK\x01\x02", "flags", 0x20, "compressed patched data"),
    # zipfile: NotImplementedError("strong encryption (flag bit 6)") when the member is read.
    "strong-encryption-flag": (b"PK\x01\x02", "flags", 0x40, "strong encryption"),
    # zipfile: BadZipFile quoting 64 KiB of "file name" from the local header, which rich then
    # parsed as markup (MarkupError) while printing the error.
    "local-name-length": (b"PK\x03\x04", "name_len", 0xFFFF, "does not match the central directory"),
}


@pytest.mark.parametrize("command", ["show", "check", "repair"])
@pytest.mark.parametrize("kind", sorted(CASES))
def test_fuzzer_finding_is_one_line(seeds: dict[str, Seed], tmp_path: Path, kind: str, command: str) -> None:
    seed = next(iter(seeds.values()))
    record, name, value, expected = CASES[kind]
    wheel = damaged_wheel(seed, tmp_path, record, name, value)
    before = wheel.read_bytes()
    out = tmp_path / "out"
    result = run(command, str(wheel), *(["-w", str(out)] if command == "repair" else []))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(wheel) in lines[0] and seed.member in lines[0] and expected in lines[0]
    assert len(lines[0]) < 1200
    assert wheel.read_bytes() == before
    assert not out.exists() or not any(out.iterdir())


def test_hostile_member_name_is_printed_literally(tmp_path: Path) -> None:
    """A member name holding rich markup and a newline is quoted, not interpreted."""
    from tests.wheel.helpers import zip_wheel

    wheel = zip_wheel(tmp_path / "demo-1.0-py3-none-any.whl", [("demo/[/bold]\nx.py", b"")], record=b"")
    result = run("show", str(wheel))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("member", ["demo/[/].so", "demo/%s\u202e[/bold]$ORIGIN.so", "demo/[red]x[/red].so"])
def test_member_names_with_markup_are_shown_literally(seeds: dict[str, Seed], tmp_path: Path, member: str) -> None:
    """The fuzzer's hostile names: a valid wheel whose binary is called ``demo/[/].so`` made show and
    check end in rich's MarkupError; ``[red]x[/red]`` was silently shown as ``x``."""
    seed = seeds.get("elf-libbar") or next(iter(seeds.values()))
    wheel = seed.wheel(tmp_path / "in", member=member)
    lib_path = [arg for d in seed.lib_path for arg in ("--lib-path", d)]
    show = run("show", str(wheel), *lib_path)
    assert show.returncode == 0, show.stderr
    assert member in show.stdout
    check = run("check", str(wheel))
    assert check.returncode == 1 and "Traceback" not in check.stderr, check.stderr
    assert member in check.stdout
    repair = run("repair", str(wheel), "-w", str(tmp_path / "out"), *lib_path)
    assert repair.returncode == 0 and "Traceback" not in repair.stderr, repair.stderr
