"""What the tests check on an edited ELF file, each with a real tool: readelf, pyelftools, eu-elflint,
and the host's loader (ctypes in a fresh interpreter, or running the program)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from elftools.elf.elffile import ELFFile

#: Entries an edit may legitimately change; every other entry must come out unchanged.
EDITED_TAGS = {"DT_NEEDED", "DT_SONAME", "DT_RPATH", "DT_RUNPATH", "DT_STRTAB", "DT_STRSZ", "DT_NULL"}

_DYN_LINE = re.compile(r"^\s*0x[0-9a-f]+\s+\((\w+)\)\s+(.*)$")


def readelf(path: Path, *flags: str) -> str:
    """readelf's output; it must not warn about anything."""
    result = subprocess.run(["readelf", "-W", *flags, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr.lower() and "error" not in result.stderr.lower(), result.stderr
    return result.stdout


def readelf_strings(path: Path) -> dict[str, list[str]]:
    """NEEDED / SONAME / RPATH / RUNPATH values as readelf -d prints them."""
    found: dict[str, list[str]] = {"NEEDED": [], "SONAME": [], "RPATH": [], "RUNPATH": []}
    for line in readelf(path, "-d").splitlines():
        match = _DYN_LINE.match(line)
        if match and match.group(1) in found:
            found[match.group(1)].append(match.group(2).split("[", 1)[1].rsplit("]", 1)[0])
    return found


def dynamic_entries(path: Path) -> list[tuple[str, object]]:
    """Every dynamic entry as pyelftools reads it through PT_DYNAMIC (strings resolved)."""
    with open(path, "rb") as handle:
        elf = ELFFile(handle)
        for segment in elf.iter_segments():
            if segment.header.p_type == "PT_DYNAMIC":
                out: list[tuple[str, object]] = []
                for tag in segment.iter_tags():
                    kind = tag.entry.d_tag
                    attr = {
                        "DT_NEEDED": "needed",
                        "DT_SONAME": "soname",
                        "DT_RPATH": "rpath",
                        "DT_RUNPATH": "runpath",
                    }.get(kind)
                    out.append((kind, getattr(tag, attr) if attr else tag.entry.d_val))
                return out
    raise AssertionError(f"{path}: no PT_DYNAMIC")


def section_view_matches(path: Path) -> None:
    """With section headers, .dynamic/.dynstr as sections must say what PT_DYNAMIC says."""
    with open(path, "rb") as handle:
        elf = ELFFile(handle)
        if not elf.num_sections():
            return
        dynamic = elf.get_section_by_name(".dynamic")
        segment = next(s for s in elf.iter_segments() if s.header.p_type == "PT_DYNAMIC")
        assert dynamic["sh_addr"] == segment["p_vaddr"] and dynamic["sh_offset"] == segment["p_offset"]
        strtab = next(t.entry.d_val for t in segment.iter_tags() if t.entry.d_tag == "DT_STRTAB")
        dynstr = elf.get_section(dynamic["sh_link"])
        assert dynstr.name == ".dynstr" and dynstr["sh_addr"] == strtab
        by_section = [(t.entry.d_tag, t.entry.d_val) for t in dynamic.iter_tags()]
        by_segment = [(t.entry.d_tag, t.entry.d_val) for t in segment.iter_tags()]
        assert by_section == by_segment


def unchanged_entries(path: Path) -> list[tuple[str, object]]:
    return [(k, v) for k, v in dynamic_entries(path) if k not in EDITED_TAGS]


def elflint(path: Path) -> set[str]:
    """eu-elflint --gnu-ld's complaints, without the file name."""
    result = subprocess.run(["eu-elflint", "--gnu-ld", str(path)], capture_output=True, text=True)
    lines = (result.stdout + result.stderr).splitlines()
    # A new PT_LOAD shifts the index of the headers after it: the same complaint must not count as new.
    return {
        re.sub(r"program header entry \d+", "program header entry N", line.replace(str(path), "FILE"))
        for line in lines
        if line.strip() and line.strip() != "No errors"
    }


def call_bar(library: Path, env: dict[str, str] | None = None) -> str:
    """Load ``library`` with ctypes in a fresh interpreter and call bar(20)."""
    code = "import ctypes, sys; print(ctypes.CDLL(sys.argv[1]).bar(20))"
    result = subprocess.run(
        [sys.executable, "-c", code, str(library)], capture_output=True, text=True, env=env or _clean_env()
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def run(program: Path) -> str:
    result = subprocess.run([str(program)], capture_output=True, text=True, env=_clean_env())
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    return env


def copy_family(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target
