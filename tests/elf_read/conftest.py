"""Session-wide real ELF files for the reader and resolver tests, built once with gcc and zig."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from .toolchain import gcc, zig_cc

LIB_C = "int c_value(void) { return 1; }\n"
LIB_B = "int c_value(void);\nint b_value(void) { return c_value() + 1; }\n"
LIB_A = "int b_value(void);\nint a_value(void) { return b_value() + 1; }\n"
VERSIONED = (
    "#include <stdlib.h>\n#include <string.h>\n#include <math.h>\n#include <pthread.h>\n"
    "static void *run(void *p) { return p; }\n"
    "double use(const char *s) { pthread_t t; pthread_create(&t, 0, run, 0); pthread_join(t, 0);\n"
    "  return strlen(s) + cos(s[0]) + arc4random(); }\n"
)
PROGRAM = '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n'
CXX = "#include <string>\n#include <vector>\nstd::string join(const std::vector<std::string>& v) {\n"
CXX += "  std::string r; for (auto& s : v) r += s; return r; }\n"
PORTABLE = "#include <string.h>\nint portable(const char *s) { return (int)strlen(s); }\n"


@dataclass(frozen=True)
class NativeLibs:
    root: Path
    libc_dir: Path
    rpath: Path  # libA with DT_RPATH only
    runpath: Path  # libA with DT_RUNPATH only
    versioned: Path  # uses symbols from glibc 2.34 and 2.36, libm, libpthread
    cxx: Path
    program: Path  # a PIE executable
    obj: Path  # a relocatable object
    debug: Path  # built with -g: debug sections follow everything the loader reads


@pytest.fixture(scope="session")
def native(tmp_path_factory: pytest.TempPathFactory) -> NativeLibs:
    root = tmp_path_factory.mktemp("native")
    libc_dir = root / "c"
    gcc(libc_dir / "libC.so.1", LIB_C, "-Wl,-soname,libC.so.1")
    gcc(root / "b" / "libB.so.1", LIB_B, "-Wl,-soname,libB.so.1", f"-L{libc_dir}", "-l:libC.so.1")
    link = [f"-L{root / 'b'}", "-l:libB.so.1", "-Wl,-soname,libA.so.1"]
    rpath = gcc(
        root / "a" / "libA-rpath.so", LIB_A, *link, "-Wl,--disable-new-dtags,-rpath,$ORIGIN/../b:/opt/x"
    )
    runpath = gcc(
        root / "a" / "libA-runpath.so", LIB_A, *link, "-Wl,--enable-new-dtags,-rpath,${ORIGIN}/../b"
    )
    versioned = gcc(root / "v" / "libversioned.so", VERSIONED, "-lm", "-pthread")
    cxx = gcc(root / "v" / "libcxx.so", CXX, cxx=True)
    program = gcc(root / "v" / "program", PROGRAM, "-pie", shared=False)
    obj = gcc(root / "v" / "object.o", PORTABLE, "-c", shared=False)
    debug = gcc(root / "v" / "libdebug.so", CXX, "-g", cxx=True)
    return NativeLibs(root, libc_dir, rpath, runpath, versioned, cxx, program, obj, debug)


#: zig target -> (arch name wheelrepair must report, readelf Class, readelf Data fragment)
CROSS_TARGETS = {
    "aarch64-linux-gnu": ("aarch64", "ELF64", "little endian"),
    "x86-linux-gnu": ("i686", "ELF32", "little endian"),
    "powerpc64-linux-musl": ("ppc64", "ELF64", "big endian"),
    "powerpc64le-linux-gnu": ("ppc64le", "ELF64", "little endian"),
    "arm-linux-gnueabihf": ("armv7l", "ELF32", "little endian"),
    "x86_64-linux-musl": ("x86_64", "ELF64", "little endian"),
}


@pytest.fixture(scope="session")
def cross(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | None]:
    root = tmp_path_factory.mktemp("cross")
    source = PORTABLE + 'int uses_rpath(void) { return portable("x"); }\n'
    return {
        target: zig_cc(
            root / target / "libport.so.3", source, target, "-Wl,-soname,libport.so.3", "-Wl,-rpath,$ORIGIN"
        )
        for target in CROSS_TARGETS
    }
