"""End to end: an unrepaired Windows wheel whose extension needs libA.dll -> libB.dll from outside
the wheel is repaired from this (non-Windows) host, and the result loads under wine the way CPython
loads an extension."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.pe_build import run_wine, windows_path
from tests.fixtures.wheels import make_wheel
from wheelrepair.formats.pe.loader import BEGIN
from wheelrepair.formats.pe.reader import read_binary
from wheelrepair.policy.windows import WindowsPlatform

INIT = b'"""Demo package."""\nfrom __future__ import annotations\n\nVALUE = 1\n'
MANGLED = re.compile(r"lib[AB]-[0-9a-f]{8}\.dll")


def wheelrepair(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True, timeout=300
    )


def unrepaired(tmp_path: Path, chain: dict[str, Path]) -> Path:
    files = {"pkg/__init__.py": INIT, "pkg/_ext.pyd": chain["ext"]}
    return make_wheel(tmp_path / "dist", files, tag="cp311-cp311-win_amd64")


def repair(tmp_path: Path, chain: dict[str, Path]) -> Path:
    wheel = unrepaired(tmp_path, chain)
    result = wheelrepair(
        "repair", str(wheel), "-w", str(tmp_path / "out"),
        "--lib-path", str(chain["libA"].parent), "--lib-path", str(chain["libB"].parent),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [out] = (tmp_path / "out").glob("*.whl")
    return out


@pytest.fixture(scope="module", params=["mingw", "delay"])
def repaired(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Path]]:
    chain = request.getfixturevalue("mingw_chain" if request.param == "mingw" else "delay_chain")
    return repair(tmp_path_factory.mktemp(f"repair-{request.param}"), chain), chain


def test_repaired_wheel_imports_only_system_and_vendored_dlls(repaired: tuple[Path, dict[str, Path]]) -> None:
    wheel, _chain = repaired
    platform = WindowsPlatform()
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        vendored = sorted(n for n in names if n.startswith("demo.libs/"))
        assert [MANGLED.fullmatch(n.split("/")[1]) is not None for n in vendored] == [True, True]
        vendored_names = {n.split("/")[1] for n in vendored}
        for member in ["pkg/_ext.pyd", *vendored]:
            binary = read_binary(zf.read(member), member)
            external = {n for n in binary.needed if not platform.provides(n, binary)}
            assert external <= vendored_names, (member, binary.needed)
            assert bool(external) is ("libB" not in member)  # libB needs only system DLLs
        init = zf.read("pkg/__init__.py").decode()
    assert init.count(BEGIN) == 1
    assert init.startswith('"""Demo package."""\nfrom __future__ import annotations\n' + BEGIN)
    order = [init.index(n.split("/")[1]) for n in vendored]
    libb = next(n for n in vendored if "libB" in n)
    assert init.index(libb.split("/")[1]) == min(order)  # libB is loaded before libA, which needs it


def test_check_passes_and_rerepair_changes_nothing(
    repaired: tuple[Path, dict[str, Path]], tmp_path: Path
) -> None:
    wheel, _chain = repaired
    check = wheelrepair("check", str(wheel))
    assert check.returncode == 0, check.stdout + check.stderr
    again = wheelrepair("repair", str(wheel), "-w", str(tmp_path), "--json")
    assert again.returncode == 0, again.stderr
    [out] = tmp_path.glob("*.whl")
    assert out.read_bytes() == wheel.read_bytes()


def test_unrepaired_wheel_fails_check_and_show_names_what_to_vendor(
    mingw_chain: dict[str, Path], tmp_path: Path
) -> None:
    wheel = unrepaired(tmp_path, mingw_chain)
    assert wheelrepair("check", str(wheel)).returncode == 1
    show = wheelrepair("show", str(wheel), "--json", "--lib-path", str(mingw_chain["libA"].parent),
                       "--lib-path", str(mingw_chain["libB"].parent))  # fmt: skip
    assert show.returncode == 0, show.stderr
    assert '"libA.dll"' in show.stdout and '"libB.dll"' in show.stdout and json.loads(show.stdout)


def test_missing_dependency_is_one_line(mingw_chain: dict[str, Path], tmp_path: Path) -> None:
    wheel = unrepaired(tmp_path, mingw_chain)
    result = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "libA.dll" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def install(wheel: Path, site: Path) -> Path:
    """Unpack as an installer would: site-packages holds the packages and demo.libs."""
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    return site


@pytest.mark.wine
def test_repaired_extension_loads_like_python_loads_it(
    repaired: tuple[Path, dict[str, Path]], tmp_path: Path, wine_prefix: Path, load_like_python: Path
) -> None:
    wheel, _chain = repaired
    site = install(wheel, tmp_path / "site-packages")
    ext = windows_path(site / "pkg" / "_ext.pyd")
    result = run_wine(
        wine_prefix, [str(load_like_python), windows_path(site / "demo.libs"), ext, "ext_value"]
    )
    assert result.stdout.strip() == "result=420", result.stdout + result.stderr
    # The control: without the libs directory added, Windows does not find the vendored DLLs.
    (tmp_path / "empty").mkdir()
    result = run_wine(
        wine_prefix, [str(load_like_python), windows_path(tmp_path / "empty"), ext, "ext_value"]
    )
    assert result.stdout.strip() == "LoadLibraryExW failed 126", result.stdout + result.stderr


@pytest.mark.parametrize(("arch", "tag"), [("x86", "win32"), ("arm64", "win_arm64")])
def test_other_machines_repair_to_their_tag(
    zig_chains: dict[str, dict[str, Path]], tmp_path: Path, arch: str, tag: str
) -> None:
    chain = zig_chains[arch]
    files = {"pkg/__init__.py": INIT, "pkg/_ext.pyd": chain["ext"]}
    wheel = make_wheel(tmp_path / "dist", files, tag=f"cp311-cp311-{tag}")
    result = wheelrepair(
        "repair", str(wheel), "-w", str(tmp_path / "out"), "--json",
        "--lib-path", str(chain["libA"].parent), "--lib-path", str(chain["libB"].parent),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [out] = (tmp_path / "out").glob("*.whl")
    assert out.name.endswith(f"-{tag}.whl")
    with zipfile.ZipFile(out) as zf:
        ext = read_binary(zf.read("pkg/_ext.pyd"), "_ext.pyd")
        assert ext.arch == arch
        assert any(MANGLED.fullmatch(n) for n in ext.needed)
    # The x86_64 libA.dll on --lib-path does not satisfy another machine's extension.
    other = wheelrepair(
        "repair", str(wheel), "-w", str(tmp_path / "other"),
        "--lib-path", str(zig_chains["x86_64"]["libA"].parent), "--lib-path", str(chain["libB"].parent),
    )  # fmt: skip
    assert other.returncode == 1 and "libA.dll" in other.stderr


def test_exclude_leaves_a_dll_external(mingw_chain: dict[str, Path], tmp_path: Path) -> None:
    wheel = unrepaired(tmp_path, mingw_chain)
    result = wheelrepair(
        "repair", str(wheel), "-w", str(tmp_path / "out"), "--exclude", "libB.dll",
        "--lib-path", str(mingw_chain["libA"].parent),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [out] = (tmp_path / "out").glob("*.whl")
    with zipfile.ZipFile(out) as zf:
        vendored = [n for n in zf.namelist() if n.startswith("demo.libs/")]
        assert len(vendored) == 1 and "libA-" in vendored[0]
        assert "libB.dll" in read_binary(zf.read(vendored[0]), vendored[0]).needed


def test_root_level_extension_gets_its_dlls_beside_it(mingw_chain: dict[str, Path], tmp_path: Path) -> None:
    """No package __init__ runs before a top-level extension: its DLLs go to the wheel root, where
    the loader looks first (the extension's own directory)."""
    wheel = make_wheel(tmp_path / "dist", {"_ext.pyd": mingw_chain["ext"]}, tag="cp311-cp311-win_amd64")
    lib_path = ["--lib-path", str(mingw_chain["libA"].parent), "--lib-path", str(mingw_chain["libB"].parent)]
    for extra in ([], ["--lib-sdir", "."]):
        out = tmp_path / f"out{len(extra)}"
        result = wheelrepair("repair", str(wheel), "-w", str(out), *lib_path, *extra, "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["libs_dir"] == ""
        assert sorted(MANGLED.fullmatch(v["dest"]) is not None for v in report["vendored"]) == [True, True]
        assert wheelrepair("check", report["output"]).returncode == 0
