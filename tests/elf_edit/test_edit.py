"""Editing real gcc/lld/gold/zig outputs: the loader accepts the result, the tools read back exactly
the intended values, nothing else in the dynamic section changes, and a second run changes nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from tests.fixtures.elf_build import (
    BAR_20,
    BUILD_RPATH,
    GCC_VARIANTS,
    ZIG_TARGETS,
    ElfFamily,
    build_libm_users,
    strip_section_headers,
    system_library,
)
from wheelrepair.formats.base import PatchRequest
from wheelrepair.formats.elf.editor import edit_elf, edit_elf_bytes

from .checks import (
    call_bar,
    copy_family,
    elflint,
    readelf,
    readelf_strings,
    run,
    section_view_matches,
    unchanged_entries,
)

LONG_FOO = "libfoo-" + "0123456789abcdef" * 3 + ".so.1"
LONG_BAR = "libbar-" + "fedcba9876543210" * 3 + ".so"
LONG_RPATH = "$ORIGIN/../" + "a-directory-name-long-enough-to-never-fit-in-place/" * 2 + "lib"
GROW = PatchRequest(
    replace_needed=(("libfoo.so.1", LONG_FOO),), set_rpath=(LONG_RPATH, "$ORIGIN"), set_soname=LONG_BAR
)

HOST_CASES = [(v, "") for v in GCC_VARIANTS] + [
    ("default", "strip"),
    ("default", "nosections"),
    ("lld", "nosections"),
    ("gold", "strip"),
]


def _prepare(family: ElfFamily, target: Path, post: str) -> Path:
    work = copy_family(family.directory, target)
    for name in ("libbar.so", "main"):
        path = work / name
        if not path.exists():
            continue
        if post == "strip":
            subprocess.run(["strip", "-s", str(path)], check=True)
        elif post == "nosections":
            strip_section_headers(path)
    return work


def _loader_rules(path: Path) -> None:
    """What glibc and the kernel demand of program headers."""
    with open(path, "rb") as handle:
        elf = ELFFile(handle)
        loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
        assert [s["p_vaddr"] for s in loads] == sorted(s["p_vaddr"] for s in loads)
        for seg in loads:
            assert seg["p_offset"] % seg["p_align"] == seg["p_vaddr"] % seg["p_align"]
        for a, b in zip(loads, loads[1:]):
            assert a["p_vaddr"] + a["p_memsz"] <= b["p_vaddr"]
        phoff, size = elf["e_phoff"], elf["e_phnum"] * elf["e_phentsize"]
        assert any(s["p_offset"] <= phoff and phoff + size <= s["p_offset"] + s["p_filesz"] for s in loads)
        holder = next(s for s in loads if s["p_offset"] <= phoff < s["p_offset"] + s["p_filesz"])
        if any(s["p_type"] == "PT_INTERP" for s in elf.iter_segments()):
            # Kernels before 5.18 derive AT_PHDR from the first PT_LOAD's offset-to-address delta.
            assert holder["p_vaddr"] - holder["p_offset"] == loads[0]["p_vaddr"] - loads[0]["p_offset"]
        for seg in elf.iter_segments():
            if seg["p_type"] == "PT_PHDR":
                assert seg["p_offset"] == phoff and seg["p_filesz"] == size
                assert any(
                    s["p_vaddr"] <= seg["p_vaddr"] and seg["p_vaddr"] + size <= s["p_vaddr"] + s["p_filesz"]
                    for s in loads
                )


def _edit_and_check(
    path: Path, request: PatchRequest, expect: dict[str, list[str]], versions_change: bool = False
) -> None:
    before = _drop_version_tags(unchanged_entries(path), versions_change)
    lint_before = elflint(path)
    original = path.read_bytes()
    assert edit_elf(path, request)
    # Repair edits members in memory: the same edit on the bytes gives the same file.
    assert edit_elf_bytes(original, path.name, request) == path.read_bytes()
    assert readelf_strings(path) == expect
    assert _drop_version_tags(unchanged_entries(path), versions_change) == before
    readelf(path, "-l", "-S")
    section_view_matches(path)
    _loader_rules(path)
    assert elflint(path) - lint_before == set()
    data = path.read_bytes()
    assert not edit_elf(path, request)
    assert path.read_bytes() == data
    assert edit_elf_bytes(data, path.name, request) is None


def _bar_expect(old_tags: bool = False) -> dict[str, list[str]]:
    return {"NEEDED": [LONG_FOO], "SONAME": [LONG_BAR], "RPATH": [], "RUNPATH": [f"{LONG_RPATH}:$ORIGIN"]}


@pytest.mark.parametrize(("variant", "post"), HOST_CASES, ids=[f"{v}-{p}" if p else v for v, p in HOST_CASES])
def test_grown_library_and_program_load(
    gcc_family: Callable[[str], ElfFamily], tmp_path: Path, variant: str, post: str
) -> None:
    work = _prepare(gcc_family(variant), tmp_path / "w", post)
    bar, main = work / "libbar.so", work / "main"
    size = bar.stat().st_size
    _edit_and_check(bar, GROW, _bar_expect())
    assert bar.stat().st_size > size
    with pytest.raises(AssertionError, match=LONG_FOO):
        call_bar(bar)  # the renamed dependency does not exist yet
    (work / LONG_FOO).symlink_to("libfoo.so.1")
    assert call_bar(bar) == str(BAR_20)

    (work / LONG_BAR).symlink_to("libbar.so")
    program = PatchRequest(replace_needed=(("libbar.so", LONG_BAR),), set_rpath=(LONG_RPATH, "$ORIGIN"))
    _edit_and_check(
        main,
        program,
        {"NEEDED": [LONG_BAR, "libc.so.6"], "SONAME": [], "RPATH": [], "RUNPATH": [f"{LONG_RPATH}:$ORIGIN"]},
    )
    assert run(main) == str(BAR_20)


@pytest.mark.parametrize("target", list(ZIG_TARGETS))
def test_zig_targets(zig_family: Callable[[str], ElfFamily], tmp_path: Path, target: str) -> None:
    family = zig_family(target)
    work = copy_family(family.directory, tmp_path / "w")
    bar = work / "libbar.so"
    _edit_and_check(bar, GROW, _bar_expect())
    if family.runnable:
        (work / LONG_FOO).symlink_to("libfoo.so.1")
        assert call_bar(bar) == str(BAR_20)


IN_PLACE_CASES = [
    ("default", ""),
    ("lld", ""),
    ("gold", ""),
    ("default", "nosections"),
    ("sysv-hash", "nosections"),
]


@pytest.mark.parametrize(
    ("variant", "post"), IN_PLACE_CASES, ids=[f"{v}-{p}" if p else v for v, p in IN_PLACE_CASES]
)
def test_fitting_strings_are_written_in_place(
    gcc_family: Callable[[str], ElfFamily], tmp_path: Path, variant: str, post: str
) -> None:
    """Without section headers the symbol count comes from the GNU or SysV hash table."""
    work = _prepare(gcc_family(variant), tmp_path / "w", post)
    bar = work / "libbar.so"
    headers = readelf(bar, "-l")
    size = bar.stat().st_size
    # The build path and the old name are referenced by nothing else once replaced: their bytes are reused.
    short = "libfoo-1a2b3c4d.so.1"
    _edit_and_check(
        bar,
        PatchRequest(replace_needed=(("libfoo.so.1", short),), set_rpath=("$ORIGIN",)),
        {"NEEDED": [short], "SONAME": ["libbar.so"], "RPATH": [], "RUNPATH": ["$ORIGIN"]},
    )
    assert bar.stat().st_size == size
    assert readelf(bar, "-l") == headers
    assert BUILD_RPATH.encode() not in bar.read_bytes()
    (work / short).symlink_to("libfoo.so.1")
    assert call_bar(bar) == str(BAR_20)


def test_needed_added_and_removed(gcc_family: Callable[[str], ElfFamily], tmp_path: Path) -> None:
    work = copy_family(gcc_family("lld").directory, tmp_path / "w")
    main = work / "main"
    extra = "libz-" + "9" * 40 + ".so"
    _edit_and_check(
        main,
        PatchRequest(add_needed=("libm.so.6", extra)),
        {"NEEDED": ["libbar.so", "libc.so.6", "libm.so.6", extra], "SONAME": [], "RPATH": [], "RUNPATH": []},
    )
    _edit_and_check(
        main,
        PatchRequest(remove_needed=(extra,), set_rpath=("$ORIGIN",)),
        {
            "NEEDED": ["libbar.so", "libc.so.6", "libm.so.6"],
            "SONAME": [],
            "RPATH": [],
            "RUNPATH": ["$ORIGIN"],
        },
    )
    assert edit_elf(work / "libbar.so", PatchRequest(set_rpath=("$ORIGIN",)))
    traced = subprocess.run([str(main)], capture_output=True, text=True, env={"LD_TRACE_LOADED_OBJECTS": "1"})
    assert "libm.so.6" in traced.stdout
    assert run(main) == str(BAR_20)


def test_search_path_forms(gcc_family: Callable[[str], ElfFamily], tmp_path: Path) -> None:
    work = copy_family(gcc_family("old-dtags").directory, tmp_path / "w")
    bar = work / "libbar.so"
    assert readelf_strings(bar)["RPATH"] == [BUILD_RPATH]
    base = {"NEEDED": ["libfoo.so.1"], "SONAME": ["libbar.so"]}
    # add/delete keep the existing kind of entry; set converts to RUNPATH unless forced.
    _edit_and_check(
        bar,
        PatchRequest(add_rpath=("$ORIGIN",)),
        {**base, "RPATH": [f"{BUILD_RPATH}:$ORIGIN"], "RUNPATH": []},
    )
    _edit_and_check(
        bar, PatchRequest(delete_rpath=(BUILD_RPATH,)), {**base, "RPATH": ["$ORIGIN"], "RUNPATH": []}
    )
    _edit_and_check(
        bar, PatchRequest(set_rpath=("$ORIGIN/x",)), {**base, "RPATH": [], "RUNPATH": ["$ORIGIN/x"]}
    )
    _edit_and_check(
        bar,
        PatchRequest(set_rpath=("$ORIGIN",), force_rpath=True),
        {**base, "RPATH": ["$ORIGIN"], "RUNPATH": []},
    )
    assert call_bar(bar) == str(BAR_20)
    _edit_and_check(bar, PatchRequest(remove_rpath=True), {**base, "RPATH": [], "RUNPATH": []})


def test_python_can_import_edited_extension(tmp_path: Path) -> None:
    """This interpreter's own extension modules (with their build-machine RUNPATH) survive an edit."""
    import _ctypes

    source = Path(_ctypes.__file__)
    target = tmp_path / source.name
    target.write_bytes(source.read_bytes())
    assert edit_elf(target, PatchRequest(set_rpath=(LONG_RPATH,), add_needed=("libm.so.6",)))
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import _ctypes; print(_ctypes.__file__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and str(tmp_path) in result.stdout, result.stderr


@pytest.mark.parametrize("variant", ["default", "lld"])
def test_second_growing_edit_reuses_the_spare_header(
    gcc_family: Callable[[str], ElfFamily], tmp_path: Path, variant: str
) -> None:
    work = copy_family(gcc_family(variant).directory, tmp_path / "w")
    bar = work / "libbar.so"
    loads = _count_loads(bar)
    _edit_and_check(bar, GROW, _bar_expect())
    with open(bar, "rb") as handle:
        first = ELFFile(handle)["e_phoff"]
    extra = "libm-" + "7" * 60 + ".so"
    (work / extra).symlink_to(system_library("libm.so.6") or "/nonexistent")
    _edit_and_check(
        bar,
        PatchRequest(add_needed=(extra,), set_rpath=("$ORIGIN/" + "z" * 100, "$ORIGIN")),
        {
            "NEEDED": [LONG_FOO, extra],
            "SONAME": [LONG_BAR],
            "RPATH": [],
            "RUNPATH": ["$ORIGIN/" + "z" * 100 + ":$ORIGIN"],
        },
    )
    with open(bar, "rb") as handle:
        elf = ELFFile(handle)
        assert elf["e_phoff"] == first
    assert _count_loads(bar) == loads + 2
    (work / LONG_FOO).symlink_to("libfoo.so.1")
    assert call_bar(bar) == str(BAR_20)


def _count_loads(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(s["p_type"] == "PT_LOAD" for s in ELFFile(handle).iter_segments())


def test_removed_library_takes_its_symbol_versions_along(tmp_path: Path) -> None:
    baz, qux, program = build_libm_users(tmp_path / "m")
    assert "libm.so.6" in readelf(baz, "-V") and "libm.so.6" in readelf(qux, "-V")
    # Only libm's entry goes; libc's stays and the result is as clean as the original.
    _edit_and_check(
        qux,
        PatchRequest(remove_needed=("libm.so.6",)),
        {"NEEDED": ["libc.so.6"], "SONAME": [], "RPATH": [], "RUNPATH": []},
        versions_change=True,
    )
    versions = readelf(qux, "-V")
    assert "libm.so.6" not in versions and "File: libc.so.6" in versions
    # Every versioned need gone: the loader must not look for version data at all.
    assert edit_elf(baz, PatchRequest(remove_needed=("libm.so.6",)))
    assert readelf_strings(baz)["NEEDED"] == []
    assert "libm.so.6" not in readelf(baz, "-V", "-d")
    assert run(program) == "45"


def _drop_version_tags(entries: list[tuple[str, object]], drop: bool) -> list[tuple[str, object]]:
    return [e for e in entries if not drop or e[0] not in ("DT_VERNEED", "DT_VERNEEDNUM")]
