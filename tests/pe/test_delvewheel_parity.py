"""Cases shaped like delvewheel's own suite (tests/run_tests.py: ignore-data, DependentLoadFlags,
the Visual C++ toolset warning, interpreter DLLs, stale RECORD), run on wheels built here from our
own sources, with delvewheel 1.13.2 (it runs on Linux for win wheels) as the truth next to
wheelrepair on the same input."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pefile
import pytest

from tests.fixtures.pe_build import (
    EXT,
    LIB_A,
    LIB_B,
    build_dll,
    build_importer,
    build_lld_dll,
    set_linker_version,
)
from tests.fixtures.wheels import make_wheel

pytestmark = pytest.mark.skipif(shutil.which("delvewheel") is None, reason="delvewheel is not installed")

INIT = b'"""Demo."""\nVALUE = 1\n'


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=600)


def wheelrepair(*args: str) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "wheelrepair", *args)


def delvewheel(*args: str) -> subprocess.CompletedProcess[str]:
    return run("delvewheel", *args)


def lib_paths(dirs: Sequence[Path]) -> list[str]:
    return [item for d in dirs for item in ("--lib-path", str(d))]


def delvewheel_show(wheel: Path, dirs: Sequence[Path] = ()) -> tuple[set[str], set[str]]:
    """(DLLs delvewheel would copy in or cannot find, DLLs it assumes present), lowercased."""
    add = ["--add-path", os.pathsep.join(map(str, dirs))] if dirs else []
    result = delvewheel("show", *add, str(wheel))
    assert result.returncode == 0, result.stderr
    sections = re.split(r"\n\n", result.stdout)

    def names(header: str) -> set[str]:
        section = next(s for s in sections if s.startswith(header))
        return {line.split()[0].lower() for line in section.splitlines()[1:] if line.strip()} - {"none"}

    return names("The following DLLs will be copied"), names("The following DLLs are assumed to be present")


def our_show(wheel: Path, dirs: Sequence[Path] = ()) -> tuple[set[str], set[str]]:
    """The same two sets from ``wheelrepair show --json``."""
    result = wheelrepair("show", "--json", str(wheel), *lib_paths(dirs))
    assert result.returncode == 0, result.stderr
    edges = json.loads(result.stdout)["edges"]
    external = {e["name"].lower() for e in edges if e["action"] in ("vendor", "missing")}
    return external, {e["name"].lower() for e in edges if e["action"] == "system"}


def repaired_by_both(
    tmp_path: Path, wheel: Path, ours: Sequence[str], theirs: Sequence[str]
) -> tuple[subprocess.CompletedProcess[str], Path, subprocess.CompletedProcess[str], Path]:
    mine = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "ours"), *ours)
    assert mine.returncode == 0, mine.stderr
    other = delvewheel("repair", str(wheel), "-w", str(tmp_path / "delvewheel"), *theirs)
    assert other.returncode == 0, other.stderr
    [mine_out] = (tmp_path / "ours").glob("*.whl")
    [their_out] = (tmp_path / "delvewheel").glob("*.whl")
    return mine, mine_out, other, their_out


def unmangled(name: str) -> str:
    return re.sub(r"-[0-9a-f]{8,32}(?=\.dll$)", "", name.rsplit("/", 1)[-1]).lower()


def vendored(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return {unmangled(n) for n in zf.namelist() if n.startswith("demo.libs/") and n.endswith(".dll")}


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("parity-chain")
    lib_b = build_dll(root / "b" / "libB.dll", LIB_B)
    lib_a = build_dll(root / "a" / "libA.dll", LIB_A, links=[lib_b])
    ext = build_dll(root / "ext" / "_ext.pyd", EXT, links=[lib_a])
    leaf = build_dll(root / "leaf" / "_leaf.pyd", LIB_B)  # imports only system DLLs
    return {"libB": lib_b, "libA": lib_a, "ext": ext, "leaf": leaf}


# -- ignore-data: a .pyd under <dist>.data/data is data ---------------------------------------------


@pytest.mark.parametrize("scheme", ["data", "scripts", "headers"])
def test_extension_under_a_data_scheme_is_data(chain: dict[str, Path], tmp_path: Path, scheme: str) -> None:
    files = {
        "pkg/__init__.py": INIT,
        "pkg/_leaf.pyd": chain["leaf"],
        f"demo-1.0.data/{scheme}/extra/_ext.pyd": chain["ext"],
        f"demo-1.0.data/{scheme}/extra/libA.dll": chain["libA"],
    }
    wheel = make_wheel(tmp_path / "dist", files, tag="cp312-cp312-win_amd64")
    theirs = delvewheel_show(wheel)
    ours = our_show(wheel)
    assert ours == theirs
    assert ours[0] == set()  # nothing to vendor: the data files' libA.dll/libB.dll are not asked for
    # Repair needs no --lib-path and leaves the data files byte for byte.
    result = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    [out] = (tmp_path / "out").glob("*.whl")
    with zipfile.ZipFile(wheel) as before, zipfile.ZipFile(out) as after:
        member = f"demo-1.0.data/{scheme}/extra/_ext.pyd"
        assert after.read(member) == before.read(member)
        assert not [n for n in after.namelist() if n.startswith("demo.libs/")]


# -- DependentLoadFlags cleared on every binary repair writes ---------------------------------------


def load_flags(data: bytes) -> int:
    pe = pefile.PE(data=data, fast_load=True)
    pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_LOAD_CONFIG"]])
    return int(pe.DIRECTORY_ENTRY_LOAD_CONFIG.struct.DependentLoadFlags)


@pytest.fixture(scope="module")
def system32_chain(tmp_path_factory: pytest.TempPathFactory, chain: dict[str, Path]) -> dict[str, Path]:
    """_ext.pyd -> libA.dll -> libB.dll where the extension and libA.dll both carry
    DependentLoadFlags = LOAD_LIBRARY_SEARCH_SYSTEM32 (what /DEPENDENTLOADFLAG:0x800 writes)."""
    root = tmp_path_factory.mktemp("system32-chain")
    lib_a = build_lld_dll(
        root / "a" / "libA.dll", LIB_A, chain["libB"], ["b_value"], dependent_load_flags=0x800
    )
    ext = build_lld_dll(root / "ext" / "_ext.pyd", EXT, lib_a, ["a_value"], dependent_load_flags=0x800)
    return {"libA": lib_a, "ext": ext, "libB": chain["libB"]}


@pytest.mark.parametrize("mangle", [True, False], ids=["mangled", "no-mangle-all"])
def test_dependent_load_flags_are_cleared_as_delvewheel_clears_them(
    system32_chain: dict[str, Path], tmp_path: Path, mangle: bool
) -> None:
    assert load_flags(system32_chain["ext"].read_bytes()) == 0x800
    files = {"pkg/__init__.py": INIT, "pkg/_ext.pyd": system32_chain["ext"]}
    wheel = make_wheel(tmp_path / "dist", files, tag="cp312-cp312-win_amd64")
    dirs = [system32_chain["libA"].parent, system32_chain["libB"].parent]
    ours = [*lib_paths(dirs), *([] if mangle else ["--no-mangle", "*"])]
    theirs = ["--add-path", os.pathsep.join(map(str, dirs)), *([] if mangle else ["--no-mangle-all"])]
    _mine, mine_out, _other, their_out = repaired_by_both(tmp_path, wheel, ours, theirs)
    for out in (mine_out, their_out):
        with zipfile.ZipFile(out) as zf:
            [lib_a] = [n for n in zf.namelist() if unmangled(n) == "liba.dll"]
            assert load_flags(zf.read("pkg/_ext.pyd")) == 0, out
            assert load_flags(zf.read(lib_a)) == 0, out
    assert vendored(mine_out) == vendored(their_out) == {"liba.dll", "libb.dll"}


# -- the Visual C++ runtime age warning ------------------------------------------------------------


@pytest.mark.parametrize(
    ("runtime", "built_with"),
    [
        ((14, 40), (14, 44)),
        ((14, 44), (14, 44)),
        ((14, 29), (14, 44)),
        ((14, 38), (14, 40)),
        ((14, 42), (14, 41)),
    ],
)
def test_msvc_runtime_age_warning_follows_delvewheel(
    tmp_path: Path, runtime: tuple[int, int], built_with: tuple[int, int]
) -> None:
    """A msvcp140.dll shipped by an older toolset family than the extension's linker is warned
    about; 14.40 beside 14.44 is one family (VS 2022 17.10+) and is not."""
    msvcp = build_dll(
        tmp_path / "redist" / "msvcp140.dll", "__declspec(dllexport) int cpp_value(void) { return 7; }\n"
    )
    set_linker_version(msvcp, runtime)
    ext = set_linker_version(
        build_importer(tmp_path / "build" / "_ext.pyd", "msvcp140.dll", ["cpp_value"]), built_with
    )
    wheel = make_wheel(
        tmp_path / "dist", {"pkg/__init__.py": INIT, "pkg/_ext.pyd": ext}, tag="cp312-cp312-win_amd64"
    )
    mine, mine_out, other, their_out = repaired_by_both(
        tmp_path, wheel, lib_paths([msvcp.parent]), ["--add-path", str(msvcp.parent)]
    )
    theirs_warn = "newer platform toolset" in other.stdout + other.stderr
    ours_warn = "older than" in mine.stderr
    assert ours_warn == theirs_warn
    assert ours_warn is ((runtime[0], runtime[1] // 10) < (built_with[0], built_with[1] // 10))
    assert vendored(mine_out) == vendored(their_out) == {"msvcp140.dll"}


# -- the interpreters' own DLLs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dll", "tag"),
    [
        ("python-native.dll", "graalpy311-graalpy242_311_native-win_amd64"),
        ("libpypy3.10-c.dll", "pp310-pypy310_pp73-win_amd64"),
        ("libpypy3-c.dll", "pp39-pypy39_pp73-win_amd64"),
        ("python312.dll", "cp312-cp312-win_amd64"),
        ("python313t.dll", "cp313-cp313t-win_amd64"),  # test_free_threaded
    ],
)
def test_interpreter_dlls_are_provided(chain: dict[str, Path], tmp_path: Path, dll: str, tag: str) -> None:
    ext = build_importer(tmp_path / "build" / "_ext.pyd", dll, ["PyInit_x"], links=[chain["libA"]])
    wheel = make_wheel(tmp_path / "dist", {"pkg/__init__.py": INIT, "pkg/_ext.pyd": ext}, tag=tag)
    dirs = [chain["libA"].parent, chain["libB"].parent]
    theirs = delvewheel_show(wheel, dirs)
    ours = our_show(wheel, dirs)
    assert dll.lower() in theirs[1]
    assert ours == theirs


# -- a stale RECORD --------------------------------------------------------------------------------


def with_record_line(wheel: Path, line: str) -> Path:
    """The same wheel with ``line`` appended to its RECORD (as a build step that deleted a file
    after writing RECORD leaves it)."""
    out = wheel.with_name("stale") / wheel.name
    out.parent.mkdir()
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/RECORD"):
                data += line.encode()
            dst.writestr(info, data)
    return out


def record_paths(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        record = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
        return {row.split(",")[0] for row in zf.read(record).decode().splitlines() if row}


def test_stale_record_is_warned_about_and_regenerated(chain: dict[str, Path], tmp_path: Path) -> None:
    files = {"pkg/__init__.py": INIT, "pkg/_ext.pyd": chain["ext"]}
    wheel = with_record_line(
        make_wheel(tmp_path / "dist", files, tag="cp312-cp312-win_amd64"), "pkg/gone.py,sha256=AAAA,4\n"
    )
    dirs = [chain["libA"].parent, chain["libB"].parent]
    mine, mine_out, _other, their_out = repaired_by_both(
        tmp_path, wheel, lib_paths(dirs), ["--add-path", os.pathsep.join(map(str, dirs))]
    )
    assert "RECORD lists 'pkg/gone.py', which is not in the wheel" in mine.stderr
    for out in (mine_out, their_out):
        with zipfile.ZipFile(out) as zf:
            files_in_zip = {n for n in zf.namelist() if not n.endswith("/")}
        assert "pkg/gone.py" not in record_paths(out)
        assert record_paths(out) == files_in_zip
    assert vendored(mine_out) == vendored(their_out)
    assert wheelrepair("check", str(mine_out)).returncode == 0
    # Nothing to vendor: the wheel is still rewritten, so its RECORD is true.
    leaf = with_record_line(
        make_wheel(tmp_path / "leafdist", {"pkg/__init__.py": INIT, "pkg/_leaf.pyd": chain["leaf"]},
                   tag="cp312-cp312-win_amd64"),
        "pkg/gone.py,sha256=AAAA,4\n",
    )  # fmt: skip
    result = wheelrepair("repair", str(leaf), "-w", str(tmp_path / "leafout"))
    assert result.returncode == 0, result.stderr
    [out] = (tmp_path / "leafout").glob("*.whl")
    assert "pkg/gone.py" not in record_paths(out)


def test_a_record_hash_mismatch_is_still_refused(chain: dict[str, Path], tmp_path: Path) -> None:
    """delvewheel does not read RECORD hashes; wheelrepair refuses a member that differs from what
    RECORD promised (pip refuses to install it too)."""
    files = {"pkg/__init__.py": INIT, "pkg/_ext.pyd": chain["ext"]}
    wheel = make_wheel(tmp_path / "dist", files, tag="cp312-cp312-win_amd64")
    tampered = tmp_path / "tampered" / wheel.name
    tampered.parent.mkdir()
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(tampered, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, INIT.replace(b"1", b"2") if info.filename == "pkg/__init__.py" else data)
    result = wheelrepair("repair", str(tampered), "-w", str(tmp_path / "out"),
                         *lib_paths([chain["libA"].parent, chain["libB"].parent]))  # fmt: skip
    assert result.returncode == 2
    assert "RECORD hash mismatch for 'pkg/__init__.py'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.whl"))


# -- --include / --add-dll, --no-dll, --exclude, --add-path, --no-mangle: delvewheel's command lines --

LIB_C = "__declspec(dllimport) int b_value(void);\n__declspec(dllexport) int c_value(void) { return b_value() + 1; }\n"
LIB_D = "__declspec(dllexport) int d_value(void) { return 3; }\n"


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory, chain: dict[str, Path]) -> dict[str, Path]:
    """libC.dll (imports libB.dll) and libD.dll (system DLLs only): linked by nothing in the wheel."""
    root = tmp_path_factory.mktemp("plugins")
    return {
        "libC": build_dll(root / "libC.dll", LIB_C, links=[chain["libB"]]),
        "libD": build_dll(root / "libD.dll", LIB_D),
    }


WINE_DLLS = Path("/usr/lib/x86_64-linux-gnu/wine/x86_64-windows")


def mangling(wheel: Path) -> set[tuple[str, bool]]:
    """Each vendored DLL (lowercased, unmangled) and whether its name was mangled."""
    with zipfile.ZipFile(wheel) as zf:
        names = [
            n.rsplit("/", 1)[1] for n in zf.namelist() if n.startswith("demo.libs/") and n.endswith(".dll")
        ]
    return {(unmangled(n), unmangled(n) != n.lower()) for n in names}


# (delvewheel's arguments after --add-path; what differs for wheelrepair; the expected result)
COMMAND_LINES: dict[str, tuple[list[str], list[str] | None, set[tuple[str, bool]]]] = {
    "basic": ([], None, {("liba.dll", True), ("libb.dll", True)}),
    "include_1": (["--include", "LiBc.DlL"], None, {("libc.dll", False), ("liba.dll", True), ("libb.dll", True)}),
    "include_1_exist": (["--include", "libA.dll"], None, {("liba.dll", True), ("libb.dll", True)}),
    "include_2_repeat": (["--include", "libC.dll;libC.dll"], None, {("libc.dll", False), ("liba.dll", True), ("libb.dll", True)}),
    "include_2": (["--include", "libC.dll;libD.dll"], None,
                  {("libc.dll", False), ("libd.dll", False), ("liba.dll", True), ("libb.dll", True)}),
    "include_3": (["--include", "libC.dll", "--include", "libD.dll"], None,
                  {("libc.dll", False), ("libd.dll", False), ("liba.dll", True), ("libb.dll", True)}),
    "add_dll": (["--add-dll", "libD.dll"], None, {("libd.dll", False), ("liba.dll", True), ("libb.dll", True)}),
    # test_include_1 as delvewheel's suite has it: a system DLL (wine's real kernel32.dll here) is
    # vendored when asked for, and not mangled, as nothing that imports it is rewritten.
    "include_system": (["--include", "kernEl32.dll", "--add-path", "WINE_DLLS"], None,
                       {("kernel32.dll", False), ("liba.dll", True), ("libb.dll", True)}),
    "no_dll": (["--no-dll", "libB.dll"], None, {("liba.dll", True)}),
    "exclude_irrelevant_2": (["--exclude", "nonexistent.dll;nonexistent2.dll"], None,
                             {("liba.dll", True), ("libb.dll", True)}),
    "exclude_all_2": (["--exclude", "libA.dll", "--exclude", "libB.dll"], None, set()),
    "no_mangle_1": (["--no-mangle", "LIBA.dll"], None, {("liba.dll", False), ("libb.dll", True)}),
    "no_mangle_2": (["--no-mangle", "libA.dll;libB.dll"], None, {("liba.dll", False), ("libb.dll", False)}),
    "no_mangle_all": (["--no-mangle-all"], ["--no-mangle", "*"], {("liba.dll", False), ("libb.dll", False)}),
}  # fmt: skip


@pytest.mark.parametrize("case", list(COMMAND_LINES))
def test_delvewheel_command_lines_vendor_the_same(
    chain: dict[str, Path], plugins: dict[str, Path], tmp_path: Path, case: str
) -> None:
    theirs, ours, expected = COMMAND_LINES[case]
    if "WINE_DLLS" in theirs:
        if not WINE_DLLS.is_dir():
            pytest.skip("wine's Windows DLLs are not installed")
        theirs = [str(WINE_DLLS) if a == "WINE_DLLS" else a for a in theirs]
    files = {"pkg/__init__.py": INIT, "pkg/_ext.pyd": chain["ext"]}
    wheel = make_wheel(tmp_path / "dist", files, tag="cp312-cp312-win_amd64")
    # Two --add-path values, the first an os.pathsep-separated list (delvewheel's test_add_path_2).
    add = ["--add-path", os.pathsep.join(map(str, [chain["libA"].parent, chain["libB"].parent])),
           "--add-path", str(plugins["libC"].parent)]  # fmt: skip
    # delvewheel splits its lists at os.pathsep (';' on Windows, where its suite runs; ':' here);
    # wheelrepair takes ';' on every host, and os.pathsep too.
    native = [a.replace(";", os.pathsep) for a in theirs]
    _mine, mine_out, _other, their_out = repaired_by_both(
        tmp_path, wheel, [*add, *(ours or theirs)], [*add, *native]
    )
    assert mangling(their_out) == expected
    assert mangling(mine_out) == expected
    with zipfile.ZipFile(mine_out) as zf:
        init = zf.read("pkg/__init__.py").decode()
        libs = [n.rsplit("/", 1)[1] for n in zf.namelist() if n.startswith("demo.libs/")]
    assert all(f"'{name}'" in init for name in libs)  # every vendored DLL, included ones too, is preloaded
    kept_out = [a for i, a in enumerate(theirs) if i and theirs[i - 1] in ("--exclude", "--no-dll")]
    assert (
        wheelrepair("check", str(mine_out), *[x for a in kept_out for x in ("--no-dll", a)]).returncode == 0
    )


def test_include_and_exclude_of_one_dll_is_refused_by_both(chain: dict[str, Path], tmp_path: Path) -> None:
    files = {"pkg/__init__.py": INIT, "pkg/_ext.pyd": chain["ext"]}
    wheel = make_wheel(tmp_path / "dist", files, tag="cp312-cp312-win_amd64")
    args = ["--add-path", os.pathsep.join(map(str, [chain["libA"].parent, chain["libB"].parent])),
            "--include", "libB.dll", "--exclude", "LIBB.dll"]  # fmt: skip
    assert delvewheel("repair", str(wheel), "-w", str(tmp_path / "d"), *args).returncode != 0
    mine = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "o"), *args)
    assert mine.returncode == 2 and len(mine.stderr.strip().splitlines()) == 1, mine.stderr
    assert not (tmp_path / "o").exists()


# -- namespace packages ----------------------------------------------------------------------------

PKGUTIL = b"__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
PKG_RESOURCES = b"__import__('pkg_resources').declare_namespace(__name__)\n"

# name: (members -> "ext" or __init__ source, delvewheel's --namespace-pkg, wheelrepair's extra args)
LAYOUTS: dict[str, tuple[dict[str, bytes | str], str, list[str]]] = {
    # delvewheel's namespace0/namespace2: a PEP 420 package holding an extension and a regular one.
    "implicit": ({"ns/_ext.pyd": "ext", "ns/reg/__init__.py": INIT, "ns/reg/_ext.pyd": "ext"}, "ns", []),
    # namespace9: pkgutil- and pkg_resources-style declarations, each with an extension beside it.
    "declared": (
        {"pu/__init__.py": PKGUTIL, "pu/_ext.pyd": "ext", "pu/reg/__init__.py": INIT, "pu/reg/_ext.pyd": "ext",
         "pr/__init__.py": PKG_RESOURCES, "pr/_ext.pyd": "ext", "pr/reg/__init__.py": INIT, "pr/reg/_ext.pyd": "ext"},
        "pu;pr", [],
    ),
    # namespace3: deeply nested namespace packages above a regular one.
    "nested": ({"ns/ns/ns/ns/reg/__init__.py": INIT, "ns/ns/ns/ns/reg/_ext.pyd": "ext"}, "ns.ns.ns.ns", []),
    # namespace10: extensions of one namespace split across the root, platlib and purelib.
    "split": (
        {"ns/_ext.pyd": "ext", "demo-1.0.data/platlib/ns/_ext0.pyd": "ext", "demo-1.0.data/purelib/ns0/_ext.pyd": "ext",
         "demo-1.0.data/platlib/ns0/_ext0.pyd": "ext", "reg/__init__.py": INIT, "reg/_ext.pyd": "ext"},
        "ns;ns0", [],
    ),
    # namespace4-like: an __init__.py that does not say so, declared a namespace on the command line.
    "option": ({"ns/__init__.py": b"", "ns/_ext.pyd": "ext", "ns/reg/__init__.py": INIT, "ns/reg/_ext.pyd": "ext"},
               "ns", ["--namespace-pkg", "ns"]),
    # A top-level extension next to a namespace package's: the DLLs go to the root, copies beside ns.
    "top_level": ({"_top.pyd": "ext", "ns/_ext.pyd": "ext"}, "ns", []),
    # delvewheel's test_purelib / test_platlib / test_purelib_platlib / test_normal_purelib_platlib.
    "purelib": ({"demo-1.0.data/purelib/pkg/__init__.py": INIT, "demo-1.0.data/purelib/pkg/_ext.pyd": "ext"}, "", []),
    "platlib": ({"demo-1.0.data/platlib/pkg/__init__.py": INIT, "demo-1.0.data/platlib/pkg/_ext.pyd": "ext"}, "", []),
    "normal_purelib_platlib": (
        {"pkg/__init__.py": INIT, "pkg/_ext.pyd": "ext",
         "demo-1.0.data/purelib/pkg2/__init__.py": INIT, "demo-1.0.data/purelib/pkg2/_ext.pyd": "ext",
         "demo-1.0.data/platlib/pkg3/__init__.py": INIT, "demo-1.0.data/platlib/pkg3/_ext.pyd": "ext"},
        "", [],
    ),
    # test_top_level_purelib / test_top_level_platlib / test_top_package_levels.
    "top_level_purelib": ({"demo-1.0.data/purelib/_top.pyd": "ext"}, "", []),
    "top_level_platlib": ({"demo-1.0.data/platlib/_top.pyd": "ext"}, "", []),
    "top_package_levels": ({"_top.pyd": "ext", "pkg2/__init__.py": INIT, "pkg2/_ext.pyd": "ext"}, "", []),
}  # fmt: skip


def installed_dir(member: str) -> str:
    return re.sub(r"^demo-1\.0\.data/(platlib|purelib)/", "", member).rpartition("/")[0]


def layout_of(wheel: Path, marker: str) -> tuple[set[tuple[str, str]], set[str], set[str]]:
    """(installed (directory, DLL) pairs, installed __init__.py files, those carrying ``marker``)."""
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/") and ".dist-info/" not in n]
        dlls = {(installed_dir(n), unmangled(n)) for n in names if n.endswith(".dll")}
        inits = {n for n in names if n.endswith("__init__.py")}
        patched = {n for n in inits if marker in zf.read(n).decode()}
    strip = re.compile(r"^demo-1\.0\.data/(platlib|purelib)/")
    return dlls, {strip.sub("", n) for n in inits}, {strip.sub("", n) for n in patched}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layouts_get_dlls_where_they_load(chain: dict[str, Path], tmp_path: Path, layout: str) -> None:
    spec, namespace_pkg, extra = LAYOUTS[layout]
    files = {m: chain["ext"] if v == "ext" else v for m, v in spec.items()}
    assert all(isinstance(v, (bytes, Path)) for v in files.values())
    wheel = make_wheel(tmp_path / "dist", files, tag="cp312-cp312-win_amd64")  # type: ignore[arg-type]
    dirs = [chain["libA"].parent, chain["libB"].parent]
    add = ["--add-path", os.pathsep.join(map(str, dirs))]
    _mine, mine_out, _other, their_out = repaired_by_both(
        tmp_path, wheel, [*add, *extra],
        [*add, *(["--namespace-pkg", namespace_pkg.replace(";", os.pathsep)] if namespace_pkg else []), "--no-mangle-all"],
    )  # fmt: skip
    ours = layout_of(mine_out, "wheelrepair loader patch")
    theirs = layout_of(their_out, "_delvewheel_patch_")
    assert ours == theirs
    # Extensions without a regular package of their own have libA.dll and libB.dll beside them.
    inits = {installed_dir(m): v for m, v in spec.items() if m.endswith("/__init__.py")}
    declared = set(namespace_pkg.replace(".", "/").split(";")) if extra else set()
    bare = {
        installed_dir(m)
        for m, v in spec.items()
        if v == "ext"
        and (inits.get(installed_dir(m)) in (None, PKGUTIL, PKG_RESOURCES) or installed_dir(m) in declared)
    }
    assert {d for d, _ in ours[0]} >= bare
    # The namespace declarations are byte for byte what the wheel had.
    with zipfile.ZipFile(wheel) as before, zipfile.ZipFile(mine_out) as after:
        for member, value in spec.items():
            if member.endswith("__init__.py") and value in (PKGUTIL, PKG_RESOURCES, b""):
                assert after.read(member) == before.read(member), member
    assert wheelrepair("check", str(mine_out)).returncode == 0


# -- DLLs of another machine on the search path ----------------------------------------------------


@pytest.mark.parametrize("case", ["wrong_bitness", "skip_wrong_bitness", "cross_bitness"])
def test_dlls_of_another_machine(
    chain: dict[str, Path], zig_chains: dict[str, dict[str, Path]], tmp_path: Path, case: str
) -> None:
    """delvewheel's test_wrong_bitness / test_skip_wrong_bitness / test_cross_bitness: an x86 libA.dll
    on the path does not satisfy an x64 extension (the search goes on), and does satisfy a win32 one."""
    x86 = zig_chains["x86"]
    x86_dirs = [x86["libA"].parent, x86["libB"].parent]
    x64_dirs = [chain["libA"].parent, chain["libB"].parent]
    if case == "cross_bitness":
        ext, tag, dirs = x86["ext"], "cp312-cp312-win32", x86_dirs
    else:
        ext, tag = chain["ext"], "cp312-cp312-win_amd64"
        dirs = x86_dirs if case == "wrong_bitness" else [*x86_dirs, *x64_dirs]
    wheel = make_wheel(tmp_path / "dist", {"pkg/__init__.py": INIT, "pkg/_ext.pyd": ext}, tag=tag)
    add = ["--add-path", os.pathsep.join(map(str, dirs))]
    mine = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "ours"), *add)
    other = delvewheel("repair", str(wheel), "-w", str(tmp_path / "delvewheel"), *add)
    assert (mine.returncode == 0) is (other.returncode == 0) is (case != "wrong_bitness"), (
        mine.stderr,
        other.stderr,
    )
    if case == "wrong_bitness":
        assert "libA.dll" in mine.stderr and len(mine.stderr.strip().splitlines()) == 1
        return
    [mine_out] = (tmp_path / "ours").glob("*.whl")
    [their_out] = (tmp_path / "delvewheel").glob("*.whl")
    machine = 0x14C if case == "cross_bitness" else 0x8664
    for out in (mine_out, their_out):
        with zipfile.ZipFile(out) as zf:
            libs = [n for n in zf.namelist() if n.startswith("demo.libs/") and n.endswith(".dll")]
            assert {unmangled(n) for n in libs} == {"liba.dll", "libb.dll"}
            assert {pefile.PE(data=zf.read(n), fast_load=True).FILE_HEADER.Machine for n in libs} == {machine}


def test_record_row_of_a_file_name_with_a_comma(chain: dict[str, Path], tmp_path: Path) -> None:
    """delvewheel's test_filename_special_character: RECORD quotes a path that holds ','."""
    files = {"pkg/__init__.py": INIT, "pkg/_ext.pyd": chain["ext"], "demo-1.0.data/data/a,b.txt": b"x\n"}
    wheel = make_wheel(tmp_path / "dist", files, tag="cp312-cp312-win_amd64")
    add = ["--add-path", os.pathsep.join(map(str, [chain["libA"].parent, chain["libB"].parent]))]
    _mine, mine_out, _other, their_out = repaired_by_both(tmp_path, wheel, add, add)
    for out in (mine_out, their_out):
        with zipfile.ZipFile(out) as zf:
            record = zf.read("demo-1.0.dist-info/RECORD").decode().splitlines()
        assert any(line.startswith('"demo-1.0.data/data/a,b.txt",') for line in record), out
    assert wheelrepair("check", str(mine_out)).returncode == 0


