"""``--include``: a library no binary links, which the extension dlopen()s by name at run time, is
vendored under its own name, its dependencies as usual, and found by the installed package with the
build directory gone (auditwheel cannot do this)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.elf_project import build_libs
from tests.fixtures.sbom import assert_describes, dependencies, read_sbom
from tests.fixtures.venv import fresh_venv, install
from tests.fixtures.wheels import make_wheel

PLUG = "int b_value(void);\nint plug_value(void) { return b_value() + 5; }\n"
EXT = textwrap.dedent(
    """
    #define PY_SSIZE_T_CLEAN
    #include <Python.h>
    #include <dlfcn.h>
    static PyObject *plugged(PyObject *self, PyObject *args) {
        void *h = dlopen("libplug.so.1", RTLD_NOW);
        if (!h) { PyErr_SetString(PyExc_OSError, dlerror()); return NULL; }
        int (*f)(void) = (int (*)(void))dlsym(h, "plug_value");
        return PyLong_FromLong(f());
    }
    static PyMethodDef methods[] = {{"plugged", plugged, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
    static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_dl", NULL, -1, methods};
    PyMODINIT_FUNC PyInit__dl(void) { return PyModule_Create(&module); }
    """
)
PROBE = (
    "import demo._dl as m, json; v = m.plugged(); maps = open('/proc/self/maps').read().split('\\n');"
    "print(json.dumps({'value': v, 'libs': sorted({l.split()[-1] for l in maps if 'libplug' in l or 'libB' in l})}))"
)


def wheelrepair(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def dlopen_wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(wheel, build libdir): demo/_dl.so links nothing of ours but dlopens libplug.so.1 -> libB.so.2."""
    root = tmp_path_factory.mktemp("include")
    libdir = root / "lib"
    build_libs(libdir)
    (libdir / "plug.c").write_text(PLUG)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-Wl,-soname,libplug.so.1", "-o", str(libdir / "libplug.so.1"),
                    str(libdir / "plug.c"), f"-L{libdir}", "-lB"], check=True)  # fmt: skip
    src = root / "_dl.c"
    src.write_text(EXT)
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    ext = root / f"_dl{suffix}"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", f"-I{sysconfig.get_paths()['include']}", "-o", str(ext),
                    str(src), "-ldl"], check=True)  # fmt: skip
    py = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    wheel = make_wheel(root / "dist", {"demo/__init__.py": b"", f"demo/_dl{suffix}": ext},
                       tag=f"{py}-{py}-linux_x86_64")  # fmt: skip
    return wheel, libdir


def test_included_library_is_vendored_by_its_name_and_dlopen_finds_it(
    dlopen_wheel: tuple[Path, Path], tmp_path: Path
) -> None:
    wheel, libdir = dlopen_wheel
    # Without --include there is nothing to vendor: repair cannot see a dlopen.
    plain = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "plain"), "--json")
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["vendored"] == []
    result = wheelrepair(
        "repair", str(wheel), "-w", str(tmp_path / "out"), "--lib-path", str(libdir), "--include", "libplug.so.1",
        "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    dests = sorted(v["dest"] for v in report["vendored"])
    assert dests[1] == "demo.libs/libplug.so.1"  # dlopen asks for this name: it is kept
    assert dests[0].startswith("demo.libs/libB-") and dests[0].endswith(".so.2")  # its dependency: mangled
    out = Path(report["output"])
    assert wheelrepair("check", str(out)).returncode == 0
    # The SBOM lists the included library like any vendored one, and the package depends on it.
    document = read_sbom(out)[0]
    by_file = assert_describes(out, report)
    wheel_ref = document["metadata"]["component"]["bom-ref"]
    assert by_file["demo.libs/libplug.so.1"]["bom-ref"] in dependencies(document)[wheel_ref]
    python = fresh_venv(tmp_path / "venv")
    install(python, out)
    hidden = libdir.with_name("lib-hidden")
    libdir.rename(hidden)
    try:
        run = subprocess.run([str(python), "-c", PROBE], capture_output=True, text=True,
                             env={"PATH": os.environ["PATH"]})  # fmt: skip
    finally:
        hidden.rename(libdir)
    assert run.returncode == 0, run.stderr
    probe = json.loads(run.stdout)
    assert probe["value"] == 45
    assert [Path(p).parent.name for p in probe["libs"]] == ["demo.libs", "demo.libs"]
    # A second repair finds the library in the wheel and changes nothing.
    again = wheelrepair(
        "repair", str(out), "-w", str(tmp_path / "again"), "--include", "libplug.so.1", "--json"
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["vendored"] == []
    with zipfile.ZipFile(out) as zf:
        assert sorted(n for n in zf.namelist() if n.startswith("demo.libs/")) == dests


def test_include_that_is_not_found_or_also_excluded_is_one_line(
    dlopen_wheel: tuple[Path, Path], tmp_path: Path
) -> None:
    wheel, libdir = dlopen_wheel
    missing = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "a"), "--include", "libnothere.so.3")
    assert missing.returncode == 1
    assert "libnothere.so.3" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    both = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "b"), "--lib-path", str(libdir),
                       "--include", "libplug.so.1", "--exclude", "libplug*")  # fmt: skip
    assert both.returncode == 2
    assert "libplug.so.1" in both.stderr and len(both.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists() or not list((tmp_path / "a").iterdir())
