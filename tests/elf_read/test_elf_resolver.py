"""The ELF resolver against this machine's real loader: each layout is loaded through ld.so (ctypes in a
fresh Python, reading /proc/self/maps) and the resolver must find the same files, or fail the same way."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from wheelrepair.formats.base import WHEEL_ROOT, Loaded, SearchContext
from wheelrepair.formats.elf.backend import ElfBackend
from wheelrepair.formats.elf.reader import read_elf
from wheelrepair.formats.elf.resolver import ElfResolver

from .conftest import LIB_A, LIB_B, LIB_C, PORTABLE
from .toolchain import gcc, host_reader, real_load, zig_cc


@dataclass(frozen=True)
class Walk:
    """The resolver's answer for a whole load: every library it found, or the first one it missed."""

    found: tuple[str, ...]
    missing: str | None


def walk(root_lib: Path, ctx: SearchContext) -> Walk:
    """Follow the dependency tree from ``root_lib`` breadth-first, as the core's graph walk does."""
    resolver = ElfResolver(ctx)
    top = Loaded(PurePosixPath(root_lib), read_elf(root_lib.read_bytes(), str(root_lib)))
    queue: list[list[Loaded]] = [[top]]
    found: list[str] = [str(root_lib)]
    while queue:
        chain = queue.pop(0)
        for name in chain[-1].binary.needed:
            if name.startswith(("libc.so", "libm.so", "ld-linux")):
                continue
            result = resolver.resolve(name, chain)
            if result.location is None:
                return Walk(tuple(sorted(found)), name)
            key = str(result.location.path)
            if key not in found:
                found.append(key)
                queue.append([*chain, Loaded(result.location.path, result.location.binary)])
    return Walk(tuple(sorted(found)), None)


def context(
    environ: Mapping[str, str] | None = None, lib_path: Sequence[str] = (), **kwargs: object
) -> SearchContext:
    return SearchContext(
        wheel_files={},
        lib_path=lib_path,
        environ=dict(environ or {}),
        read_host=host_reader,
        **kwargs,  # type: ignore[arg-type]
    )


def agree(
    library: Path, root: Path, ld_library_path: str | None = None, lib_path: Sequence[str] = ()
) -> Walk:
    """Assert the resolver and the real loader agree on ``library``; return the resolver's walk."""
    env = {"LD_LIBRARY_PATH": ld_library_path} if ld_library_path else {}
    ours = walk(library, context(env, lib_path))
    real = real_load(library, root, ld_library_path)
    if "error" in real:
        assert ours.missing is not None, f"loader failed ({real['error']}) but resolver found {ours.found}"
        assert ours.missing in str(real["error"])
    else:
        assert ours.missing is None, f"resolver missed {ours.missing}; loader mapped {real['mapped']}"
        assert ours.found == tuple(real["mapped"])  # type: ignore[arg-type]
    return ours


@pytest.fixture(scope="session")
def chain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """c/libC.so.1 <- b/libB.so.1 <- a/libA-*.so variants, plus decoys."""
    root = tmp_path_factory.mktemp("chain")
    gcc(root / "c" / "libC.so.1", LIB_C, "-Wl,-soname,libC.so.1")
    gcc(root / "b" / "libB.so.1", LIB_B, "-Wl,-soname,libB.so.1", f"-L{root / 'c'}", "-l:libC.so.1")
    # libB with a RUNPATH of its own that leads nowhere: it stops inheriting libA's RPATH.
    gcc(
        root / "b2" / "libB.so.1",
        LIB_B,
        "-Wl,-soname,libB.so.1",
        f"-L{root / 'c'}",
        "-l:libC.so.1",
        "-Wl,--enable-new-dtags,-rpath,/nonexistent",
    )
    # A second libB in another directory, to see which one wins.
    gcc(root / "other" / "libB.so.1", LIB_B, "-Wl,-soname,libB.so.1", f"-L{root / 'c'}", "-l:libC.so.1")
    link = [f"-L{root / 'b'}", "-l:libB.so.1"]
    variants = {
        "inherit-rpath": ["-Wl,--disable-new-dtags,-rpath,$ORIGIN/../b:$ORIGIN/../c"],
        "runpath": ["-Wl,--enable-new-dtags,-rpath,$ORIGIN/../b:$ORIGIN/../c"],
        "braced-origin": ["-Wl,--disable-new-dtags,-rpath,${ORIGIN}/../b:${ORIGIN}/../c"],
        "rpath-only-b": ["-Wl,--disable-new-dtags,-rpath,$ORIGIN/../b"],
        "runpath-only-b": ["-Wl,--enable-new-dtags,-rpath,$ORIGIN/../b"],
        "rpath-b2": ["-Wl,--disable-new-dtags,-rpath,$ORIGIN/../b2:$ORIGIN/../c"],
        "lib-token": [f"-Wl,--disable-new-dtags,-rpath,{root}/tok/$LIB:$ORIGIN/../c"],
        "platform-token": [f"-Wl,--disable-new-dtags,-rpath,{root}/tok/$PLATFORM:$ORIGIN/../c"],
    }
    for name, flags in variants.items():
        gcc(root / "a" / f"libA-{name}.so", LIB_A, *link, *flags)
    return root


