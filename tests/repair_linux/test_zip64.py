"""ZIP64 on a real repair: a wheel of more than 65,535 entries (a gcc-built extension among 70,000 data
files) is read, repaired and written with ZIP64 end records, and Python's zipfile, ``unzip -t`` and uv
all accept the result. Sizes and offsets past 4 GiB are covered by test_writer's forced-limit test and
by benchmarks/bench_zip64.py (a real 4.5 GB wheel)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.elf_project import EXT, build_libs
from tests.fixtures.venv import fresh_venv, site_packages, uv_install
from tests.fixtures.wheels import make_wheel

COUNT = 70_000
_END64 = struct.Struct("<4sQHHIIQQQQ")
_LOCATOR = struct.Struct("<4sIQI")
_END = struct.Struct("<4sHHHHIIH")


def _many_entries_wheel(root: Path) -> tuple[Path, Path]:
    libdir = root / "lib"
    build_libs(libdir)
    (root / "ext.c").write_text(EXT.replace("_chain", "_many"))
    ext = root / f"_many{sysconfig.get_config_var('EXT_SUFFIX')}"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", f"-I{sysconfig.get_paths()['include']}", "-o", str(ext),
                    str(root / "ext.c"), f"-L{libdir}", "-lA"], check=True)
    files: dict[str, bytes | Path] = {"many/__init__.py": b"from ._many import answer\n", f"many/{ext.name}": ext}
    files.update({f"many/data/{i // 1000:02d}/f{i:05d}.txt": f"{i}\n".encode() for i in range(COUNT)})
    py = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    return make_wheel(root / "dist", files, name="many", tag=f"{py}-{py}-linux_x86_64"), libdir


def _end_records(data: bytes) -> tuple[tuple, tuple, tuple]:
    end_at = data.rindex(b"PK\x05\x06")
    locator_at = end_at - _LOCATOR.size
    locator = _LOCATOR.unpack_from(data, locator_at)
    end64 = _END64.unpack_from(data, locator[2])
    return _END.unpack_from(data, end_at), locator, end64


@pytest.mark.slow
def test_more_than_65535_entries(tmp_path: Path) -> None:
    wheel, libdir = _many_entries_wheel(tmp_path)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "wheelrepair", "repair", str(wheel), "--lib-path", str(libdir),
                             "-w", str(out), "--json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    repaired = Path(json.loads(result.stdout)["output"])
    with zipfile.ZipFile(repaired) as zf:
        infos = zf.infolist()
        # data, package files, two vendored libraries, dist-info (METADATA, WHEEL, RECORD) and the SBOM
        assert len(infos) == COUNT + 2 + 2 + 3 + 1
        assert zf.testzip() is None
    end, locator, end64 = _end_records(repaired.read_bytes())
    # APPNOTE 4.3.14-4.3.16: the 16-bit counts say "see the ZIP64 record", which holds the real ones.
    assert end[0] == b"PK\x05\x06" and end[3] == end[4] == 0xFFFF
    assert locator[0] == b"PK\x06\x07" and locator[3] == 1
    assert end64[0] == b"PK\x06\x06" and end64[1] == _END64.size - 12
    assert end64[6] == end64[7] == len(infos)
    assert end64[9] + end64[8] == locator[2]  # the central directory ends where the ZIP64 record starts
    unzip = subprocess.run(["unzip", "-tq", str(repaired)], capture_output=True, text=True)
    assert unzip.returncode == 0, unzip.stdout[-2000:] + unzip.stderr
    python = fresh_venv(tmp_path / "venv")
    uv_install(python, repaired)
    hidden = libdir.with_name("lib-hidden")
    libdir.rename(hidden)
    try:
        probe = subprocess.run([str(python), "-c", "import many; print(many.answer())"], capture_output=True,
                               text=True, env={"PATH": os.environ["PATH"]})
    finally:
        hidden.rename(libdir)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "42"
    data = site_packages(python) / "many" / "data"
    assert sum(1 for _ in data.rglob("*.txt")) == COUNT
