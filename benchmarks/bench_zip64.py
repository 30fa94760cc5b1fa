"""A 4.5 GB wheel: one member just over 4 GiB, 70,000 small members and a gcc-built extension that needs
two libraries from outside the wheel. Repair it (time, peak memory), then check the output with
Python's zipfile, ``unzip -t`` and ``uv pip install`` into a fresh venv, and import it there.

    python benchmarks/bench_zip64.py [--keep DIR]

Needs ~14 GB of free disk in the temporary directory (input, output, installed copy).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path

from _common import run_timed

from tests.fixtures.elf_project import EXT, build_libs

BIG = 4_300_000_000  # > 4 GiB (4,294,967,296)
SMALL = 70_000
BLOCK = 1 << 20


def _hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build(root: Path) -> tuple[Path, Path]:
    libdir = root / "lib"
    build_libs(libdir)
    (root / "ext.c").write_text(EXT.replace("_chain", "_huge"))
    ext = root / f"_huge{sysconfig.get_config_var('EXT_SUFFIX')}"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", f"-I{sysconfig.get_paths()['include']}", "-o", str(ext),
                    str(root / "ext.c"), f"-L{libdir}", "-lA"], check=True)
    py = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    wheel = root / "dist" / f"huge-1.0-{py}-{py}-linux_x86_64.whl"
    wheel.parent.mkdir()
    rows = []
    # Incompressible (a random block repeats only every MiB, beyond deflate's 32 KiB window), so the
    # member is stored and the file really is over 4 GiB, with offsets past 4 GiB after it.
    block = os.urandom(BLOCK)
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in (("huge/__init__.py", b"from ._huge import answer\n"), (f"huge/{ext.name}", ext.read_bytes())):
            zf.writestr(name, data)
            rows.append(f"{name},{_hash(data)},{len(data)}")
        info = zipfile.ZipInfo("huge/data/blob.bin", (2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED
        hasher = hashlib.sha256()
        with zf.open(info, "w", force_zip64=True) as out:
            left = BIG
            while left:
                piece = block[: min(BLOCK, left)]
                out.write(piece)
                hasher.update(piece)
                left -= len(piece)
        rows.append(f"huge/data/blob.bin,sha256={base64.urlsafe_b64encode(hasher.digest()).rstrip(b'=').decode()},{BIG}")
        for i in range(SMALL):
            name, data = f"huge/small/{i // 1000:02d}/f{i:05d}.txt", f"{i}\n".encode()
            zf.writestr(name, data)
            rows.append(f"{name},{_hash(data)},{len(data)}")
        dist = "huge-1.0.dist-info"
        for name, data in ((f"{dist}/METADATA", b"Metadata-Version: 2.1\nName: huge\nVersion: 1.0\n"),
                           (f"{dist}/WHEEL", f"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: false\n"
                                             f"Tag: {py}-{py}-linux_x86_64\n".encode())):
            zf.writestr(name, data)
            rows.append(f"{name},{_hash(data)},{len(data)}")
        zf.writestr(f"{dist}/RECORD", "\n".join([*rows, f"{dist}/RECORD,,", ""]))
    return wheel, libdir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", type=Path, help="work here and keep the files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        wheel, libdir = build(work)
        print(f"built {wheel.name}: {wheel.stat().st_size / 1e9:.2f} GB, {SMALL + 5} members "
              f"({time.perf_counter() - start:.0f} s)")
        out = work / "out"
        seconds, peak = run_timed([sys.executable, "-m", "wheelrepair", "repair", str(wheel), "--lib-path",
                                   str(libdir), "-w", str(out)])
        (repaired,) = out.glob("*.whl")
        print(f"wheelrepair repair       {seconds:7.1f} s  peak {peak / 1024:6.0f} MiB  -> "
              f"{repaired.name} ({repaired.stat().st_size / 1e9:.2f} GB)")
        start = time.perf_counter()
        with zipfile.ZipFile(repaired) as zf:
            bad = zf.testzip()
            count = len(zf.infolist())
        print(f"zipfile testzip          {time.perf_counter() - start:7.1f} s  {count} entries, "
              f"{'ok' if bad is None else 'BAD: ' + bad}")
        start = time.perf_counter()
        unzip = subprocess.run(["unzip", "-tq", str(repaired)], capture_output=True, text=True)
        print(f"unzip -tq                {time.perf_counter() - start:7.1f} s  {unzip.stdout.strip()[-80:]} "
              f"(exit {unzip.returncode})")
        venv = work / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        start = time.perf_counter()
        uv = subprocess.run([sys.executable, "-m", "uv", "pip", "install", "--python", str(venv / "bin" / "python"),
                             "--no-deps", "--no-index", "--offline", str(repaired)], capture_output=True, text=True)
        print(f"uv pip install           {time.perf_counter() - start:7.1f} s  exit {uv.returncode} "
              f"{uv.stderr.strip().splitlines()[-1] if uv.stderr.strip() else ''}")
        libdir.rename(libdir.with_name("lib-away"))
        probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import huge; print(huge.answer())"],
                               capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
        print(f"import in the venv, build libraries moved away: {probe.stdout.strip() or probe.stderr.strip()}")


if __name__ == "__main__":
    main()
