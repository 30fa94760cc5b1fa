"""The SBOM repair writes (PEP 770, CycloneDX): one component per vendored library with its original
name, its file in the wheel and that file's sha256, where it came from, and the OS package that owns
it where the host can tell. Checked against the repaired wheel's own bytes, against ``dpkg -S`` and
against auditwheel's ``auditwheel.cdx.json`` for the same wheel; on all three platforms' wheels."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.elf_project import build_gcc_wheel, build_system_deps_wheel
from tests.fixtures.sbom import assert_describes, dependencies, prop, read_sbom, sha256
from tests.fixtures.sbom import repair_json as wheelrepair


def test_a_chain_lists_both_libraries_and_which_loads_which(tmp_path: Path) -> None:
    project = build_gcc_wheel(tmp_path / "chain")
    report = wheelrepair("repair", str(project.wheel), "-w", str(tmp_path / "out"))
    wheel = Path(report["output"])
    by_file = assert_describes(wheel, report)
    lib_a, lib_b = (next(c for f, c in by_file.items() if f and f"/{n}-" in f) for n in ("libA", "libB"))
    assert "purl" not in lib_a and "purl" not in lib_b  # built here: no package owns them
    document, _, _ = read_sbom(wheel)
    deps = dependencies(document)
    assert deps[document["metadata"]["component"]["bom-ref"]] == [lib_a["bom-ref"]]
    assert deps[lib_a["bom-ref"]] == [lib_b["bom-ref"]] and deps[lib_b["bom-ref"]] == []


@pytest.fixture(scope="module")
def system_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("dpkg-query") is None:
        pytest.skip("needs a Debian host (dpkg)")
    wheel = build_system_deps_wheel(tmp_path_factory.mktemp("sysdeps"))
    if wheel is None:
        pytest.skip("needs libffi-dev and libyaml-dev")
    return wheel


def dpkg_owner(path: str) -> tuple[str, str]:
    """(package, version) as dpkg itself says, for the test's independent answer."""
    out = subprocess.run(["dpkg", "-S", path], check=True, capture_output=True, text=True).stdout
    package = out.split(":")[0]
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], check=True, capture_output=True,
                             text=True).stdout
    return package, version


def test_debian_libraries_name_their_package(system_wheel: Path, tmp_path: Path) -> None:
    report = wheelrepair("repair", str(system_wheel), "-w", str(tmp_path / "out"))
    by_file = assert_describes(Path(report["output"]), report)
    assert sorted(v["name"].split(".so")[0] for v in report["vendored"]) == ["libffi", "libyaml-0"]
    for vendored in report["vendored"]:
        component = by_file[vendored["dest"]]
        package, version = dpkg_owner(vendored["source"])
        assert package.startswith(("libffi", "libyaml"))
        assert prop(component, "wheelrepair:package") == package
        assert prop(component, "wheelrepair:package-manager") == "dpkg"
        assert component["version"] == version
        assert component["purl"].startswith(f"pkg:deb/debian/{package}@")
        # Found through the soname symlink, copied from the file it points to.
        found_as = prop(component, "wheelrepair:found-as")
        assert found_as is not None and os.path.realpath(found_as) == vendored["source"] != found_as


@pytest.mark.skipif(shutil.which("auditwheel") is None, reason="auditwheel is not installed")
def test_same_packages_as_auditwheel(system_wheel: Path, tmp_path: Path) -> None:
    ours = wheelrepair("repair", str(system_wheel), "-w", str(tmp_path / "ours"))
    subprocess.run(["auditwheel", "repair", "-w", str(tmp_path / "theirs"), str(system_wheel)], check=True,
                   capture_output=True)
    (theirs,) = (tmp_path / "theirs").glob("*.whl")
    assert theirs.name == Path(ours["output"]).name
    with zipfile.ZipFile(theirs) as zf:
        (member,) = [n for n in zf.namelist() if n.endswith("sboms/auditwheel.cdx.json")]
        their_doc = json.loads(zf.read(member))
    wheel_ref = their_doc["metadata"]["component"]["bom-ref"]
    their_purls = sorted(c["purl"] for c in their_doc["components"] if c["bom-ref"] != wheel_ref)
    our_doc, _, _ = read_sbom(Path(ours["output"]))
    # Ours also carries the package's architecture (purl's deb qualifier); auditwheel's has none.
    our_purls = sorted(c["purl"].split("?")[0] for c in our_doc["components"])
    assert our_purls == their_purls and len(our_purls) == 2
    assert our_doc["metadata"]["component"]["purl"] == wheel_ref


def test_a_second_repair_keeps_one_sbom_and_merges_what_it_adds(system_wheel: Path, tmp_path: Path) -> None:
    first = wheelrepair("repair", str(system_wheel), "-w", str(tmp_path / "first"), "--exclude", "libyaml*")
    assert [v["name"] for v in first["vendored"]] == ["libffi.so.8"]
    assert_describes(Path(first["output"]), first)
    second = wheelrepair("repair", first["output"], "-w", str(tmp_path / "second"))
    assert [v["name"] for v in second["vendored"]] == ["libyaml-0.so.2"]
    document, files, _ = read_sbom(Path(second["output"]))
    names = sorted(c["name"] for c in document["components"])
    assert names == ["libffi.so.8", "libyaml-0.so.2"]
    for component in document["components"]:
        member = prop(component, "wheelrepair:file")
        assert component["hashes"][0]["content"] == sha256(files[member])
    wheel_deps = dependencies(document)[document["metadata"]["component"]["bom-ref"]]
    assert sorted(wheel_deps) == sorted(c["bom-ref"] for c in document["components"])
    third = wheelrepair("repair", second["output"], "-w", str(tmp_path / "third"))
    assert third["changed"] is False and third["sbom"] is None
    assert read_sbom(Path(third["output"]))[0] == document
