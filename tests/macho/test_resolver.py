"""dyld's search rules on real binaries: @rpath through the whole load chain, @loader_path of the image
that owns an LC_RPATH, environment paths, per-architecture acceptance, and what is never looked up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from tests.fixtures.macho_build import (
    LIBA_C,
    LIBB_C,
    MachOSet,
    build_dylib,
    compile_object,
    link_bundle,
)
from wheelrepair.formats.base import WHEEL_ROOT, Loaded, SearchContext
from wheelrepair.formats.macho.backend import MachOBackend
from wheelrepair.model import Binary

BACKEND = MachOBackend()


@dataclass(frozen=True)
class Relocatable:
    """A relocatable arm64 set as a wheel holds it: pkg/sub/_ext.so -> pkg.libs/liba -> pkg.libs/libb."""

    ext: Path
    liba: Path
    libb: Path


@pytest.fixture(scope="module")
def relocatable(tmp_path_factory: pytest.TempPathFactory, tree: dict[str, MachOSet]) -> Relocatable:
    work = tmp_path_factory.mktemp("reloc")
    libb = build_dylib(work / "libb.dylib", LIBB_C, "arm64", "@rpath/libb.dylib")
    # liba has no LC_RPATH of its own: @rpath/libb.dylib can only come from an image above it.
    liba = build_dylib(work / "liba.dylib", LIBA_C, "arm64", "@rpath/liba.dylib", link=[libb])
    obj = compile_object(work / "ext.o", "int a_value(void);\nint e(void) { return a_value(); }\n", "arm64")
    ext = link_bundle(work / "_ext.so", [obj], "arm64", [liba], ["@loader_path/../../pkg.libs"])
    return Relocatable(ext, liba, libb)


def read(path: Path) -> Binary:
    return BACKEND.read(path.read_bytes(), path.name)


def host_reader(calls: list[str] | None = None) -> Callable[[str], Binary | None]:
    def read_host(path: str) -> Binary | None:
        if calls is not None:
            calls.append(path)
        data = Path(path).read_bytes()
        return BACKEND.read(data, path) if BACKEND.sniff(data[:64]) else None

    return read_host


def wheel_context(
    files: dict[str, Path], environ: dict[str, str] | None = None, lib_path: list[str] | None = None
) -> SearchContext:
    entries = {member: (member, read(path)) for member, path in files.items()}
    return SearchContext(entries, lib_path or [], environ or {}, host_reader())


def loaded(member: str, path: Path) -> Loaded:
    return Loaded(WHEEL_ROOT / member, read(path))


def test_rpath_resolves_through_the_grandparent(relocatable: Relocatable) -> None:
    files = {"pkg/sub/_ext.so": relocatable.ext, "pkg.libs/liba.dylib": relocatable.liba,
             "pkg.libs/libb.dylib": relocatable.libb}  # fmt: skip
    resolver = BACKEND.resolver(wheel_context(files))
    ext, liba = loaded("pkg/sub/_ext.so", relocatable.ext), loaded("pkg.libs/liba.dylib", relocatable.liba)
    found = resolver.resolve("@rpath/liba.dylib", [ext]).location
    assert found is not None and found.key == "pkg.libs/liba.dylib" and found.in_wheel
    # libb: only the extension's LC_RPATH, taken relative to the extension, finds it.
    found = resolver.resolve("@rpath/libb.dylib", [ext, liba]).location
    assert found is not None and found.key == "pkg.libs/libb.dylib"
    alone = resolver.resolve("@rpath/libb.dylib", [liba])
    assert alone.location is None and alone.searched == ("no LC_RPATH on the load chain",)
    assert resolver.expand("@loader_path/../../pkg.libs", ext) == WHEEL_ROOT / "pkg.libs"


def test_loader_path_is_relative_to_the_requester(relocatable: Relocatable) -> None:
    files = {"pkg/sub/_ext.so": relocatable.ext, "pkg/sub/libb.dylib": relocatable.libb}
    resolver = BACKEND.resolver(wheel_context(files))
    found = resolver.resolve("@loader_path/libb.dylib", [loaded("pkg/sub/_ext.so", relocatable.ext)]).location
    assert found is not None and found.key == "pkg/sub/libb.dylib"


def test_build_machine_rpath_and_absolute_names_find_host_files(tree: dict[str, MachOSet]) -> None:
    arm = tree["arm64"]
    resolver = BACKEND.resolver(wheel_context({"pkg/_ext.so": arm.ext}))
    ext = loaded("pkg/_ext.so", arm.ext)
    found = resolver.resolve(str(arm.liba), [ext]).location
    assert found is not None and not found.in_wheel and found.key == str(arm.liba)
    liba = Loaded(PurePosixPath(str(arm.liba)), read(arm.liba))
    found = resolver.resolve("@rpath/libb.dylib", [ext, liba]).location
    assert found is not None and found.key == str(arm.libb)


def test_executable_path_is_reported_not_guessed(relocatable: Relocatable) -> None:
    resolver = BACKEND.resolver(wheel_context({"pkg/sub/_ext.so": relocatable.ext}))
    result = resolver.resolve(
        "@executable_path/../lib/libpython3.11.dylib", [loaded("pkg/sub/_ext.so", relocatable.ext)]
    )
    assert result.location is None
    assert result.searched == ("@executable_path is the Python executable",)


def test_system_libraries_are_never_looked_up(relocatable: Relocatable) -> None:
    calls: list[str] = []
    ctx = wheel_context({"pkg/sub/_ext.so": relocatable.ext})
    ctx.read_host = host_reader(calls)
    result = BACKEND.resolver(ctx).resolve(
        "/usr/lib/libSystem.B.dylib", [loaded("pkg/sub/_ext.so", relocatable.ext)]
    )
    assert result.location is None and calls == []


def test_environment_and_lib_path_by_leaf_name(relocatable: Relocatable, tree: dict[str, MachOSet]) -> None:
    ext = loaded("pkg/sub/_ext.so", relocatable.ext)
    other = tree["fat"].dir  # holds a universal libb.dylib, which serves an arm64 requester too
    for ctx in (
        wheel_context(
            {"pkg/sub/_ext.so": relocatable.ext}, environ={"DYLD_LIBRARY_PATH": f"/nonexistent:{other}"}
        ),
        wheel_context(
            {"pkg/sub/_ext.so": relocatable.ext}, environ={"DYLD_FALLBACK_LIBRARY_PATH": str(other)}
        ),
        wheel_context({"pkg/sub/_ext.so": relocatable.ext}, lib_path=[str(other)]),
    ):
        found = BACKEND.resolver(ctx).resolve("@rpath/libb.dylib", [ext]).location
        assert found is not None and found.key == str(other / "libb.dylib")
    # DYLD_LIBRARY_PATH wins over the name itself; the fallback only applies when the name fails.
    arm = tree["arm64"]
    absolute = str(arm.libb)
    first = wheel_context({}, environ={"DYLD_LIBRARY_PATH": str(other)})
    found = BACKEND.resolver(first).resolve(absolute, [ext]).location
    assert found is not None and found.key == str(other / "libb.dylib")
    last = wheel_context({}, environ={"DYLD_FALLBACK_LIBRARY_PATH": str(other)})
    found = BACKEND.resolver(last).resolve(absolute, [ext]).location
    assert found is not None and found.key == absolute


def test_candidates_must_hold_every_arch_of_the_requester(
    tree: dict[str, MachOSet], relocatable: Relocatable
) -> None:
    intel, fat = tree["x86_64"].dir, tree["fat"].dir
    arm_ext = loaded("pkg/sub/_ext.so", relocatable.ext)
    only_intel = BACKEND.resolver(wheel_context({}, lib_path=[str(intel)])).resolve(
        "@rpath/libb.dylib", [arm_ext]
    )
    assert only_intel.location is None
    assert f"{intel / 'libb.dylib'} (holds x86_64 macOS 10.13, not arm64)" in only_intel.searched
    fat_ext = Loaded(WHEEL_ROOT / "pkg/_ext.so", read(tree["fat"].ext))
    for dirs, expected in (([intel, fat], fat), ([tree["arm64"].dir, fat], fat), ([fat], fat)):
        ctx = wheel_context({}, lib_path=[str(d) for d in dirs])
        found = BACKEND.resolver(ctx).resolve("@rpath/libb.dylib", [fat_ext]).location
        assert found is not None and found.key == str(expected / "libb.dylib")


def test_missing_weak_dependency_resolves_to_nothing(tmp_path: Path, tree: dict[str, MachOSet]) -> None:
    arm = tree["arm64"]
    obj = compile_object(tmp_path / "w.o", "int w(void) { return 1; }\n", "arm64")
    bundle = link_bundle(tmp_path / "w.so", [obj], "arm64", [], ["@loader_path"], weak_libs=[arm.libb])
    ext = loaded("pkg/w.so", bundle)
    assert ext.binary.weak == frozenset({"@rpath/libb.dylib"})
    result = BACKEND.resolver(wheel_context({"pkg/w.so": bundle})).resolve("@rpath/libb.dylib", [ext])
    assert result.location is None and "/<wheel>/pkg/libb.dylib" in result.searched
