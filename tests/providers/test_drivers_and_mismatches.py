"""Driver libraries always stay external; a provider's library that cannot serve a binary (another
architecture, missing symbol versions) is not used, and the user is told why."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.pe_build import build_dll, have, have_zig
from tests.fixtures.providers import CASES, LINUX, build_stub_library, build_user, provider_wheel
from tests.fixtures.wheels import make_wheel


def wheelrepair(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True, timeout=600)


def needed(path: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(path)], check=True, capture_output=True, text=True).stdout
    return [line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]


@pytest.fixture(scope="module")
def driver_user(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(wheel, stub dir): a library calling cuInit from libcuda.so.1 and eglGetDisplay from
    libEGL.so.1, built against stub copies of both that sit in the stub dir."""
    root = tmp_path_factory.mktemp("drivers")
    stubs = root / "stubs"
    cuda = build_stub_library(stubs / "libcuda.so.1", "libcuda.so.1", ["cuInit"])
    egl = build_stub_library(stubs / "libEGL.so.1", "libEGL.so.1", ["eglGetDisplay"])
    user = build_user(root / "build" / "_gpu.so", ["cuInit", "eglGetDisplay"], [cuda, egl])
    wheel = make_wheel(root / "dist", {"gpu/__init__.py": b"", "gpu/_gpu.cpython-311-x86_64-linux-gnu.so": user.read_bytes()})
    return wheel, stubs


@pytest.mark.parametrize("with_copies", [False, True], ids=["no-copy", "copy-on-lib-path"])
def test_driver_libraries_stay_external(driver_user: tuple[Path, Path], tmp_path: Path, with_copies: bool) -> None:
    wheel, stubs = driver_user
    extra = ["--lib-path", str(stubs)] if with_copies else []
    result = wheelrepair("repair", str(wheel), "-w", str(tmp_path), "--json", *extra)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["vendored"] == []
    drivers = {d["name"]: d["note"] for d in report["drivers"]}
    assert set(drivers) == {"libcuda.so.1", "libEGL.so.1"}
    assert "CUDA driver" in drivers["libcuda.so.1"] and "glvnd" in drivers["libEGL.so.1"]
    with zipfile.ZipFile(report["output"]) as zf:
        assert not [n for n in zf.namelist() if ".libs/" in n]
        ext = tmp_path / "_gpu.so"
        ext.write_bytes(zf.read("gpu/_gpu.cpython-311-x86_64-linux-gnu.so"))
    assert needed(ext)[:2] == ["libcuda.so.1", "libEGL.so.1"]
    human = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "again"), *extra)
    assert human.returncode == 0, human.stderr
    notes = [line for line in human.stdout.splitlines() if line.strip().startswith("driver ")]
    assert len(notes) == 2 and all("left external" in line for line in notes), human.stdout
    assert wheelrepair("check", report["output"]).returncode == 0


def test_show_marks_driver_libraries(driver_user: tuple[Path, Path]) -> None:
    wheel, stubs = driver_user
    shown = json.loads(wheelrepair("show", str(wheel), "--lib-path", str(stubs), "--json").stdout)
    actions = {e["name"]: (e["action"], e["path"]) for e in shown["external"]}
    assert {k: v for k, v in actions.items() if k != "libc.so.6"} == {
        "libcuda.so.1": ("driver", None),
        "libEGL.so.1": ("driver", None),
    }


@pytest.mark.network
def test_a_provider_library_missing_a_symbol_version_is_not_used(tmp_path: Path) -> None:
    """The binary was linked against a libcudart.so.12 defining version libcudart.so.99; the
    provider's defines only libcudart.so.12, so glibc would refuse it: the copy on --lib-path is
    vendored instead, and the note says why the provider's was passed over."""
    provider = provider_wheel(CASES["cuda"], LINUX)
    stub = build_stub_library(tmp_path / "stub" / "libcudart.so.12", "libcudart.so.12", ["cudaRuntimeGetVersion"],
                              version="libcudart.so.99")  # fmt: skip
    user = build_user(tmp_path / "build" / "_ext.so", ["cudaRuntimeGetVersion"], [stub])
    wheel = make_wheel(tmp_path / "dist", {"demo/__init__.py": b"", "demo/_ext.so": user.read_bytes()},
                       requires=("nvidia-cuda-runtime-cu12",))  # fmt: skip
    shown = json.loads(wheelrepair("show", str(wheel), "--provider", str(provider), "--lib-path", str(stub.parent),
                                   "--json").stdout)  # fmt: skip
    [edge] = [e for e in shown["edges"] if e["name"] == "libcudart.so.12"]
    assert edge["action"] == "vendor"
    assert "lacks symbol version libcudart.so.99" in edge["note"] and "nvidia-cuda-runtime-cu12" in edge["note"]
    missing = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"), "--provider", str(provider))
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert "lacks symbol version libcudart.so.99" in missing.stderr


