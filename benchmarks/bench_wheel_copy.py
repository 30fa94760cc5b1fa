"""Baseline for repair speed: rewrite a large wheel with every member raw-copied, against zipfile.

For each wheel this prints the time to
  - open and validate it (WheelArchive.open: central directory, entry checks, WHEEL and RECORD),
  - parse its central directory with zipfile.ZipFile (no checks at all), for comparison,
  - write it unchanged with wheelrepair's writer (every member copied as raw compressed bytes,
    RECORD regenerated, temp file + fsync + rename),
  - rewrite it with zipfile, decompressing and recompressing every member (deflate level 6), which is
    what a naive unpack/repack repair costs,
  - copy the file as a whole (shutil.copyfile), the floor for any rewrite.
The repair benchmark is judged against the raw-copy time ("within 2x of a raw copy").

Usage: python benchmarks/bench_wheel_copy.py [WHEEL ...]
Without arguments: the local torch CPU wheel in /opt/wheels (if any) and scipy from PyPI.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.pypi import fetch_wheel, local_torch_wheel  # noqa: E402
from wheelrepair.wheel.archive import WheelArchive  # noqa: E402
from wheelrepair.wheel.writer import COMPRESS_LEVEL, write_wheel  # noqa: E402


def timed(action: Callable[[], object], repeat: int) -> float:
    """Best wall-clock time of ``repeat`` runs (the least disturbed by the other jobs on the machine)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def raw_copy(wheel: Path, out: Path) -> None:
    with WheelArchive.open(wheel) as source:
        write_wheel(source, out)


def zipfile_recompress(wheel: Path, out: Path) -> None:
    with (
        zipfile.ZipFile(wheel) as zin,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as zout,
    ):
        for info in zin.infolist():
            zout.writestr(
                info, zin.read(info), compress_type=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL
            )


def open_only(wheel: Path) -> None:
    WheelArchive.open(wheel).close()


def zipfile_open(wheel: Path) -> None:
    zipfile.ZipFile(wheel).close()


def default_wheels() -> list[Path]:
    wheels = []
    torch = local_torch_wheel()
    if torch is not None:
        wheels.append(torch)
    wheels.append(fetch_wheel("scipy==1.17.1", ["manylinux_2_27_x86_64", "manylinux_2_28_x86_64"]))
    return wheels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheels", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is shown")
    parser.add_argument("--no-recompress", action="store_true", help="skip the (slow) zipfile recompression")
    args = parser.parse_args()
    wheels = args.wheels or default_wheels()
    with tempfile.TemporaryDirectory() as scratch:
        for wheel in wheels:
            out = Path(scratch) / wheel.name
            with WheelArchive.open(wheel) as archive:
                members = len(archive.members)
                unpacked = sum(archive.size(m) for m in archive.members)
            print(
                f"{wheel.name}: {wheel.stat().st_size / 2**20:.1f} MiB, {members} members, {unpacked / 2**20:.0f} MiB unpacked"
            )
            results = {
                "open + validate": timed(partial(open_only, wheel), args.repeat),
                "zipfile.ZipFile open": timed(partial(zipfile_open, wheel), args.repeat),
                "raw copy (write_wheel)": timed(partial(raw_copy, wheel, out), args.repeat),
                "file copy (shutil)": timed(partial(shutil.copyfile, wheel, out), args.repeat),
            }
            if not args.no_recompress:
                results["zipfile recompress"] = timed(partial(zipfile_recompress, wheel, out), 1)
            for label, seconds in results.items():
                print(f"  {label:<24} {seconds:8.3f} s")
            if not args.no_recompress:
                ratio = results["zipfile recompress"] / results["raw copy (write_wheel)"]
                print(f"  raw copy is {ratio:.0f}x faster than recompressing")


if __name__ == "__main__":
    main()
