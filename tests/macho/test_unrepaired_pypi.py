"""Real delocate-repaired macOS wheels from PyPI taken apart and rebuilt unrepaired
(tests/fixtures/macho_unrepair.py), then repaired by wheelrepair from the plain libraries. No Mac loader
runs here, so the output is checked structurally and independently of wheelrepair's own parser: a dyld
walk per architecture over the installed files (load commands read by macholib, @rpath cross-checked
with delocate's pure-Python resolver) finds every dependency inside the wheel and the same dependency
graph delocate's wheel had; every arm64 slice carries a valid ad-hoc signature, and every signature
has the code directories codesign gave delocate's copy (SHA-1 + SHA-256 below macOS 10.11.4) and keeps
its identifier; code and data bytes are untouched; the tag is delocate's; a second repair changes
nothing; a library lacking an architecture is refused with the reason."""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from delocate.libsana import DependencyNotFound, resolve_dynamic_paths
from macholib.MachO import MachO

from tests.fixtures.macho_build import find_tool
from tests.fixtures.macho_unrepair import BUILD_LIB_DIR, unrepair_macos, vendored_members
from tests.fixtures.pypi import fetch_wheel
from tests.macho import dyldwalk, sigcheck
from wheelrepair.formats.macho.backend import MachOBackend

pytestmark = pytest.mark.network

_PILLOW_ARM64 = ("pillow", ["macosx_11_0_arm64"])
#: case -> (requirement, platforms, unrepair_macos options)
WHEELS: dict[str, tuple[str, list[str], dict[str, bool]]] = {
    "pillow-arm64": (*_PILLOW_ARM64, {}),
    # libraries known by symlinked major-version names, each by an absolute name in some binaries and
    # by @rpath in others
    "pillow-arm64-symlinks-mixed": (*_PILLOW_ARM64, {"short_names": True, "mixed": True}),
    "pillow-x86_64": ("pillow", ["macosx_10_13_x86_64", "macosx_10_10_x86_64"], {}),
    "numpy-x86_64": ("numpy", ["macosx_10_13_x86_64", "macosx_10_9_x86_64"], {}),  # OpenBLAS, gfortran
    "scipy-arm64": ("scipy", ["macosx_14_0_arm64", "macosx_12_0_arm64"], {}),
    # universal2 with vendored libraries (libzmq needs libsodium); lxml's universal2 vendors none
    "pyzmq-universal2": ("pyzmq", ["macosx_10_15_universal2", "macosx_10_9_universal2"], {}),
}
_SYSTEM = ("/usr/lib/", "/System/Library/")
CS_ADHOC = 0x2
CS_LINKER_SIGNED = 0x20000
BACKEND = MachOBackend()


def wheelrepair(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True)


@dataclass(frozen=True)
class Case:
    original: Path
    unrepaired: Path
    libdir: Path
    report: dict[str, object]
    output: Path
    work: Path
    #: delocate's wheel and the repaired one, installed, with their Mach-O files
    theirs: tuple[Path, list[Path]]
    ours: tuple[Path, list[Path]]
    options: dict[str, bool]

    @property
    def vendored(self) -> list[dict[str, str]]:
        return self.report["vendored"]  # type: ignore[return-value]


