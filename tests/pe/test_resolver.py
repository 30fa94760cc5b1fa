"""The Windows search order as Python 3.8+ loads an extension: the loaded module's directory, the
added *.libs directories, --lib-path (and PATH on a Windows host); case-insensitive; same machine."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path, PurePosixPath

import pytest

from wheelrepair.formats.base import WHEEL_ROOT, Loaded, SearchContext
from wheelrepair.formats.pe.reader import read_binary
from wheelrepair.formats.pe.resolver import PEResolver
from wheelrepair.model import Binary


def read(path: Path) -> Binary:
    return read_binary(path.read_bytes(), path.name)


def host_reader(path: str) -> Binary | None:
    return read_binary(Path(path).read_bytes(), path)


def context(wheel: dict[str, Path], **kwargs: object) -> SearchContext:
    files = {rel: (rel, read(path)) for rel, path in wheel.items()}
    return SearchContext(wheel_files=files, read_host=host_reader, **kwargs)  # type: ignore[arg-type]


def loaded(rel: str, path: Path) -> Loaded:
    return Loaded(WHEEL_ROOT / rel, read(path))


def test_dependency_beside_the_extension_is_found_ignoring_case(mingw_chain: dict[str, Path]) -> None:
    ctx = context({"pkg/_ext.pyd": mingw_chain["ext"], "pkg/LIBA.DLL": mingw_chain["libA"]})
    found = PEResolver(ctx).resolve("libA.dll", [loaded("pkg/_ext.pyd", mingw_chain["ext"])]).location
    assert found is not None and found.in_wheel and found.key == "pkg/LIBA.DLL"


def test_transitive_dependencies_are_searched_in_the_loaded_modules_directory(
    mingw_chain: dict[str, Path],
) -> None:
    # libA sits in another directory; its own dependency is looked up beside the module Python
    # loaded (LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR), not beside libA.
    ctx = context(
        {
            "pkg/_ext.pyd": mingw_chain["ext"],
            "pkg/libB.dll": mingw_chain["libB"],
            "other/libA.dll": mingw_chain["libA"],
        }
    )
    chain = [loaded("pkg/_ext.pyd", mingw_chain["ext"]), loaded("other/libA.dll", mingw_chain["libA"])]
    found = PEResolver(ctx).resolve("libB.dll", chain).location
    assert found is not None and found.key == "pkg/libB.dll"
    alone = PEResolver(context({"other/libA.dll": mingw_chain["libA"], "pkg/libB.dll": mingw_chain["libB"]}))
    result = alone.resolve("libB.dll", [loaded("other/libA.dll", mingw_chain["libA"])])
    assert result.location is None and str(WHEEL_ROOT / "other") in result.searched


def test_top_level_libs_directories_count_as_added(mingw_chain: dict[str, Path]) -> None:
    ctx = context({"pkg/_ext.pyd": mingw_chain["ext"], "demo.libs/libA-0123abcd.dll": mingw_chain["libA"]})
    resolver = PEResolver(ctx)
    found = resolver.resolve("libA-0123abcd.dll", [loaded("pkg/_ext.pyd", mingw_chain["ext"])]).location
    assert found is not None and found.key == "demo.libs/libA-0123abcd.dll"
    # A nested directory named *.libs is not added by any loader patch.
    nested = PEResolver(
        context({"pkg/_ext.pyd": mingw_chain["ext"], "pkg/sub.libs/libA.dll": mingw_chain["libA"]})
    )
    assert nested.resolve("libA.dll", [loaded("pkg/_ext.pyd", mingw_chain["ext"])]).location is None


def test_lib_path_is_searched_and_reports_what_it_searched(mingw_chain: dict[str, Path]) -> None:
    ctx = context({"pkg/_ext.pyd": mingw_chain["ext"]}, lib_path=[str(mingw_chain["libA"].parent)])
    resolution = PEResolver(ctx).resolve("LIBA.dll", [loaded("pkg/_ext.pyd", mingw_chain["ext"])])
    assert resolution.location is not None and not resolution.location.in_wheel
    assert resolution.location.key == str(mingw_chain["libA"])
    missing = PEResolver(ctx).resolve("libZ.dll", [loaded("pkg/_ext.pyd", mingw_chain["ext"])])
    assert missing.location is None
    assert missing.searched == (str(WHEEL_ROOT / "pkg"), str(mingw_chain["libA"].parent))


def test_a_dll_of_another_machine_is_skipped(
    mingw_chain: dict[str, Path], zig_chains: dict[str, dict[str, Path]], tmp_path: Path
) -> None:
    wrong, right = tmp_path / "wrong", tmp_path / "right"
    wrong.mkdir()
    right.mkdir()
    shutil.copyfile(zig_chains["x86"]["libA"], wrong / "libA.dll")
    shutil.copyfile(mingw_chain["libA"], right / "libA.dll")
    chain = [loaded("pkg/_ext.pyd", mingw_chain["ext"])]
    only_wrong = context({"pkg/_ext.pyd": mingw_chain["ext"]}, lib_path=[str(wrong)])
    assert PEResolver(only_wrong).resolve("libA.dll", chain).location is None
    both = context({"pkg/_ext.pyd": mingw_chain["ext"]}, lib_path=[str(wrong), str(right)])
    found = PEResolver(both).resolve("libA.dll", chain).location
    assert found is not None and found.key == str(right / "libA.dll") and found.binary.archs == ("x86_64",)


def test_path_is_searched_only_on_a_windows_host(
    mingw_chain: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = {"PATH": str(mingw_chain["libA"].parent)}
    chain = [loaded("pkg/_ext.pyd", mingw_chain["ext"])]
    ctx = context({"pkg/_ext.pyd": mingw_chain["ext"]}, environ=environ)
    assert PEResolver(ctx).resolve("libA.dll", chain).location is None
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr("os.pathsep", ":")  # this host's PATH syntax, for the test only
    assert PEResolver(ctx).resolve("libA.dll", chain).location is not None


def test_a_module_already_on_the_chain_is_reused(mingw_chain: dict[str, Path]) -> None:
    host_b = PurePosixPath(str(mingw_chain["libB"]))
    chain = [
        loaded("pkg/_ext.pyd", mingw_chain["ext"]),
        Loaded(host_b, read(mingw_chain["libB"])),
        loaded("x/libA.dll", mingw_chain["libA"]),
    ]
    found = PEResolver(context({"pkg/_ext.pyd": mingw_chain["ext"]})).resolve("LIBB.DLL", chain).location
    assert found is not None and found.path == host_b


def test_host_files_are_invisible_when_the_host_is_not_allowed(mingw_chain: dict[str, Path]) -> None:
    ctx = context(
        {"pkg/_ext.pyd": mingw_chain["ext"]}, lib_path=[str(mingw_chain["libA"].parent)], allow_host=False
    )
    assert PEResolver(ctx).resolve("libA.dll", [loaded("pkg/_ext.pyd", mingw_chain["ext"])]).location is None


def test_dlls_at_the_root_are_found_for_packaged_extensions(mingw_chain: dict[str, Path]) -> None:
    # Where repair puts DLLs that root-level extensions need; the packages' loader patch adds the root.
    ctx = context(
        {
            "_root.pyd": mingw_chain["ext"],
            "pkg/_ext.pyd": mingw_chain["ext"],
            "libA-0123abcd.dll": mingw_chain["libA"],
        }
    )
    resolver = PEResolver(ctx)
    for rel in ("_root.pyd", "pkg/_ext.pyd"):
        found = resolver.resolve("libA-0123abcd.dll", [loaded(rel, mingw_chain["ext"])]).location
        assert found is not None and found.key == "libA-0123abcd.dll"
    # An extension module at the root is not a DLL anyone adds a directory for.
    lone = PEResolver(context({"pkg/_ext.pyd": mingw_chain["ext"], "_other.pyd": mingw_chain["libA"]}))
    assert lone.resolve("_other.pyd", [loaded("pkg/_ext.pyd", mingw_chain["ext"])]).location is None
