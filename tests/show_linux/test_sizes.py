"""The size report of show and repair --dedupe, on a gcc-built wheel that ships one library three
times (libdup.so, libdup.so.1, libdup.so.1.2.3: symlinks materialized into copies, as zip has none)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.elf_project import EXT
from tests.fixtures.venv import fresh_venv, uv_install
from tests.fixtures.wheels import make_wheel

PY = f"cp{sys.version_info[0]}{sys.version_info[1]}"
COPIES = ("libdup.so", "libdup.so.1", "libdup.so.1.2.3")


def wheelrepair(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def duplicated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dup")
    (root / "a.c").write_text("int a_value(void) { return 42; }\n" + "char padding[8192] = {1};\n")
    lib = root / "libdup.so.1.2.3"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-Wl,-soname,libdup.so.1", "-o", str(lib), str(root / "a.c")],
                   check=True)
    (root / "libdup.so.1").symlink_to(lib.name)
    (root / "ext.c").write_text(EXT.replace("_chain", "_dup"))
    ext = root / f"_dup{sysconfig.get_config_var('EXT_SUFFIX')}"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", f"-I{sysconfig.get_paths()['include']}", "-o", str(ext),
                    str(root / "ext.c"), f"-L{root}", "-l:libdup.so.1", "-Wl,-rpath,$ORIGIN"], check=True)
    files: dict[str, bytes | Path] = {"dup/__init__.py": b"from ._dup import answer\n", f"dup/{ext.name}": ext}
    files.update({f"dup/{name}": lib for name in COPIES})
    return make_wheel(root / "dist", files, name="dup", tag=f"{PY}-{PY}-linux_x86_64")


def test_show_reports_the_identical_copies_and_the_bytes_they_waste(duplicated: Path) -> None:
    result = wheelrepair("show", str(duplicated), "--json")
    assert result.returncode == 0, result.stderr
    size = json.loads(result.stdout)["size"]
    lib_size = os.path.getsize(duplicated.parent.parent / "libdup.so.1.2.3")
    assert size["wheel"] == duplicated.stat().st_size
    assert size["added"] == 0  # everything it needs is inside
    (group,) = size["copies"]
    assert sorted(group["members"]) == sorted(f"dup/{n}" for n in COPIES)
    assert group["size"] == lib_size and group["wasted"] == 2 * lib_size
    assert group["loaded"] == ["dup/libdup.so.1"]  # what the extension's DT_NEEDED names
    assert size["over_pypi_limit"] is False
    human = wheelrepair("show", str(duplicated))
    assert "identical copies" in human.stdout and "libdup.so.1.2.3" in human.stdout


def test_dedupe_keeps_the_loaded_name_drops_the_rest_and_the_wheel_works(duplicated: Path, tmp_path: Path) -> None:
    result = wheelrepair("repair", str(duplicated), "--dedupe", "-w", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(d["member"] for d in report["dropped"]) == ["dup/libdup.so", "dup/libdup.so.1.2.3"]
    assert all(d["kept"] == "dup/libdup.so.1" for d in report["dropped"])
    assert sum("dropped dup/libdup.so" in w for w in report["warnings"]) == 2
    with zipfile.ZipFile(report["output"]) as zf:
        names = zf.namelist()
        record = zf.read("dup-1.0.dist-info/RECORD").decode()
    assert "dup/libdup.so.1" in names and "dup/libdup.so" not in names and "dup/libdup.so.1.2.3" not in names
    assert "libdup.so.1.2.3" not in record
    assert wheelrepair("check", report["output"]).returncode == 0
    python = fresh_venv(tmp_path / "venv")
    uv_install(python, Path(report["output"]))
    probe = subprocess.run([str(python), "-c", "import dup; print(dup.answer())"], capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "42"
    # Without --dedupe nothing is dropped.
    plain = json.loads(wheelrepair("repair", str(duplicated), "-w", str(tmp_path / "plain"), "--json").stdout)
    assert plain["dropped"] == []
    with zipfile.ZipFile(plain["output"]) as zf:
        assert {f"dup/{n}" for n in COPIES} <= set(zf.namelist())


def test_show_warns_when_the_result_would_pass_the_pypi_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(101 * 1024 * 1024)
    (tmp_path / "e.c").write_text(EXT.replace("_chain", "_big").replace("a_value()", "42"))
    ext = tmp_path / f"_big{sysconfig.get_config_var('EXT_SUFFIX')}"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", f"-I{sysconfig.get_paths()['include']}", "-o", str(ext),
                    str(tmp_path / "e.c")], check=True)
    wheel = make_wheel(tmp_path / "dist", {f"big/{ext.name}": ext, "big/data.bin": big}, name="big",
                       tag=f"{PY}-{PY}-linux_x86_64")
    # Stored, so the file really is over 100 MiB.
    stored = tmp_path / "stored" / wheel.name
    stored.parent.mkdir()
    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(zipfile.ZipInfo(info.filename, info.date_time), zin.read(info))
    report = json.loads(wheelrepair("show", str(stored), "--json").stdout)
    assert report["size"]["over_pypi_limit"] is True
    human = wheelrepair("show", str(stored))
    assert "over PyPI's default file size limit" in human.stdout


def test_dedupe_only_touches_versioned_names_of_one_library() -> None:
    from wheelrepair.core.sizes import Copies, droppable

    aliases = Copies(("p/libz.so", "p/libz.so.1", "p/libz.so.1.3"), 9000, loaded=())
    modules = Copies(("a/_x.cpython-311-x86_64-linux-gnu.so", "b/_x.cpython-311-x86_64-linux-gnu.so"), 9000, ())
    strangers = Copies(("p/libz.so.1", "p/libother.so.1"), 9000, ())
    sonames = {"p/libz.so": "libz.so.1", "p/libz.so.1": "libz.so.1", "p/libz.so.1.3": "libz.so.1",
               "a/_x.cpython-311-x86_64-linux-gnu.so": None, "b/_x.cpython-311-x86_64-linux-gnu.so": None,
               "p/libother.so.1": "libother.so.1"}
    # Nothing loads the aliases: the soname's copy stays. Extension modules and unrelated libraries stay.
    assert droppable([aliases, modules, strangers], sonames) == [("p/libz.so", "p/libz.so.1"),
                                                                 ("p/libz.so.1.3", "p/libz.so.1")]
    # A copy a binary loads stays even when it is not the soname.
    loaded = Copies(aliases.members, 9000, loaded=("p/libz.so",))
    assert droppable([loaded], sonames) == [("p/libz.so.1", "p/libz.so"), ("p/libz.so.1.3", "p/libz.so")]
    # Copies that are not binaries of the wheel (no soname known) are left alone.
    assert droppable([Copies(("d/libq.so", "d/libq.so.2"), 9000, ())], {}) == []