@pytest.fixture(scope="module", params=list(WHEELS))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    requirement, platforms, options = WHEELS[request.param]
    original = fetch_wheel(requirement, platforms)
    work = tmp_path_factory.mktemp(request.param)
    unrepaired, libdir = unrepair_macos(original, work / "unrepair", **options)
    result = wheelrepair(
        "repair", "--lib-path", str(libdir), "-w", str(work / "out"), "--json", str(unrepaired)
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    output = Path(report["output"])
    theirs, ours = work / "delocated", work / "repaired"
    return Case(
        original,
        unrepaired,
        libdir,
        report,
        output,
        work,
        (theirs, dyldwalk.install(original, theirs)),
        (ours, dyldwalk.install(output, ours)),
        options,
    )


def _arch_walk(root: Path, binaries: list[Path]) -> tuple[set[tuple[str, Path, Path]], list[str]]:
    """dyld's search, one architecture at a time, over the installed files under ``root``.

    Returns the (arch, image, dependency file) edges and every dependency that does not resolve to a
    file inside ``root`` holding that architecture. delocate's resolver must agree on each edge."""
    slices = {p: {s.arch: s for s in sigcheck.commands(p)} for p in binaries}
    edges: set[tuple[str, Path, Path]] = set()
    problems: list[str] = []
    for arch in sorted({a for per in slices.values() for a in per}):
        stack: list[tuple[Path, tuple[Path, ...]]] = [(p, (p,)) for p in binaries if arch in slices[p]]
        seen: set[tuple[Path, tuple[Path, ...]]] = set()
        while stack:
            image, chain = stack.pop()
            if (image, chain) in seen:
                continue
            seen.add((image, chain))
            rpaths = [(entry, owner) for owner in reversed(chain) for entry in slices[owner][arch].rpaths]
            for name in slices[image][arch].needed:
                if name.startswith(_SYSTEM):
                    continue
                candidates: list[Path] = []
                if name.startswith("@rpath/"):
                    for entry, owner in rpaths:
                        directory = dyldwalk._expand(entry, owner)
                        if directory is not None:
                            candidates.append(directory / name[len("@rpath/") :])
                elif name.startswith("@loader_path/"):
                    candidates.append(Path(os.path.normpath(image.parent / name[len("@loader_path/") :])))
                elif name.startswith("/"):
                    candidates.append(Path(name))
                hit = next(
                    (c for c in candidates if c in slices and arch in slices[c]),
                    None,
                )
                if hit is None:
                    problems.append(f"{arch} {image.relative_to(root)}: {name}")
                    continue
                theirs = _delocate_resolve(name, rpaths, image)
                assert theirs == str(hit.resolve()), (name, theirs, hit)
                edges.add((arch, image, hit))
                if hit not in chain:
                    stack.append((hit, (*chain, hit)))
    return edges, problems


def _delocate_resolve(name: str, rpaths: list[tuple[str, Path]], image: Path) -> str | None:
    # delocate expands @loader_path in an LC_RPATH against the requester, not the image that owns it
    # (dyld uses the owner): hand it the entries already expanded.
    expanded = [str(d) for d in (dyldwalk._expand(e, o) for e, o in rpaths) if d is not None]
    try:
        return resolve_dynamic_paths(name, expanded, str(image.parent))
    except DependencyNotFound:
        return None


def _canonical(root: Path, path: Path, libs: dict[str, str]) -> str:
    """A name for a file that is the same before and after repair: the leaf for a vendored library."""
    rel = path.relative_to(root).as_posix()
    if rel in libs:
        return libs[rel]
    return posixpath.basename(rel) if ".dylibs" in rel.split("/")[:-1] else rel


def _graph(root: Path, edges: set[tuple[str, Path, Path]], libs: dict[str, str]) -> set[tuple[str, str, str]]:
    return {(arch, _canonical(root, a, libs), _canonical(root, b, libs)) for arch, a, b in edges}


def _dest_to_leaf(case: Case) -> dict[str, str]:
    return {v["dest"]: Path(v["source"]).name for v in case.vendored}


def test_unrepaired_wheel_points_at_the_build_machine(case: Case, tmp_path: Path) -> None:
    # What the repair starts from: nothing vendored, build-machine names that do not exist here.
    with zipfile.ZipFile(case.unrepaired) as zf:
        assert vendored_members(zf.namelist()) == []
    files = [
        *dyldwalk.install(case.unrepaired, tmp_path),
        *(p for p in case.libdir.iterdir() if not p.is_symlink()),
    ]
    built = {n for p in files for s in sigcheck.commands(p) for n in s.needed if not n.startswith(_SYSTEM)}
    assert built and not any(n.startswith("@loader_path") for n in built)
    assert all(n.startswith("@rpath/") or not Path(n).exists() for n in built)
    forms: dict[str, set[str]] = {}
    for name in built:
        forms.setdefault(posixpath.basename(name), set()).add(name.split("/")[0])
    # "mixed": some library is needed as @rpath/<leaf> by one binary and by an absolute name by another
    assert any(len(f) > 1 for f in forms.values()) == case.options.get("mixed", False)
    if case.options.get("short_names"):
        assert any(p.is_symlink() for p in case.libdir.iterdir())
    result = wheelrepair("check", str(case.unrepaired))
    assert result.returncode != 0 and "--lib-path" in result.stdout + result.stderr


def test_vendored_set_is_what_delocate_vendored(case: Case) -> None:
    with zipfile.ZipFile(case.original) as zf:
        delocated = sorted(posixpath.basename(m) for m in vendored_members(zf.namelist()))
    assert delocated, "the PyPI wheel vendors nothing: no test"
    assert sorted(Path(v["source"]).name for v in case.vendored) == delocated
    assert sorted(p.name for p in case.libdir.iterdir() if not p.is_symlink()) == delocated
    libs_dir = str(case.report["libs_dir"])
    with zipfile.ZipFile(case.output) as zf:
        in_libs = sorted(n for n in zf.namelist() if n.startswith(libs_dir + "/"))
    assert in_libs == sorted(v["dest"] for v in case.vendored)
    for item in case.vendored:  # named after the name binaries asked for, plus a content hash
        stem, _, ext = posixpath.basename(item["name"]).rpartition(".")
        assert posixpath.basename(item["dest"]).startswith(stem + "-") and item["dest"].endswith("." + ext)


def test_every_dependency_resolves_inside_the_wheel_for_every_arch(case: Case) -> None:
    root, binaries = case.ours
    edges, problems = _arch_walk(root, binaries)
    assert problems == []
    assert all(root in hit.parents for _arch, _image, hit in edges)
    # independent of the walk above: the shared walker over the merged slices agrees
    assert dyldwalk.unresolved(root, binaries) == []
    # no build-machine path survives
    for path in binaries:
        for s in sigcheck.commands(path):
            assert BUILD_LIB_DIR not in s.rpaths and not any(n.startswith("/opt/") for n in s.needed)


def test_dependency_graph_equals_delocates(case: Case) -> None:
    # Every extension and library loads exactly the libraries (by leaf) it loaded in delocate's wheel.
    (theirs_root, theirs_bins), (ours_root, ours_bins) = case.theirs, case.ours
    theirs, ours = _arch_walk(theirs_root, theirs_bins), _arch_walk(ours_root, ours_bins)
    assert theirs[1] == [] and ours[1] == []
    assert _graph(ours_root, ours[0], _dest_to_leaf(case)) == _graph(theirs_root, theirs[0], {})
    assert ours[0], "no dependency edge: no test"


def test_arm64_slices_carry_valid_adhoc_signatures(case: Case) -> None:
    (theirs_root, theirs_bins), (ours_root, ours_bins) = case.theirs, case.ours
    before = {
        _canonical(theirs_root, p, {}): {s.arch: s.codesig is not None for s in sigcheck.commands(p)}
        for p in theirs_bins
    }
    # delocate's own signatures, checked as strictly (x86_64 ones carry SHA-1 + SHA-256 directories)
    theirs = {_canonical(theirs_root, p, {}): {s.arch: s for s in sigcheck.verify(p)} for p in theirs_bins}
    libs = _dest_to_leaf(case)
    checked = 0
    for path in ours_bins:
        key = _canonical(ours_root, path, libs)
        signatures = {s.arch: s for s in sigcheck.verify(path)}  # raises on any bad page hash
        for arch, sig in signatures.items():
            # what codesign chose for the same file: SHA-1 + SHA-256 directories for macOS < 10.11.4
            # (the pillow and numpy x86_64 libraries), SHA-256 alone after
            mine, apple = sig, theirs[key][arch]
            assert mine.hash_types == apple.hash_types
            if not apple.flags & CS_LINKER_SIGNED:  # an edited linker signature becomes a plain ad-hoc one
                assert (mine.flags, mine.blob_types) == (apple.flags, apple.blob_types)
        archs = {s.arch for s in sigcheck.commands(path)}
        # signed slices stay signed, unsigned ones (x86_64 extensions) stay unsigned
        assert {a for a in archs if a in signatures} == {a for a, signed in before[key].items() if signed}, (
            key
        )
        if "arm64" in archs:
            sig = signatures["arm64"]
            assert sig.flags & CS_ADHOC and sig.pages_checked > 0
            rel = path.relative_to(ours_root).as_posix()
            if rel in libs:  # a vendored copy is identified by its new install name's leaf
                assert sig.identifier == path.name
            else:  # an extension keeps its identifier (not the name of repair's scratch copy)
                assert sig.identifier == theirs[key]["arm64"].identifier
            checked += 1
    assert checked == sum("arm64" in v for v in before.values())


def test_code_and_data_are_untouched(case: Case) -> None:
    # Only the load command area and the signature may differ from delocate's files.
    (theirs_root, theirs_bins), (ours_root, ours_bins) = case.theirs, case.ours
    originals = {_canonical(theirs_root, p, {}): p for p in theirs_bins}
    libs = _dest_to_leaf(case)
    compared = 0
    for path in ours_bins:
        original = originals[_canonical(ours_root, path, libs)]
        old, new = original.read_bytes(), path.read_bytes()
        old_slices = zip(MachO(str(original)).headers, sigcheck.commands(original))
        new_slices = zip(MachO(str(path)).headers, sigcheck.commands(path))
        for (oh, oi), (nh, ni) in zip(old_slices, new_slices):
            assert oi.arch == ni.arch and oh.low_offset == nh.low_offset
            end = oi.codesig[0] if oi.codesig else oh.size
            assert (ni.codesig[0] if ni.codesig else nh.size) == end
            assert (
                old[oh.offset + oh.low_offset : oh.offset + end]
                == new[nh.offset + nh.low_offset : nh.offset + end]
            )
            compared += 1
    assert compared >= len(originals)


def test_tag_is_delocates(case: Case) -> None:
    original_plat = case.original.name[: -len(".whl")].split("-")[-1]
    tag = str(case.report["tag"])
    if tag != original_plat:
        # only acceptable when raised for a named library
        leaves = [Path(v["source"]).name for v in case.vendored]
        warnings = [str(w) for w in case.report["warnings"]]  # type: ignore[attr-defined]
        assert any(leaf in w and original_plat in w for w in warnings for leaf in leaves), (tag, warnings)
    assert case.output.name.endswith(f"-{tag}.whl")
    assert case.report["verdict"]["error"] is None  # type: ignore[index]


def test_check_passes_and_a_second_repair_changes_nothing(case: Case, tmp_path: Path) -> None:
    result = wheelrepair("check", str(case.output))
    assert result.returncode == 0, result.stdout + result.stderr
    again = wheelrepair("repair", str(case.output), "-w", str(tmp_path), "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["vendored"] == [] and report["tag"] == case.report["tag"]
    output = Path(report["output"])
    assert output.name == case.output.name
    with zipfile.ZipFile(case.output) as before, zipfile.ZipFile(output) as after:
        assert sorted(before.namelist()) == sorted(after.namelist())
        for info in before.infolist():
            assert before.read(info) == after.read(info.filename), info.filename


def test_other_members_are_the_originals(case: Case) -> None:
    with zipfile.ZipFile(case.original) as zo, zipfile.ZipFile(case.output) as zr:
        skip = set(vendored_members(zo.namelist()))
        for name in zo.namelist():
            if name in skip or ".dist-info/" in name or name.endswith("/"):
                continue
            data = zo.read(name)
            if data[:4] in dyldwalk._MAGICS:
                continue  # binaries: compared byte range by byte range above
            assert zr.read(name) == data, name


def test_finalize_leaves_every_valid_pypi_signature_alone(case: Case, tmp_path: Path) -> None:
    # delocate's x86_64 dylibs for macOS < 10.11.4 carry SHA-1 + SHA-256 code directories: valid, so
    # finalize must not sign them again (it would change untouched slices of fat files)
    signed = 0
    for path in case.theirs[1]:
        if not any(s.codesig for s in sigcheck.commands(path)):
            continue
        copy = tmp_path / path.name
        shutil.copyfile(path, copy)
        BACKEND.finalize(copy)
        assert copy.read_bytes() == path.read_bytes(), path.name
        signed += 1
    assert signed


def test_library_lacking_an_arch_is_named_with_the_reason(tmp_path: Path) -> None:
    # a universal2 wheel cannot vendor an arm64-only libsodium: the error says why the file it found
    # does not count, instead of claiming the library is not there
    lipo = find_tool("llvm-lipo")
    if lipo is None:
        pytest.skip("llvm-lipo missing")
    requirement, platforms, _options = WHEELS["pyzmq-universal2"]
    unrepaired, libdir = unrepair_macos(fetch_wheel(requirement, platforms), tmp_path / "unrepair")
    sodium = libdir / "libsodium.26.dylib"
    thin = tmp_path / sodium.name
    subprocess.run([lipo, str(sodium), "-thin", "arm64", "-output", str(thin)], check=True)
    os.replace(thin, sodium)
    result = wheelrepair("repair", "--lib-path", str(libdir), "-w", str(tmp_path / "out"), str(unrepaired))
    assert result.returncode != 0 and not (tmp_path / "out").exists()
    (line,) = result.stderr.strip().splitlines()
    # the refusal names the library's own minimum too (what it holds, not only what it lacks)
    assert re.search(rf"{re.escape(str(sodium))} \(holds arm64 macOS \d+\.\d+, not x86_64\)", line), line
    assert "libzmq.5.dylib" in line
