"""The shapes of auditwheel's integration suite, built from our own sources, repaired by both tools on
this host: same output file name, same vendored set, same ``show`` tag. Where we differ on purpose
the test says so and docs/linux-auditwheel.md gives the reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.fixtures import auditwheel_shapes as aw
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