@pytest.mark.network
@pytest.mark.skipif(not have_zig(), reason="needs python -m ziglang")
def test_a_provider_library_of_another_architecture_is_not_used(tmp_path: Path) -> None:
    provider = provider_wheel(CASES["cuda"], LINUX)
    zig = [sys.executable, "-m", "ziglang", "cc", "-target", "aarch64-linux-gnu"]
    stub = build_stub_library(tmp_path / "stub" / "libcudart.so.12", "libcudart.so.12", ["cudaRuntimeGetVersion"], cc=zig)
    user = build_user(tmp_path / "build" / "_ext.so", ["cudaRuntimeGetVersion"], [stub], cc=zig)
    wheel = make_wheel(tmp_path / "dist", {"demo/__init__.py": b"", "demo/_ext.so": user.read_bytes()},
                       tag="cp311-cp311-linux_aarch64", requires=("nvidia-cuda-runtime-cu12",))  # fmt: skip
    result = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"), "--provider", str(provider))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "libcudart.so.12" in result.stderr and "it is x86_64, the binary needs aarch64" in result.stderr


@pytest.mark.skipif(not have("x86_64-w64-mingw32-gcc"), reason="needs mingw-w64")
def test_windows_driver_dlls_stay_external(tmp_path: Path) -> None:
    """nvcuda.dll and vulkan-1.dll (stubs built here, on --lib-path) are never vendored, and the
    loader patch is not written for them."""
    nvcuda = build_dll(tmp_path / "stubs" / "nvcuda.dll", "__declspec(dllexport) int cuInit(void) { return 0; }\n")
    vulkan = build_dll(tmp_path / "stubs" / "vulkan-1.dll", "__declspec(dllexport) int vkGetInstanceProcAddr(void) { return 0; }\n")
    source = "int cuInit(void); int vkGetInstanceProcAddr(void);\n__declspec(dllexport) int f(void) { return cuInit() + vkGetInstanceProcAddr(); }\n"
    ext = build_dll(tmp_path / "build" / "_gpu.pyd", source, links=[nvcuda, vulkan])
    wheel = make_wheel(tmp_path / "dist", {"gpu/__init__.py": b"", "gpu/_gpu.pyd": ext.read_bytes()}, tag="cp38-abi3-win_amd64")
    result = wheelrepair("repair", str(wheel), "-w", str(tmp_path / "out"), "--lib-path", str(nvcuda.parent), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["vendored"] == []
    assert sorted(d["name"] for d in report["drivers"]) == ["nvcuda.dll", "vulkan-1.dll"]
    with zipfile.ZipFile(report["output"]) as zf:
        assert zf.read("gpu/__init__.py") == b""


def test_a_provider_copy_of_a_platform_library_is_not_taken(tmp_path: Path) -> None:
    """A provider that happens to ship libz.so.1 (which every manylinux system provides) does not
    make a wheel depend on it; its other library is provided."""
    libz = Path("/lib/x86_64-linux-gnu/libz.so.1")
    if not libz.exists():
        pytest.skip("needs the system's libz.so.1")
    other = build_stub_library(tmp_path / "prov" / "libother.so.1", "libother.so.1", ["other_value"])
    provider = make_wheel(tmp_path / "providers", {"prov/lib/libz.so.1": libz.read_bytes(),
                          "prov/lib/libother.so.1": other.read_bytes()}, name="prov", tag="py3-none-manylinux_2_17_x86_64")  # fmt: skip
    user = build_user(tmp_path / "build" / "_ext.so", ["other_value", "zlibVersion"], [other, libz])
    wheel = make_wheel(tmp_path / "dist", {"demo/__init__.py": b"", "demo/_ext.so": user.read_bytes()}, requires=("prov",))
    shown = json.loads(wheelrepair("show", str(wheel), "--provider", str(provider), "--json").stdout)
    actions = {e["name"]: (e["action"], e.get("provider")) for e in shown["external"]}
    assert actions["libz.so.1"] == ("system", None)
    assert actions["libother.so.1"] == ("provided", "prov")
