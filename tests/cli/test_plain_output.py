"""Human output is text, never markup: piped, it is written without rich (whose import costs ~45 ms
of every command); on a terminal or with FORCE_COLOR, rich draws the same text in colour. Names are
printed as themselves either way, brackets and emoji codes included. The wheel is a real gcc-built
one whose extension needs libA.so.1 (which needs libB.so.2) from a directory outside it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.elf_project import ChainProject, build_gcc_wheel

ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Runs the CLI in-process and reports, on the last line of stdout, whether rich was imported.
PROBE = (
    "import sys\n"
    "sys.argv = ['wheelrepair', *sys.argv[1:]]\n"
    "from wheelrepair.cli import main\n"
    "try:\n"
    "    main()\n"
    "except SystemExit as exit:\n"
    "    code = exit.code\n"
    "sys.stdout.flush()\n"
    "print('RICH', any(m == 'rich' or m.startswith('rich.') for m in sys.modules), code)\n"
)


def run(*args: str, **env: str) -> tuple[str, str, str]:
    """(stdout without the probe's line, stderr, the probe's verdict "<rich imported> <exit code>")."""
    environment = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE")}
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                            env={**environment, **env})
    out, _, verdict = result.stdout.rpartition("RICH ")
    return out, result.stderr, verdict.strip()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> ChainProject:
    # The build directory's name looks like rich markup (no colon: it is in the binary's RUNPATH).
    return build_gcc_wheel(tmp_path_factory.mktemp("plain") / "x[red]y[/]")


def test_piped_commands_never_import_rich(project: ChainProject, tmp_path: Path) -> None:
    out, _, verdict = run("show", str(project.wheel))
    assert verdict == "False 0"
    assert "libA.so.1  vendor" in out
    assert "Best tag after repair: manylinux" in out

    out, _, verdict = run("repair", "-w", str(tmp_path / "out"), str(project.wheel))
    assert verdict == "False 0"
    (repaired,) = (tmp_path / "out").glob("*.whl")
    assert f"-> {repaired}" in out

    out, _, verdict = run("check", str(repaired))
    assert verdict == "False 0"
    assert out == f"{repaired.name}: ok (self-contained, tags hold)\n"

    _, err, verdict = run("show", str(tmp_path / "missing-1.0-py3-none-any.whl"))
    assert verdict == "False 2"
    assert err.startswith("error: ") and err.count("\n") == 1


def test_colour_goes_through_rich_with_the_same_text(project: ChainProject, tmp_path: Path) -> None:
    plain, _, _ = run("show", str(project.wheel))
    coloured, _, verdict = run("show", str(project.wheel), FORCE_COLOR="1")
    assert verdict == "True 0"
    assert "\x1b[" in coloured
    assert ANSI.sub("", coloured) == plain


def test_names_print_as_themselves(project: ChainProject, tmp_path: Path) -> None:
    source = f"from {project.libdir}/libA.so.1 as "
    for index, env in enumerate(({}, {"FORCE_COLOR": "1"})):
        # The output directory's name holds an emoji code and markup too.
        out_dir = tmp_path / f"out{index}:smile:[bold]"
        out, _, verdict = run("repair", "-w", str(out_dir), str(project.wheel), **env)
        assert verdict.endswith(" 0")
        text = ANSI.sub("", out)
        assert source in text, out
        (repaired,) = out_dir.glob("*.whl")
        assert f"-> {repaired}\n" in text, out


def test_json_is_one_line_when_piped_and_indented_on_a_terminal(project: ChainProject) -> None:
    import json
    import pty

    out, _, verdict = run("show", "--json", str(project.wheel))
    assert verdict.endswith(" 0") and out.count("\n") == 1
    piped = json.loads(out)
    # On a terminal (a pseudo-terminal here) the same document, indented.
    leader, follower = pty.openpty()
    try:
        child = subprocess.Popen([sys.executable, "-m", "wheelrepair", "show", "--json", str(project.wheel)],
                                 stdout=follower, stderr=subprocess.DEVNULL)
        os.close(follower)
        chunks = []
        while True:  # read as it comes: a terminal holds only a few KiB the reader has not taken
            try:
                chunk = os.read(leader, 1 << 16)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        returncode = child.wait()
    finally:
        os.close(leader)
    text = b"".join(chunks).decode().replace("\r\n", "\n")
    assert returncode == 0 and text.startswith('{\n  "wheel": ')
    assert json.loads(text) == piped
