"""Real Windows wheels from PyPI (several already repaired by delvewheel): every PE file reads as
pefile reads it, `check` passes, and `show` agrees with `delvewheel show --analyze-existing` on which
DLLs the wheel expects Windows and Python to provide."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pefile
import pytest

from tests.fixtures.pe_build import run_wine, windows_path
from tests.fixtures.pypi import fetch_wheel
from tests.fixtures.wheels import make_wheel
from wheelrepair.formats.pe.backend import PEBackend
from wheelrepair.formats.pe.editor import rename_imports, rewrite_file
from wheelrepair.formats.pe.reader import read_binary

PROJECTS = ["numpy", "scipy", "pillow", "lxml", "shapely", "h5py"]

pytestmark = pytest.mark.network


def wheelrepair(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True, timeout=600
    )


def pefile_imports(data: bytes) -> tuple[tuple[str, ...], tuple[str, ...]]:
    pe = pefile.PE(data=data, fast_load=True)
    pe.parse_data_directories(
        directories=[
            pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"],
            pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT"],
        ]
    )
    imports = tuple(e.dll.decode() for e in getattr(pe, "DIRECTORY_ENTRY_IMPORT", []))
    delayed = tuple(e.dll.decode() for e in getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", []))
    return tuple(dict.fromkeys(imports + delayed)), delayed


@pytest.mark.parametrize("project", PROJECTS)
def test_every_pe_file_reads_like_pefile(project: str) -> None:
    wheel = fetch_wheel(project, ["win_amd64"])
    backend = PEBackend()
    count = 0
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            with zf.open(info) as fh:
                if not backend.sniff(fh.read(64)):
                    continue
            data = zf.read(info)
            binary = backend.read(data, info.filename)
            assert (binary.needed, binary.delay_needed) == pefile_imports(data), info.filename
            assert binary.archs == ("x86_64",)
            count += 1
    assert count > 0


@pytest.mark.parametrize("project", PROJECTS)
def test_check_passes_and_nothing_is_external_but_the_system(project: str) -> None:
    wheel = fetch_wheel(project, ["win_amd64"])
    check = wheelrepair("check", str(wheel))
    assert check.returncode == 0, check.stdout + check.stderr
    show = wheelrepair("show", "--json", str(wheel))
    assert show.returncode == 0, show.stderr
    document = json.loads(show.stdout)
    assert document["tag"] == "win_amd64"
    assert {e["action"] for e in document["edges"]} <= {"system", "in-wheel"}


def delvewheel_view(wheel: Path) -> tuple[set[str], set[str]] | None:
    """(DLLs delvewheel would copy in, DLLs it assumes present), or None for a wheel delvewheel
    repaired itself (it then reports nothing)."""
    result = subprocess.run(
        ["delvewheel", "show", "--analyze-existing", str(wheel)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    if "has already repaired this wheel" in result.stdout:
        return None
    sections = re.split(r"\n\n", result.stdout)

    def names(header: str) -> set[str]:
        section = next(s for s in sections if s.startswith(header))
        found = {line.strip().split(" ")[0].lower() for line in section.splitlines()[1:] if line.strip()}
        return found - {"none"}

    return names("The following DLLs will be copied"), names("The following DLLs are assumed to be present")


@pytest.mark.skipif(shutil.which("delvewheel") is None, reason="delvewheel is not installed")
@pytest.mark.parametrize("project", ["pillow", "lxml", "h5py"])
def test_show_agrees_with_delvewheel_on_external_dlls(project: str) -> None:
    wheel = fetch_wheel(project, ["win_amd64"])
    view = delvewheel_view(wheel)
    if view is None:
        pytest.skip(f"delvewheel repaired {wheel.name} and reports nothing for it")
    to_copy, present = view
    document = json.loads(wheelrepair("show", "--json", str(wheel)).stdout)
    system = {e["name"].lower() for e in document["edges"] if e["action"] == "system"}
    in_wheel = {e["name"].lower() for e in document["edges"] if e["action"] == "in-wheel"}
    assert system == present
    # delvewheel counts DLLs that ship beside the extensions (h5py's hdf5.dll) as still to copy;
    # they are found where the loader looks, inside the wheel.
    assert to_copy <= in_wheel


@pytest.mark.parametrize("project", ["numpy", "scipy", "pillow"])
def test_renaming_every_import_of_real_binaries_keeps_them_valid(project: str) -> None:
    """MSVC- and MinGW-built DLLs from real wheels (load configurations, debug directories, CFG
    tables): renamed imports read back, pefile parses the result and its checksum holds."""
    wheel = fetch_wheel(project, ["win_amd64"])
    backend = PEBackend()
    checked = 0
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.file_size > 3_000_000:
                continue  # pefile's checksum verification is slow on large files
            with zf.open(info) as fh:
                if not backend.sniff(fh.read(64)):
                    continue
            data = zf.read(info)
            before = backend.read(data, info.filename)
            renames = {name: name.rsplit(".", 1)[0] + "-0123abcd.dll" for name in before.needed}
            out = rename_imports(data, renames, info.filename)
            assert out is not None
            after = backend.read(out, info.filename)
            assert after.needed == tuple(renames[n] for n in before.needed)
            assert after.delay_needed == tuple(renames[n] for n in before.delay_needed)
            assert pefile.PE(data=out, fast_load=True).verify_checksum(), info.filename
            assert pefile_imports(out) == (after.needed, after.delay_needed)
            checked += 1
    assert checked > 0


@pytest.mark.wine
def test_edited_msvc_built_dlls_still_load(tmp_path: Path, wine_prefix: Path, load_like_python: Path) -> None:
    """shapely's GEOS DLLs (built by Visual C++; msvcp140.dll signed by Microsoft) renamed to long
    names and re-linked by the editor load under wine and answer GEOSversion()."""
    wheel = fetch_wheel("shapely", ["win_amd64"])
    ext, libs = tmp_path / "ext", tmp_path / "libs"
    ext.mkdir()
    libs.mkdir()
    with zipfile.ZipFile(wheel) as zf:
        dlls = {Path(n).name.split("-")[0]: n for n in zf.namelist() if n.startswith("shapely.libs/")}
        # Together longer than the slack in geos_c.dll (a new section), short enough for MAX_PATH.
        renamed = {key: f"{key}-" + "r" * 150 + ".dll" for key in ("geos", "msvcp140")}
        (ext / "geos_c.dll").write_bytes(zf.read(dlls["geos_c"]))
        for key, name in renamed.items():
            (libs / name).write_bytes(zf.read(dlls[key]))
    renames = {Path(dlls[key]).name: name for key, name in renamed.items()}
    assert rewrite_file(ext / "geos_c.dll", renames)
    assert rewrite_file(libs / renamed["geos"], renames)
    # Editing msvcp140 drops Microsoft's signature; Windows loads unsigned DLLs all the same.
    assert rewrite_file(libs / renamed["msvcp140"], {"KERNEL32.dll": "kernel32.dll"})
    for path in [ext / "geos_c.dll", *libs.iterdir()]:
        pe = pefile.PE(str(path), fast_load=True)
        assert pe.verify_checksum() and pe.OPTIONAL_HEADER.DATA_DIRECTORY[4].Size == 0, path
    assert pefile.PE(str(ext / "geos_c.dll"), fast_load=True).sections[-1].Name.startswith(b".wrnames")
    result = run_wine(
        wine_prefix,
        [str(load_like_python), windows_path(libs), windows_path(ext / "geos_c.dll"), "GEOSversion", "str"],
    )
    assert re.fullmatch(r"result=3\.\d+\.\d+-CAPI-1\.\d+\.\d+", result.stdout.strip()), (
        result.stdout + result.stderr
    )


def test_msvc_runtime_age_warning_on_real_binaries_agrees_with_delvewheel(tmp_path: Path) -> None:
    """shapely's GEOS needing msvcp140.dll, with numpy's older copy the only one on --lib-path
    (Visual C++ 14.40 against 14.44 when written): one toolset family, so neither delvewheel nor
    wheelrepair warns; a copy from an older family would be warned about, naming both versions."""
    shapely = zipfile.ZipFile(fetch_wheel("shapely", ["win_amd64"]))
    numpy = zipfile.ZipFile(fetch_wheel("numpy", ["win_amd64"]))
    libs = {Path(n).name.split("-")[0]: n for n in shapely.namelist() if n.startswith("shapely.libs/")}
    # Undo delvewheel's mangling, as the DLLs were on the build machine.
    plain = {Path(libs[key]).name: f"{key}.dll" for key in ("geos", "msvcp140")}
    ext = rename_imports(shapely.read(libs["geos_c"]), plain, "geos_c.dll")
    geos = rename_imports(shapely.read(libs["geos"]), plain, "geos.dll")
    assert ext is not None and geos is not None
    lib_path = tmp_path / "libs"
    lib_path.mkdir()
    (lib_path / "geos.dll").write_bytes(geos)
    old_runtime = numpy.read(next(n for n in numpy.namelist() if "msvcp140" in n))
    theirs, ours = (
        read_binary(old_runtime, "msvcp140.dll").linker_version,
        read_binary(ext, "x").linker_version,
    )
    if not theirs or not ours or theirs >= ours:
        pytest.skip(f"numpy's msvcp140.dll ({theirs}) is no longer older than shapely's GEOS ({ours})")
    (lib_path / "msvcp140.dll").write_bytes(old_runtime)
    files = {"pkg/__init__.py": b"", "pkg/_geos.pyd": ext}
    wheel = make_wheel(tmp_path / "dist", files, tag="cp311-cp311-win_amd64")
    result = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"), "--lib-path", str(lib_path))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "msvcp140.dll was built by Visual C++" in line]
    older_family = (theirs[0], theirs[1] // 10) < (ours[0], ours[1] // 10)
    expected = (f"{theirs[0]}.{theirs[1]}", f"{ours[0]}.{ours[1]}", "pkg/_geos.pyd")
    assert any(all(part in w for part in expected) for w in warnings) is older_family, result.stderr
    if shutil.which("delvewheel"):
        other = subprocess.run(
            ["delvewheel", "repair", str(wheel), "-w", str(tmp_path / "delvewheel"), "--add-path", str(lib_path)],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert other.returncode == 0, other.stderr
        assert ("newer platform toolset" in other.stdout + other.stderr) is older_family
