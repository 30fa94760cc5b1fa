"""The SBOM of a repaired macOS wheel (zig-built dylibs): both vendored libraries listed with the
hashes of their files in the wheel; libraries that came from a Homebrew Cellar name their formula and
version (pkg:brew), read from the path as Homebrew lays it out."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.macho_build import MachOSet, build_set
from tests.fixtures.sbom import assert_describes, dependencies, prop, read_sbom
from tests.fixtures.sbom import repair_json as wheelrepair
from tests.fixtures.wheels import make_wheel


def _wheel(files: MachOSet, out: Path) -> Path:
    return make_wheel(out, {"demo/__init__.py": b"", "demo/_ext.so": files.ext}, tag="cp311-cp311-macosx_11_0_arm64")


def test_vendored_dylibs_are_listed_with_their_hashes(tree: dict[str, MachOSet], tmp_path: Path) -> None:
    report = wheelrepair("repair", str(_wheel(tree["arm64"], tmp_path / "in")), "-w", str(tmp_path / "out"))
    by_file = assert_describes(Path(report["output"]), report)
    assert sorted(c["name"].rsplit("/", 1)[-1] for c in by_file.values()) == ["liba.dylib", "libb.dylib"]
    assert all("purl" not in c for c in by_file.values())
    document, _, _ = read_sbom(Path(report["output"]))
    liba = next(c for c in by_file.values() if c["name"].endswith("liba.dylib"))
    libb = next(c for c in by_file.values() if c["name"].endswith("libb.dylib"))
    assert dependencies(document)[liba["bom-ref"]] == [libb["bom-ref"]]


def test_a_cellar_library_names_its_formula(tree: dict[str, MachOSet], tmp_path: Path) -> None:
    cellar = tmp_path / "homebrew" / "Cellar" / "demo-libs" / "1.2.3" / "lib"
    files = build_set(cellar, "arm64", cellar)
    report = wheelrepair("repair", str(_wheel(files, tmp_path / "in")), "-w", str(tmp_path / "out"))
    by_file = assert_describes(Path(report["output"]), report)
    assert len(by_file) == 2
    for component in by_file.values():
        assert component["purl"] == "pkg:brew/demo-libs@1.2.3"
        assert component["version"] == "1.2.3"
        assert prop(component, "wheelrepair:package-manager") == "homebrew"
        assert prop(component, "wheelrepair:source-path").startswith(str(cellar))
