"""Repair options on real gcc-built wheels: symlinked names vendored once, --no-mangle, --strip, -j."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.elf_project import EXT, ChainProject, build_gcc_wheel
from tests.fixtures.wheels import make_wheel

PY = f"cp{sys.version_info[0]}{sys.version_info[1]}"


def wheelrepair(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "wheelrepair", *args, "--json"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> ChainProject:
    return build_gcc_wheel(tmp_path_factory.mktemp("opts"))


@pytest.fixture(scope="module")
def two_names(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two extensions needing one library through two symlinked names (libc2.so and libc2.so.1)."""
    root = tmp_path_factory.mktemp("symlinks")
    lib = root / "lib"
    lib.mkdir()
    (root / "c.c").write_text("int a_value(void) { return 42; }\n")
    # No SONAME: each extension records the name it was linked with.
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O2", "-o", str(lib / "libc2.so.1.2"), str(root / "c.c")], check=True
    )
    (lib / "libc2.so.1").symlink_to("libc2.so.1.2")
    (lib / "libc2.so").symlink_to("libc2.so.1")
    (root / "ext.c").write_text(EXT)
    include = sysconfig.get_paths()["include"]
    files = {}
    for stem, link in (("_one", "-l:libc2.so"), ("_two", "-l:libc2.so.1")):
        out = root / f"{stem}.so"
        subprocess.run(
            [
                "gcc",
                "-shared",
                "-fPIC",
                "-O2",
                f"-I{include}",
                "-o",
                str(out),
                str(root / "ext.c"),
                f"-L{lib}",
                link,
                f"-Wl,-rpath,{lib}",
            ],
            check=True,
        )
        files[f"sym/{stem}.so"] = out
    return make_wheel(root / "dist", files, name="sym", tag=f"{PY}-{PY}-linux_x86_64"), lib


def test_symlinked_names_are_vendored_once(two_names: tuple[Path, Path], tmp_path: Path) -> None:
    wheel, _ = two_names
    report = wheelrepair("repair", str(wheel), "-w", str(tmp_path))
    assert len(report["vendored"]) == 1
    dest = report["vendored"][0]["dest"]
    with zipfile.ZipFile(report["output"]) as zf:
        libs = [n for n in zf.namelist() if n.startswith("sym.libs/")]
        assert libs == [dest]
        for ext in ("sym/_one.so", "sym/_two.so"):
            zf.extract(ext, tmp_path / "x")
    for ext in ("sym/_one.so", "sym/_two.so"):
        needed = wheelrepair("needed", str(tmp_path / "x" / ext))["needed"]
        assert Path(dest).name in needed


def test_no_mangle_keeps_original_names(chain: ChainProject, tmp_path: Path) -> None:
    report = wheelrepair("repair", str(chain.wheel), "-w", str(tmp_path), "--no-mangle", "libB*")
    names = sorted(Path(v["dest"]).name for v in report["vendored"])
    assert names[1] == "libB.so.2" and names[0].startswith("libA-")


def test_strip_drops_symbol_tables(chain: ChainProject, tmp_path: Path) -> None:
    report = wheelrepair("repair", str(chain.wheel), "-w", str(tmp_path), "--strip")
    with zipfile.ZipFile(report["output"]) as zf:
        members = [n for n in zf.namelist() if n.endswith(".so") or ".so." in n]
        zf.extractall(tmp_path / "x", members)
    for member in members:
        sections = subprocess.run(
            ["readelf", "-S", "-W", str(tmp_path / "x" / member)], capture_output=True, text=True, check=True
        ).stdout
        assert ".symtab" not in sections and ".dynsym" in sections, member


def test_jobs_repairs_several_wheels(
    chain: ChainProject, two_names: tuple[Path, Path], tmp_path: Path
) -> None:
    reports = wheelrepair("repair", str(chain.wheel), str(two_names[0]), "-w", str(tmp_path), "-j", "2")
    assert [Path(r["output"]).name.split("-")[0] for r in reports] == ["demo", "sym"]
    assert all(Path(r["output"]).exists() for r in reports)


def test_libpython_dependency_is_dropped(tmp_path: Path) -> None:
    """Extensions built against a shared libpython must not keep the reference (PEP 513/600)."""
    libdir = sysconfig.get_config_var("LIBDIR")
    ldlib = sysconfig.get_config_var("LDLIBRARY") or ""
    if not ldlib.startswith("libpython") or not (Path(libdir) / ldlib).exists():
        pytest.skip("this Python has no shared libpython")
    (tmp_path / "ext.c").write_text(EXT.replace("a_value()", "42").replace("int a_value(void);", ""))
    ext = tmp_path / "_chain.so"
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-O2",
            f"-I{sysconfig.get_paths()['include']}",
            "-o",
            str(ext),
            str(tmp_path / "ext.c"),
            f"-L{libdir}",
            f"-l{ldlib[3:].split('.so')[0]}",
            f"-Wl,-rpath,{libdir}",
        ],
        check=True,
    )
    before = wheelrepair("needed", str(ext))["needed"]
    assert any(n.startswith("libpython") for n in before)
    wheel = make_wheel(
        tmp_path / "dist",
        {"pyx/__init__.py": b"from ._chain import answer\n", "pyx/_chain.so": ext},
        name="pyx",
        tag=f"{PY}-{PY}-linux_x86_64",
    )
    shown = wheelrepair("show", str(wheel))
    assert [e["action"] for e in shown["external"] if e["name"].startswith("libpython")] == ["remove"]
    report = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"))
    assert report["vendored"] == [] and any("libpython" in w for w in report["warnings"])
    with zipfile.ZipFile(report["output"]) as zf:
        zf.extractall(tmp_path / "x")
    after = wheelrepair("needed", str(tmp_path / "x" / "pyx" / "_chain.so"))["needed"]
    assert not any(n.startswith("libpython") for n in after)
    run = subprocess.run(
        [sys.executable, "-c", "import pyx; print(pyx.answer())"],
        cwd=tmp_path / "x",
        capture_output=True,
        text=True,
    )
    assert run.stdout.strip() == "42", run.stderr
