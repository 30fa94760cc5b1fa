"""The METADATA side of providers (Requires-Dist), the driver list in the policy data, and the
provider options in [tool.wheelrepair]."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.fixtures.providers import CASES, LINUX, Consumer, provider_wheel
from wheelrepair.policy.drivers import DRIVERS, driver_reason
from wheelrepair.wheel.requires import add_requirement, compatible_requirement, requirement_problem

METADATA = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Dist: numpy>=1.21\nRequires-Dist: rich;\n extra == 'cli'\n\nLong description.\nRequires-Dist: not-a-header\n"


def test_added_requirement_goes_after_the_last_one_and_the_body_is_untouched() -> None:
    out = add_requirement(METADATA, "scipy-openblas32>=0.3.34,<0.4")
    head, _, body = out.partition(b"\n\n")
    assert head.splitlines()[-1] == b"Requires-Dist: scipy-openblas32>=0.3.34,<0.4"
    assert body == METADATA.partition(b"\n\n")[2]
    crlf = add_requirement(METADATA.replace(b"\n", b"\r\n"), "x>=1")
    assert b"Requires-Dist: x>=1\r\n\r\nLong description." in crlf
    bare = add_requirement(b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0", "x>=1")
    assert bare == b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Dist: x>=1\n"


@pytest.mark.parametrize(
    ("version", "inside", "outside"),
    [("12.9.79", ["12.9.79", "12.9.0", "12.99"], ["13.0.0", "12.8.99"]),
     ("0.3.34.481.3", ["0.3.34.481.3", "0.3.40"], ["0.4.0", "0.3.33.1", "1.0"])],
)  # fmt: skip
def test_the_added_requirement_keeps_library_names(version: str, inside: list[str], outside: list[str]) -> None:
    requirement = Requirement(compatible_requirement("prov", version))
    assert all(requirement.specifier.contains(v) for v in inside)
    assert not any(requirement.specifier.contains(v) for v in outside)


def test_requirement_problems_read_the_metadata() -> None:
    text = METADATA.decode()
    assert requirement_problem(text, "NumPy", "1.26.4") is None
    assert requirement_problem(text, "numpy", "1.20") is not None and "numpy>=1.21" in str(
        requirement_problem(text, "numpy", "1.20")
    )
    assert requirement_problem(text, "scipy-openblas32", "0.3.34") == "missing"
    assert requirement_problem(text, "rich", "13.0") is None  # declared (for an extra) counts


@pytest.mark.parametrize(
    ("platform", "name"),
    [("linux", "libcuda.so.1"), ("linux", "libnvidia-ml.so.1"), ("linux", "libEGL.so.1"), ("linux", "libGLX.so.0"),
     ("linux", "libGLdispatch.so.0"), ("linux", "libOpenGL.so.0"), ("linux", "libGL.so.1"), ("linux", "libvulkan.so.1"),
     ("linux", "libOpenCL.so.1"), ("linux", "libEGL_nvidia.so.0"), ("windows", "NVCUDA.DLL"),
     ("windows", "OpenCL.dll"), ("windows", "vulkan-1.dll"), ("windows", "nvml.dll"),
     ("macos", "@rpath/libvulkan.1.dylib")],
)  # fmt: skip
def test_driver_libraries(platform: str, name: str) -> None:
    assert (driver_reason(platform, name) or "").startswith("driver library, left external: ")


@pytest.mark.parametrize(
    ("platform", "name"),
    [("linux", "libcudart.so.12"), ("linux", "libGLU.so.1"), ("linux", "libglut.so.3"), ("linux", "libcublas.so.12"),
     ("windows", "cudart64_12.dll"), ("macos", "libcuda_helper.dylib")],
)  # fmt: skip
def test_libraries_that_are_not_drivers(platform: str, name: str) -> None:
    assert driver_reason(platform, name) is None


def test_every_driver_entry_says_why() -> None:
    for entries in DRIVERS.values():
        for pattern, reason in entries:
            assert pattern and len(reason) > 20


@pytest.mark.network
def test_pyproject_names_providers_relative_to_the_project(tmp_path: Path) -> None:
    consumer = Consumer(CASES["cuda"], tmp_path / "c", ("nvidia-cuda-runtime-cu12",))
    project = tmp_path / "project"
    (project / "wheels").mkdir(parents=True)
    local = project / "wheels" / consumer.provider.name
    local.write_bytes(provider_wheel(CASES["cuda"], LINUX).read_bytes())
    (project / "pyproject.toml").write_text(f'[tool.wheelrepair]\nprovider = ["wheels/{local.name}"]\n')
    run = [sys.executable, "-m", "wheelrepair", "show", str(consumer.wheel), "--json"]
    shown = json.loads(subprocess.run(run, capture_output=True, text=True, cwd=project, check=True).stdout)
    assert [p["source"] for p in shown["providers"]] == [str(local)]
    assert {e["name"]: e["action"] for e in shown["external"]}["libcudart.so.12"] == "provided"
    env = {**os.environ, "WHEELREPAIR_PROVIDER": str(local)}
    shown = json.loads(subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, env=env, check=True).stdout)
    assert {e["name"]: e["action"] for e in shown["external"]}["libcudart.so.12"] == "provided"
