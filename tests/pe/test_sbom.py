"""The SBOM of a repaired Windows wheel: every vendored DLL listed with the hash of its file in the
wheel; a DLL that came from a Debian package (mingw-w64's libwinpthread-1.dll) names that package,
compared with what ``dpkg -S`` says."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.pe_build import build_dll
from tests.fixtures.sbom import assert_describes, prop
from tests.fixtures.sbom import repair_json as wheelrepair
from tests.fixtures.wheels import make_wheel

WINPTHREAD = Path("/usr/x86_64-w64-mingw32/lib/libwinpthread-1.dll")
EXT_PTHREAD = (
    "#include <pthread.h>\n"
    "__declspec(dllimport) int a_value(void);\n"
    "__declspec(dllexport) int ext_value(void) { return a_value() + (pthread_self() != 0); }\n"
)


def test_vendored_dlls_are_listed_with_their_hashes(mingw_chain: dict[str, Path], tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "in", {"pkg/__init__.py": b"", "pkg/_ext.pyd": mingw_chain["ext"]},
                       tag="cp311-cp311-win_amd64")
    report = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"),
                         "--lib-path", str(mingw_chain["libA"].parent), "--lib-path", str(mingw_chain["libB"].parent))
    by_file = assert_describes(Path(report["output"]), report)
    assert sorted(c["name"] for c in by_file.values()) == ["libA.dll", "libB.dll"]


@pytest.mark.skipif(not WINPTHREAD.is_file() or shutil.which("dpkg") is None,
                    reason="needs Debian's mingw-w64-x86-64-dev")
def test_a_dll_from_a_debian_package_names_it(mingw_chain: dict[str, Path], tmp_path: Path) -> None:
    ext = build_dll(tmp_path / "ext" / "_ext.pyd", EXT_PTHREAD, links=[mingw_chain["libA"], WINPTHREAD])
    wheel = make_wheel(tmp_path / "in", {"pkg/__init__.py": b"", "pkg/_ext.pyd": ext}, tag="cp311-cp311-win_amd64")
    report = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"),
                         "--lib-path", str(mingw_chain["libA"].parent), "--lib-path", str(mingw_chain["libB"].parent),
                         "--lib-path", str(WINPTHREAD.parent))
    by_file = assert_describes(Path(report["output"]), report)
    (component,) = [c for c in by_file.values() if c["name"].lower() == "libwinpthread-1.dll"]
    owner = subprocess.run(["dpkg", "-S", str(WINPTHREAD)], check=True, capture_output=True, text=True).stdout
    package = owner.split(":")[0]
    assert prop(component, "wheelrepair:package") == package
    assert component["purl"].startswith(f"pkg:deb/debian/{package}@")
    assert all("purl" not in c for c in by_file.values() if c is not component)