def test_rpath_is_inherited_down_the_chain(chain_dir: Path) -> None:
    ours = agree(chain_dir / "a" / "libA-inherit-rpath.so", chain_dir)
    assert str(chain_dir / "c" / "libC.so.1") in ours.found


def test_braced_origin_is_expanded(chain_dir: Path) -> None:
    agree(chain_dir / "a" / "libA-braced-origin.so", chain_dir)


def test_runpath_is_not_inherited(chain_dir: Path) -> None:
    ours = agree(chain_dir / "a" / "libA-runpath.so", chain_dir)
    assert ours.missing == "libC.so.1"


def test_an_object_with_runpath_does_not_inherit_rpath(chain_dir: Path) -> None:
    ours = agree(chain_dir / "a" / "libA-rpath-b2.so", chain_dir)
    assert ours.missing == "libC.so.1"


def test_rpath_beats_ld_library_path_and_ld_library_path_beats_runpath(chain_dir: Path) -> None:
    env = f"{chain_dir / 'other'}:{chain_dir / 'c'}"
    with_rpath = agree(chain_dir / "a" / "libA-rpath-only-b.so", chain_dir, ld_library_path=env)
    assert str(chain_dir / "b" / "libB.so.1") in with_rpath.found
    with_runpath = agree(chain_dir / "a" / "libA-runpath-only-b.so", chain_dir, ld_library_path=env)
    assert str(chain_dir / "other" / "libB.so.1") in with_runpath.found


def test_lib_token_is_debians_multiarch_directory(chain_dir: Path, tmp_path: Path) -> None:
    triplet_dir = chain_dir / "tok" / "lib" / "x86_64-linux-gnu"
    if not Path("/lib/x86_64-linux-gnu").is_dir():
        pytest.skip("not a Debian multiarch x86_64 host")
    triplet_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(chain_dir / "b" / "libB.so.1", triplet_dir / "libB.so.1")
    try:
        ours = agree(chain_dir / "a" / "libA-lib-token.so", chain_dir)
        assert str(triplet_dir / "libB.so.1") in ours.found
    finally:
        shutil.rmtree(chain_dir / "tok")


def loader_platform(library: Path, root: Path) -> str:
    """What this machine's ld.so substitutes for ``$PLATFORM`` in ``library``'s DT_RPATH
    (``{root}/tok/$PLATFORM``), from the search path it reports under LD_DEBUG=libs."""
    probe = f"import ctypes\ntry:\n    ctypes.CDLL({str(library)!r})\nexcept OSError:\n    pass\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LD_")}
    env["LD_DEBUG"] = "libs"
    err = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True).stderr
    found = re.search(re.escape(f"{root}/tok/") + r"([^/:\s]+)", err)
    assert found, f"the loader did not report searching {root}/tok: {err[-2000:]}"
    return found.group(1)


