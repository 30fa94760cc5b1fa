"""Deflate and inflate implementations on the bytes repair really handles, and our chunked parallel
writer against one thread. What wheel/compression.py chose is decided by these numbers.

Sample: the ELF members of scipy 1.17.1's manylinux wheel (what an un-repaired scipy repair compresses
again), and, when the local torch wheel is there, libtorch_cpu.so (434 MB) for inflate.

    python benchmarks/bench_deflate.py

isal (python-isal) is measured when installed; it is not a dependency (its decompressor cannot be
copied, which MemberBytes' checkpoints need).
"""

from __future__ import annotations

import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import ROOT  # noqa: F401  (puts the repository on sys.path)

from tests.fixtures.pypi import fetch_wheel, local_torch_wheel
from wheelrepair.wheel import compression, writer
from wheelrepair.wheel.archive import WheelArchive


def _optional(name: str) -> Any:
    try:
        return __import__(name, fromlist=["_"])
    except ImportError:
        return None


def _timed(func: Callable[[], Any], runs: int = 2) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def _stream(module: Any, level: int, members: list[bytes]) -> int:
    total = 0
    for data in members:
        compressor = module.compressobj(level, 8, -15)
        total += len(compressor.compress(data)) + len(compressor.flush())
    return total


def main() -> None:
    scipy = fetch_wheel("scipy==1.17.1", ["manylinux_2_28_x86_64", "manylinux2014_x86_64"])
    with zipfile.ZipFile(scipy) as zf:
        members = [zf.read(i) for i in zf.infolist() if i.filename.endswith(".so") or ".so." in i.filename]
    size = sum(map(len, members))
    print(f"deflate, one core, {len(members)} ELF members of {scipy.name} ({size / 1e6:.0f} MB):")
    zlib_ng = _optional("zlib_ng.zlib_ng")
    isal = _optional("isal.isal_zlib")
    libdeflate = _optional("deflate")
    rows: list[tuple[str, Callable[[], int]]] = [(f"zlib {lvl}", lambda lvl=lvl: _stream(zlib, lvl, members)) for lvl in (1, 6, 9)]
    if zlib_ng:
        rows += [(f"zlib-ng {lvl}", lambda lvl=lvl: _stream(zlib_ng, lvl, members)) for lvl in (1, 6, 9)]
    if isal:
        rows += [(f"isal {lvl}", lambda lvl=lvl: _stream(isal, lvl, members)) for lvl in (1, 2, 3)]
    if libdeflate:
        rows += [(f"libdeflate {lvl}", lambda lvl=lvl: sum(len(libdeflate.deflate_compress(m, lvl)) for m in members))
                 for lvl in (1, 6, 9)]
    base = None
    for label, func in rows:
        seconds, out = _timed(func)
        if label == "zlib 6":
            base = (seconds, out)
        print(f"  {label:14} {seconds:6.2f} s {size / seconds / 1e6:7.1f} MB/s  {out / 1e6:7.2f} MB")
    assert base is not None
    print(f"  (zlib 6 is auditwheel's: {base[1] / 1e6:.2f} MB in {base[0]:.2f} s)")

    torch = local_torch_wheel()
    if torch is not None:
        with WheelArchive.open(torch) as archive:
            member = max(archive.members, key=archive.size)
            offset, length = archive.raw_span(member)
            with open(torch, "rb") as f:
                f.seek(offset)
                raw = f.read(length)
        print(f"inflate {member} ({archive.size(member) / 1e6:.0f} MB):")
        for label, module in (("zlib", zlib), ("zlib-ng", zlib_ng), ("isal", isal)):
            if module is None:
                continue

            def inflate(module: Any = module) -> int:
                state, total = module.decompressobj(-15), 0
                for start in range(0, len(raw), 1 << 16):
                    total += len(state.decompress(raw[start : start + (1 << 16)]))
                return total

            seconds, _ = _timed(inflate)
            print(f"  {label:8} {seconds:6.2f} s")
        del raw

    print(f"our writer, {size / 1e6:.0f} MB of new members at level 6 ({compression.implementations()}):")
    with tempfile.TemporaryDirectory() as tmp, WheelArchive.open(scipy) as source:
        work = Path(tmp)
        sample = work / "sample.so"
        sample.write_bytes(b"".join(members))
        for threads in (1, writer.MAX_THREADS):
            writer.MAX_THREADS = threads
            (work / str(threads)).mkdir()
            dest = work / str(threads) / scipy.name
            seconds, _ = _timed(lambda dest=dest: writer.write_wheel(source, dest, add={"scipy/_sample.so": sample}),
                                runs=1)
            print(f"  at most {threads} thread(s): {seconds:6.2f} s")


if __name__ == "__main__":
    main()
