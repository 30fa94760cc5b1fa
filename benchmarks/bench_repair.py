"""Repair of a large wheel with a few vendored libraries: wheelrepair vs auditwheel vs a raw copy.

The input is scipy's manylinux wheel taken apart and rebuilt unrepaired: scipy.libs/ removed, its
libraries put back under their plain names (libgfortran.so.5, libscipy_openblas.so, ...) in a
directory outside the wheel, and every binary pointed back at those plain names with wheelrepair's
own ELF editor. Both tools then repair it with that directory on their search path.

    python benchmarks/bench_repair.py
"""

from __future__ import annotations

import sys
import tempfile
import time
import zipfile
from pathlib import Path

from _common import best_of, bin_of

from tests.fixtures.pypi import fetch_wheel
from tests.fixtures.unrepair import unrepair
from wheelrepair.wheel.archive import WheelArchive
from wheelrepair.wheel.writer import write_wheel

FALLBACK = ("import sys; sys.modules['zlib_ng'] = None; sys.modules['deflate'] = None; "
            "sys.modules['isal'] = None; "
            "sys.argv[0] = 'wheelrepair'; from wheelrepair.cli import main; main()")


def raw_copy(wheel: Path, out: Path) -> None:
    with WheelArchive.open(wheel) as source:
        write_wheel(source, out)


def zipfile_copy(wheel: Path, out: Path) -> None:
    """Every member decompressed and compressed again, as an unpack/repack repair does."""
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))


def main() -> None:
    source = fetch_wheel("scipy==1.17.1", ["manylinux_2_28_x86_64", "manylinux2014_x86_64"])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wheel, libdir = unrepair(source, work)
        print(f"unrepaired: {wheel.name} ({wheel.stat().st_size / 1e6:.0f} MB), libraries in {libdir}")
        copies = []
        for i in range(3):
            start = time.perf_counter()
            (work / f"copy{i}").mkdir()
            raw_copy(wheel, work / f"copy{i}" / wheel.name)
            copies.append(time.perf_counter() - start)
        copy_s = min(copies)
        start = time.perf_counter()
        zipfile_copy(wheel, work / "zipfile-copy.whl")
        recompress_s = time.perf_counter() - start
        ours, ours_mem = best_of(3, [sys.executable, "-m", "wheelrepair", "repair", "--lib-path", str(libdir),
                                     "-w", str(work / "ours"), str(wheel)], output_dir=work / "ours")
        # The same repair without zlib-ng, libdeflate and ISA-L (the standard library's zlib only).
        fallback, fallback_mem = best_of(1, [sys.executable, "-c", FALLBACK, "repair", "--lib-path", str(libdir),
                                             "-w", str(work / "fallback"), str(wheel)])
        fast, _ = best_of(1, [sys.executable, "-m", "wheelrepair", "repair", "--lib-path", str(libdir), "-z", "1",
                              "-w", str(work / "z1"), str(wheel)])
        theirs, theirs_mem = best_of(1, [bin_of("auditwheel"), "repair", "-w", str(work / "theirs"), str(wheel)],
                                     env={"LD_LIBRARY_PATH": str(libdir)})
        size = {name: next((work / name).glob("*.whl")).stat().st_size for name in ("ours", "fallback", "z1", "theirs")}
        print(f"raw copy (in process)   {copy_s:7.2f} s  (compressed bytes copied, RECORD rewritten)")
        print(f"zipfile copy            {recompress_s:7.2f} s  (every member decompressed and recompressed)")
        print(f"wheelrepair repair      {ours:7.2f} s  peak {ours_mem / 1024:6.0f} MiB  "
              f"({ours / copy_s:.1f}x the raw copy, {ours / recompress_s:.2f}x the zipfile copy)")
        print(f"  (stdlib zlib only     {fallback:7.2f} s  peak {fallback_mem / 1024:6.0f} MiB, "
              f"{size['fallback'] / 1e6:.2f} MB; -z 1: {fast:.2f} s, {size['z1'] / 1e6:.2f} MB)")
        print(f"auditwheel repair       {theirs:7.2f} s  peak {theirs_mem / 1024:6.0f} MiB  "
              f"(wheelrepair is {theirs / ours:.1f}x faster)")
        print(f"output size: ours {size['ours'] / 1e6:.2f} MB, auditwheel {size['theirs'] / 1e6:.2f} MB "
              f"(ours / theirs = {size['ours'] / size['theirs']:.4f})")


if __name__ == "__main__":
    main()