def test_platform_token(chain_dir: Path) -> None:
    """``$PLATFORM`` is what the real loader makes of it here: the kernel's AT_PLATFORM, or glibc's
    own name for the CPU (``haswell`` on recent Intel x86-64), never a guess."""
    library = chain_dir / "a" / "libA-platform-token.so"
    real = loader_platform(library, chain_dir)
    platform_dir = chain_dir / "tok" / real
    platform_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(chain_dir / "b" / "libB.so.1", platform_dir / "libB.so.1")
    try:
        ours = agree(library, chain_dir)
        assert str(platform_dir / "libB.so.1") in ours.found
    finally:
        shutil.rmtree(chain_dir / "tok")


def test_platform_token_for_another_machine(chain_dir: Path) -> None:
    """Resolving for a target that is not this machine (another root), ``$PLATFORM`` is the kernel's
    name for the architecture: the target's CPU, and so glibc's override, is unknown."""
    lib = chain_dir / "a" / "libA-runpath.so"
    loaded = Loaded(WHEEL_ROOT / "pkg" / "_ext.so", read_elf(lib.read_bytes(), "a"))
    resolver = ElfResolver(context(host_root=str(chain_dir)))
    assert resolver.expand("/opt/$PLATFORM/lib", loaded) == PurePosixPath("/opt/x86_64/lib")


def test_wrong_architecture_is_skipped_like_the_loader_does(chain_dir: Path, tmp_path: Path) -> None:
    """An aarch64 libB.so.1 earlier on LD_LIBRARY_PATH is passed over for the x86_64 one."""
    foreign = zig_cc(tmp_path / "arm" / "libB.so.1", PORTABLE, "aarch64-linux-gnu", "-Wl,-soname,libB.so.1")
    if foreign is None:
        pytest.skip("zig cannot build aarch64 here")
    env = f"{tmp_path / 'arm'}:{chain_dir / 'b'}:{chain_dir / 'c'}"
    ours = agree(chain_dir / "a" / "libA-runpath-only-b.so", tmp_path.parent, ld_library_path=env)
    assert str(chain_dir / "b" / "libB.so.1") in ours.found
    resolution = ElfResolver(context({"LD_LIBRARY_PATH": env})).resolve(
        "libB.so.1", [Loaded(PurePosixPath(chain_dir / "a" / "x.so"), read_elf(foreign.read_bytes(), "arm"))]
    )
    assert resolution.location is not None and resolution.location.path == PurePosixPath(foreign)


def test_lib_path_comes_after_ld_library_path_and_before_runpath(chain_dir: Path) -> None:
    lib = chain_dir / "a" / "libA-runpath-only-b.so"
    loaded = [Loaded(PurePosixPath(lib), read_elf(lib.read_bytes(), "a"))]
    user = [str(chain_dir / "other")]
    found = ElfResolver(context(lib_path=user)).resolve("libB.so.1", loaded)
    assert found.location is not None and found.location.path.parent == PurePosixPath(chain_dir / "other")
    env = {"LD_LIBRARY_PATH": str(chain_dir / "b2")}
    found = ElfResolver(context(env, lib_path=user)).resolve("libB.so.1", loaded)
    assert found.location is not None and found.location.path.parent == PurePosixPath(chain_dir / "b2")
    rpath_lib = chain_dir / "a" / "libA-rpath-only-b.so"
    rpath_loaded = [Loaded(PurePosixPath(rpath_lib), read_elf(rpath_lib.read_bytes(), "a"))]
    found = ElfResolver(context(lib_path=user)).resolve("libB.so.1", rpath_loaded)
    assert found.location is not None and found.location.path.parent == PurePosixPath(chain_dir / "b")


def test_searched_lists_directories_in_order(chain_dir: Path) -> None:
    lib = chain_dir / "a" / "libA-runpath-only-b.so"
    loaded = [Loaded(PurePosixPath(lib), read_elf(lib.read_bytes(), "a"))]
    result = ElfResolver(
        context({"LD_LIBRARY_PATH": "/env1:relative:/env2"}, ["/user"], use_host_config=False)
    ).resolve("libNope.so.9", loaded)
    assert result.location is None
    assert result.searched[:4] == ("/env1", "/env2", "/user", str(chain_dir / "b"))
    assert "/usr/lib/x86_64-linux-gnu" in result.searched and result.searched[-1] == "/usr/lib"


