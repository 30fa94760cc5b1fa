"""Build real ELF files for the reader, resolver and policy tests: gcc for this machine, zig for others,
and the reference readings (readelf, the real loader) to compare against."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from wheelrepair.formats.elf.reader import read_elf, sniff
from wheelrepair.model import Binary


def gcc(out: Path, source: str, *flags: str, cxx: bool = False, shared: bool = True) -> Path:
    """Compile ``source`` (C or C++ text) into ``out`` with the host compiler."""
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.with_name(out.name + (".cpp" if cxx else ".c"))
    src.write_text(source)
    cmd = [
        "g++" if cxx else "gcc",
        "-O2",
        "-fPIC",
        *(["-shared"] if shared else []),
        "-o",
        str(out),
        str(src),
    ]
    subprocess.run([*cmd, *flags], check=True, capture_output=True)
    return out


def zig_cc(out: Path, source: str, target: str, *flags: str) -> Path | None:
    """Cross-compile a shared library for ``target`` with zig (None when zig cannot)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.with_name(out.name + ".c")
    src.write_text(source)
    cmd = [
        sys.executable,
        "-m",
        "ziglang",
        "cc",
        "-target",
        target,
        "-shared",
        "-O2",
        "-fPIC",
        "-o",
        str(out),
    ]
    result = subprocess.run([*cmd, *flags, str(src)], capture_output=True, text=True)
    return out if result.returncode == 0 else None


def readelf_dynamic(path: Path) -> dict[str, object]:
    """NEEDED / SONAME / RPATH / RUNPATH and version needs as GNU readelf prints them."""
    out = subprocess.run(["readelf", "-dVW", str(path)], check=True, capture_output=True, text=True).stdout
    result: dict[str, object] = {
        "needed": re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", out),
        "soname": next(iter(re.findall(r"\(SONAME\)\s+Library soname: \[(.*)\]", out)), None),
        "rpath": next(iter(re.findall(r"\(RPATH\)\s+Library rpath: \[(.*)\]", out)), None),
        "runpath": next(iter(re.findall(r"\(RUNPATH\)\s+Library runpath: \[(.*)\]", out)), None),
    }
    versions: dict[str, set[str]] = {}
    section = out.split("Version needs section", 1)
    if len(section) == 2:
        current = None
        for line in section[1].splitlines()[1:]:
            file_match = re.search(r"File: (\S+)\s+Cnt:", line)
            name_match = re.search(r"Name: (\S+)\s+Flags:", line)
            if file_match:
                current = file_match.group(1)
                versions.setdefault(current, set())
            elif name_match and current is not None:
                versions[current].add(name_match.group(1))
            elif line.strip() and not line.startswith(" "):
                break
    result["versions"] = {k: frozenset(v) for k, v in versions.items()}
    return result


def readelf_header(path: Path) -> dict[str, str]:
    out = subprocess.run(["readelf", "-hW", str(path)], check=True, capture_output=True, text=True).stdout
    fields = dict(re.findall(r"^\s+([A-Za-z ]+):\s+(.*)$", out, re.M))
    return {k.strip(): v.strip() for k, v in fields.items()}


def host_reader(path: str) -> Binary | None:
    """What ``SearchContext.read_host`` does in the real program: parse ELF files, ignore others."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    return read_elf(data, path) if sniff(data[:64]) else None


PROBE = """
import ctypes, json, sys
try:
    ctypes.CDLL(sys.argv[1])
except OSError as exc:
    print(json.dumps({"error": str(exc)}))
    raise SystemExit(0)
maps = sorted({line.split()[-1] for line in open("/proc/self/maps") if line.split()[-1].startswith(sys.argv[2])})
print(json.dumps({"mapped": maps}))
"""


def real_load(library: Path, root: Path, ld_library_path: str | None = None) -> dict[str, object]:
    """Load ``library`` with this machine's ld.so (through ctypes in a fresh Python) and report which
    files under ``root`` got mapped, or the loader's error."""
    import json

    env = {k: v for k, v in os.environ.items() if not k.startswith("LD_")}
    if ld_library_path is not None:
        env["LD_LIBRARY_PATH"] = ld_library_path
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(library), str(root)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, object] = json.loads(out)
    return result


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def readelf_imports(path: Path) -> tuple[frozenset[str], str | None]:
    """Undefined non-weak dynamic symbols (``readelf --dyn-syms``) and the x86 ISA level needed
    (``readelf -n``), as GNU readelf reports them."""
    syms = subprocess.run(
        ["readelf", "--dyn-syms", "-W", str(path)], check=True, capture_output=True, text=True
    )
    names: set[str] = set()
    for line in syms.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[0].rstrip(":").isdigit() and parts[6] == "UND" and parts[4] != "WEAK":
            names.add(parts[7].split("@", 1)[0])
    notes = subprocess.run(["readelf", "-nW", str(path)], check=True, capture_output=True, text=True).stdout
    level = re.search(r"x86 ISA needed: ([^\n]*)", notes)
    levels = [v.strip() for v in level.group(1).split(",")] if level else []
    highest = next((v for v in ("x86-64-v4", "x86-64-v3", "x86-64-v2") if v in levels), None)
    return frozenset(names), highest