def test_msvcp140_delay_load_of_concrt140_is_not_needed(tmp_path: Path) -> None:
    """Some msvcp140.dll builds delay-load concrt140.dll for Windows XP only; delvewheel ignores that
    pair, and so do we: a wheel vendoring such an msvcp140.dll without concrt140 repairs and checks
    clean (fiona 1.10.1 on PyPI is one), and concrt140 is never asked for."""
    runtime = build_lld_dll(
        tmp_path / "rt" / "msvcp140.dll",
        "__declspec(dllimport) int conc_value(void);\n"
        "__declspec(dllexport) int cpp_value(void) { return conc_value(); }\n",
        tmp_path / "concrt140.dll",  # never built: only its import library is
        ["conc_value"],
        delay=True,
    )
    assert "concrt140.dll" in {
        entry.dll.decode().lower() for entry in getattr(pefile.PE(str(runtime)), "DIRECTORY_ENTRY_DELAY_IMPORT", [])
    }
    ext = build_dll(
        tmp_path / "ext" / "_ext.pyd",
        "__declspec(dllimport) int cpp_value(void);\n__declspec(dllexport) int ext_value(void) { return cpp_value(); }\n",
        links=[runtime],
    )
    wheel = make_wheel(tmp_path / "in", {"demo/_ext.pyd": ext, "demo/__init__.py": INIT}, tag="cp312-cp312-win_amd64")
    ours, _ = our_show(wheel, [runtime.parent])
    theirs, _ = delvewheel_show(wheel, [runtime.parent])
    assert ours == theirs == {"msvcp140.dll"}
    repaired = wheelrepair("repair", "-w", str(tmp_path / "out"), "--lib-path", str(runtime.parent), str(wheel))
    assert repaired.returncode == 0, repaired.stderr
    (out,) = (tmp_path / "out").glob("*.whl")
    checked = wheelrepair("check", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