def test_auditwheel_ld_library_path_is_searched_before_ld_library_path(chain_dir: Path) -> None:
    """auditwheel's AUDITWHEEL_LD_LIBRARY_PATH, as its users set it in CI, comes first."""
    lib = chain_dir / "a" / "libA-runpath-only-b.so"
    loaded = [Loaded(PurePosixPath(lib), read_elf(lib.read_bytes(), "a"))]
    env = {"AUDITWHEEL_LD_LIBRARY_PATH": str(chain_dir / "other"), "LD_LIBRARY_PATH": str(chain_dir / "b2")}
    found = ElfResolver(context(env)).resolve("libB.so.1", loaded)
    assert found.location is not None and found.location.path.parent == PurePosixPath(chain_dir / "other")
    assert found.searched == (str(chain_dir / "other"),)


def test_ld_so_conf_with_includes_under_a_host_root(chain_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "sysroot"
    (root / "etc" / "ld.so.conf.d").mkdir(parents=True)
    (root / "etc" / "ld.so.conf").write_text(
        "# comment\ninclude /etc/ld.so.conf.d/*.conf\ninclude ld.so.conf\n"
    )
    (root / "etc" / "ld.so.conf.d" / "b.conf").write_text("/opt/vendor/lib  # trailing comment\n")
    (root / "etc" / "ld.so.conf.d" / "a.conf").write_text("/opt/first\n")
    (root / "opt" / "vendor" / "lib").mkdir(parents=True)
    shutil.copy(chain_dir / "c" / "libC.so.1", root / "opt" / "vendor" / "lib" / "libC.so.1")
    lib = chain_dir / "b" / "libB.so.1"  # no search paths of its own
    loaded = [Loaded(PurePosixPath(lib), read_elf(lib.read_bytes(), "b"))]
    result = ElfResolver(context(host_root=str(root))).resolve("libC.so.1", loaded)
    assert result.location is not None
    assert result.location.path == PurePosixPath(root / "opt" / "vendor" / "lib" / "libC.so.1")
    assert result.searched[:2] == (str(root / "opt" / "first"), str(root / "opt" / "vendor" / "lib"))
    no_config = ElfResolver(context(host_root=str(root), use_host_config=False)).resolve("libC.so.1", loaded)
    assert no_config.location is None


def test_wheel_libraries_resolve_by_their_installed_position(chain_dir: Path) -> None:
    """An extension with RUNPATH $ORIGIN/../pkg.libs finds the wheel's copy, never the build machine's."""
    ext = read_elf((chain_dir / "a" / "libA-runpath-only-b.so").read_bytes(), "ext")
    ext = dataclasses.replace(ext, runpaths=("$ORIGIN/../pkg.libs",))
    lib_b = read_elf((chain_dir / "b" / "libB.so.1").read_bytes(), "libB")
    ctx = SearchContext(
        wheel_files={
            "pkg/_ext.so": ("pkg/_ext.so", ext),
            "pkg.libs/libB.so.1": ("pkg.libs/libB.so.1", lib_b),
        },
        environ={"LD_LIBRARY_PATH": str(chain_dir / "b")},
        read_host=host_reader,
    )
    chain = [Loaded(WHEEL_ROOT / "pkg" / "_ext.so", ext)]
    result = ElfResolver(ctx).resolve("libB.so.1", chain)
    # LD_LIBRARY_PATH precedes RUNPATH, so the host copy wins here, exactly as ld.so would choose...
    assert result.location is not None and not result.location.in_wheel
    # ...and without it the wheel's own copy is found by its relative position.
    ctx.environ = {}
    result = ElfResolver(ctx).resolve("libB.so.1", chain)
    assert result.location is not None and result.location.in_wheel
    assert result.location.key == "pkg.libs/libB.so.1"
    assert result.searched[0] == str(WHEEL_ROOT / "pkg.libs")


def test_names_with_a_slash(chain_dir: Path) -> None:
    lib = chain_dir / "a" / "libA-runpath.so"
    loaded = [Loaded(PurePosixPath(lib), read_elf(lib.read_bytes(), "a"))]
    resolver = ElfResolver(context())
    absolute = resolver.resolve(str(chain_dir / "c" / "libC.so.1"), loaded)
    assert absolute.location is not None and absolute.location.path == PurePosixPath(
        chain_dir / "c" / "libC.so.1"
    )
    assert resolver.resolve("c/libC.so.1", loaded).location is None


def test_expand(chain_dir: Path) -> None:
    lib = chain_dir / "a" / "libA-runpath.so"
    loaded = Loaded(WHEEL_ROOT / "pkg" / "sub" / "_ext.so", read_elf(lib.read_bytes(), "a"))
    resolver = ElfResolver(context())
    assert resolver.expand("$ORIGIN/../pkg.libs", loaded) == WHEEL_ROOT / "pkg" / "pkg.libs"
    assert resolver.expand("${ORIGIN}", loaded) == WHEEL_ROOT / "pkg" / "sub"
    assert resolver.expand("/usr/$LIB", loaded) == PurePosixPath("/usr/lib/x86_64-linux-gnu")
    assert resolver.expand("relative/dir", loaded) is None
    assert resolver.expand("/opt/$UNKNOWN", loaded) == PurePosixPath("/opt/$UNKNOWN")


def test_backend_library_filename_and_reference() -> None:
    backend = ElfBackend()
    assert backend.library_filename("libfoo.so.1", "/x/libfoo.so.1.2.3", "1a2b3c4d") == "libfoo-1a2b3c4d.so.1"
    assert backend.library_filename("libfoo.so", "/x/libfoo.so", "1a2b3c4d") == "libfoo-1a2b3c4d.so"
    assert backend.library_filename("libfoo.so.1.2", "/x", "00000000") == "libfoo-00000000.so.1.2"
    assert (
        backend.library_filename("libpython3.11.so.1.0", "/x", "1a2b3c4d") == "libpython3.11-1a2b3c4d.so.1.0"
    )
    assert backend.library_filename("plugin", "/x/plugin", "1a2b3c4d") == "plugin-1a2b3c4d"
    assert backend.needed_reference("libfoo-1a2b3c4d.so.1", "pkg", "pkg.libs") == "libfoo-1a2b3c4d.so.1"


def test_musl_rules(tmp_path: Path) -> None:
    """musl: LD_LIBRARY_PATH first, then every run path up the chain (DT_RUNPATH inherited too)."""
    top = zig_cc(
        tmp_path / "a" / "libtop.so",
        PORTABLE,
        "x86_64-linux-musl",
        "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../c",
    )
    mid = zig_cc(tmp_path / "b" / "libmid.so", PORTABLE, "x86_64-linux-musl")
    low = zig_cc(tmp_path / "c" / "liblow.so", PORTABLE, "x86_64-linux-musl")
    if top is None or mid is None or low is None:
        pytest.skip("zig cannot build musl here")
    shutil.copy(low, tmp_path / "b" / "liblow.so")
    chain = [
        Loaded(PurePosixPath(top), read_elf(top.read_bytes(), "top")),
        Loaded(PurePosixPath(mid), read_elf(mid.read_bytes(), "mid")),
    ]
    inherited = ElfResolver(context(use_host_config=False)).resolve("liblow.so", chain)
    assert inherited.location is not None and inherited.location.path == PurePosixPath(low)
    env = ElfResolver(context({"LD_LIBRARY_PATH": str(tmp_path / "b")})).resolve("liblow.so", chain)
    assert env.location is not None and env.location.path == PurePosixPath(tmp_path / "b" / "liblow.so")
    missing = ElfResolver(context(use_host_config=False)).resolve("libnone.so", chain)
    assert missing.searched == (str(tmp_path / "c"), "/lib", "/usr/local/lib", "/usr/lib")
    assert ElfResolver(context()).expand("/x/$LIB", chain[0]) == PurePosixPath("/x/$LIB")
