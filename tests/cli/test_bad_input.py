"""Bad input never gets a traceback: one line on stderr naming the file and the problem, exit 2, and
nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.wheels import make_wheel


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True)


def _gcc_so(root: Path, source: str) -> bytes:
    (root / "lib.c").write_text(source)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(root / "lib.so"), str(root / "lib.c")], check=True)
    return (root / "lib.so").read_bytes()


@pytest.fixture(scope="module")
def real_so(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return _gcc_so(tmp_path_factory.mktemp("so"), "int x(void) { return 1; }\n")


def _zip(
    path: Path, entries: dict[str, bytes], symlink: str | None = None, compress: int = zipfile.ZIP_STORED
) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = compress
            if name == symlink:
                info.external_attr = (0o120777) << 16
            zf.writestr(info, data)
    return path


def _hostile(kind: str, tmp: Path, real_so: bytes) -> Path:
    good = make_wheel(tmp / "good", {"demo/x.so": real_so})
    name = good.name
    if kind == "not-a-zip":
        (tmp / name).write_text("hello")
    elif kind == "truncated-zip":
        (tmp / name).write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "zip-slip":
        with zipfile.ZipFile(good) as zf:
            entries = {n: zf.read(n) for n in zf.namelist()}
        entries["../evil.py"] = b"x"
        _zip(tmp / name, entries)
    elif kind == "absolute-path":
        with zipfile.ZipFile(good) as zf:
            entries = {n: zf.read(n) for n in zf.namelist()}
        entries["/etc/evil.py"] = b"x"
        _zip(tmp / name, entries)
    elif kind == "symlink":
        with zipfile.ZipFile(good) as zf:
            entries = {n: zf.read(n) for n in zf.namelist()}
        entries["demo/link.so"] = b"/etc/passwd"
        _zip(tmp / name, entries, symlink="demo/link.so")
    elif kind == "no-dist-info":
        _zip(tmp / name, {"demo/x.so": real_so})
    elif kind == "duplicate":
        with zipfile.ZipFile(good) as zf:
            entries = [(n, zf.read(n)) for n in zf.namelist()]
        with pytest.warns(UserWarning), zipfile.ZipFile(tmp / name, "w") as out:
            for n, data in entries + [entries[0]]:
                out.writestr(n, data)
    elif kind == "truncated-elf":
        return make_wheel(tmp, {"demo/x.so": real_so[:200]})
    elif kind == "record-mismatch":
        with zipfile.ZipFile(good) as zf:
            entries = {n: zf.read(n) for n in zf.namelist()}
        so = bytearray(entries["demo/x.so"])
        so[-1] ^= 0xFF
        entries["demo/x.so"] = bytes(so)
        _zip(tmp / name, entries)
    else:
        raise AssertionError(kind)
    return tmp / name


KINDS = [
    "not-a-zip",
    "truncated-zip",
    "zip-slip",
    "absolute-path",
    "symlink",
    "no-dist-info",
    "duplicate",
    "truncated-elf",
    "record-mismatch",
]


@pytest.mark.parametrize("command", ["show", "check", "repair"])
@pytest.mark.parametrize("kind", KINDS)
def test_hostile_wheel_is_one_line_exit_2(kind: str, command: str, tmp_path: Path, real_so: bytes) -> None:
    wheel = _hostile(kind, tmp_path, real_so)
    before = wheel.read_bytes()
    out = tmp_path / "out"
    args = [command, str(wheel)] + (["-w", str(out)] if command == "repair" else [])
    result = run(*args)
    assert result.returncode == 2, (kind, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert wheel.name in lines[0]
    assert wheel.read_bytes() == before
    assert not out.exists() or not any(out.iterdir())


def test_missing_file_is_usage_error(tmp_path: Path) -> None:
    result = run("show", str(tmp_path / "nope-1.0-py3-none-any.whl"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_needed_on_a_text_file_is_one_line(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello world, this is not a binary at all")
    result = run("needed", str(text))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "notes.txt" in result.stderr


def test_unwritable_output_directory_is_one_line(tmp_path: Path, real_so: bytes) -> None:
    wheel = make_wheel(tmp_path, {"demo/x.so": real_so})
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    result = run("repair", str(wheel), "-w", str(blocked / "sub"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "cannot write to" in result.stderr


@pytest.fixture(scope="module")
def big_so(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real shared library past the scan's lazy-read cut (256 KiB): 400 KiB of initialised data."""
    source = "char table[400 * 1024] = {1};\nint big(void) { return table[7]; }\n"
    return _gcc_so(tmp_path_factory.mktemp("big"), source)


@pytest.mark.parametrize(
    ("corrupt", "where"),
    [
        ("demo/data.bin", "middle"),
        ("demo/x.so", "middle"),
        # Read lazily, so hashed by the inflate that parses it: a changed data byte leaves the
        # parse intact, a changed header breaks it; both must be reported as the hash mismatch.
        ("demo/big.so", "middle"),
        ("demo/big.so", "header"),
    ],
)
def test_check_of_a_large_wheel_finds_a_changed_member(
    corrupt: str, where: str, tmp_path: Path, real_so: bytes, big_so: bytes
) -> None:
    """A wheel large enough to be scanned on worker processes, where `check` hashes every member
    beside the parse: a member whose bytes no longer match RECORD is named, in one line."""
    files = {"demo/x.so": real_so, "demo/big.so": big_so, "demo/data.bin": os.urandom(26 << 20)}
    good = make_wheel(tmp_path / "good", files)
    with zipfile.ZipFile(good) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    changed = bytearray(entries[corrupt])
    changed[len(changed) // 2 if where == "middle" else 0x20] ^= 0xFF
    entries[corrupt] = bytes(changed)
    wheel = _zip(tmp_path / good.name, entries, compress=zipfile.ZIP_DEFLATED)
    assert run("check", str(good)).returncode == 0
    result = run("check", str(wheel))
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert wheel.name in lines[0] and f"RECORD hash mismatch for {corrupt!r}" in lines[0], lines[0]
