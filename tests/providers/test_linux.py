"""Linux: extensions built against real provider wheels from PyPI (the CUDA runtime, OpenBLAS) are
repaired to link to the provider's installed copy, and run from a fresh venv with the provider in it."""

from __future__ import annotations

import json
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import wheelrepair as wheelrepair_package
from tests.fixtures.providers import CASES, WINDOWS, Consumer, ProviderCase, provider_wheel
from tests.fixtures.venv import fresh_venv, install, site_packages

pytestmark = pytest.mark.network

PROBE = """
import json, demo._ext as e
maps = [line.split()[-1] for line in open('/proc/self/maps') if {library!r} in line]
print(json.dumps({{"value": e.value(), "maps": sorted(set(maps))}}))
"""


def wheelrepair(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wheelrepair", *args], capture_output=True, text=True, timeout=600)


def runpath(path: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(path)], check=True, capture_output=True, text=True).stdout
    return [line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(RUNPATH)" in line or "(RPATH)" in line]


@pytest.fixture(scope="module", params=sorted(CASES))
def consumer(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Consumer:
    case = CASES[request.param]
    return Consumer(case, tmp_path_factory.mktemp(f"consumer-{case.key}"), (f"{case.name}",))


def expected_value(case: ProviderCase, provider: Path) -> list[int]:
    if case.key == "openblas":
        return [0, 1 * 4 + 2 * 5 + 3 * 6]
    # cudaRuntimeGetVersion needs no driver: cudaSuccess and 1000 * major + 10 * minor of the runtime.
    major, minor = provider.name.split("-")[1].split(".")[:2]
    return [0, 1000 * int(major) + 10 * int(minor)]


def test_repair_links_the_provider_and_runs_from_a_fresh_venv(consumer: Consumer, tmp_path: Path) -> None:
    case = consumer.case
    result = wheelrepair("repair", str(consumer.wheel), "-w", str(tmp_path / "out"),
                         "--provider", str(consumer.provider), "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["vendored"] == []
    include, libdir, library = case.linux
    assert report["provided"] == [{"name": library, "provider": case.name, "path": f"{libdir}/{library}"}]
    repaired = Path(report["output"])
    with zipfile.ZipFile(repaired) as zf:
        names = zf.namelist()
        metadata = zf.read("demo-1.0.dist-info/METADATA").decode()
        ext = tmp_path / "_ext.so"
        ext.write_bytes(zf.read("demo/_ext.cpython-311-x86_64-linux-gnu.so"))
    assert not [n for n in names if ".libs/" in n], names
    assert f"Requires-Dist: {case.name}" in metadata
    # One relative search path, to the provider's directory as installed beside the package.
    assert runpath(ext) == [f"$ORIGIN/../{libdir}"]

    python = fresh_venv(tmp_path / "venv")
    install(python, repaired)
    install(python, consumer.provider)
    probe = subprocess.run([str(python), "-c", PROBE.format(library=library)], capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    loaded = json.loads(probe.stdout)
    assert loaded["value"] == expected_value(case, consumer.provider)
    assert loaded["maps"] == [str(site_packages(python) / libdir / library)]

    bare = fresh_venv(tmp_path / "bare")
    install(bare, repaired)
    failed = subprocess.run([str(bare), "-c", "import demo._ext"], capture_output=True, text=True)
    assert failed.returncode == 1, failed.stderr  # an ImportError, not a crash
    assert "ImportError" in failed.stderr and library in failed.stderr


def test_show_and_check_name_the_provider(consumer: Consumer, tmp_path: Path) -> None:
    case = consumer.case
    _, libdir, library = case.linux
    shown = json.loads(wheelrepair("show", str(consumer.wheel), "--provider", str(consumer.provider), "--json").stdout)
    [entry] = [e for e in shown["external"] if e["name"] == library]
    version = consumer.provider.name.split("-")[1]
    assert (entry["action"], entry["provider"], entry["provider_version"]) == ("provided", case.name, version)
    assert entry["path"] == f"{libdir}/{library}"

    # Unrepaired, the extension's search path names the build tree: check says so.
    unrepaired = wheelrepair("check", str(consumer.wheel), "--provider", str(consumer.provider))
    assert unrepaired.returncode == 1
    assert "does not reach it" in unrepaired.stdout and case.name in unrepaired.stdout

    out = tmp_path / "out"
    assert wheelrepair("repair", str(consumer.wheel), "-w", str(out), "--provider", str(consumer.provider)).returncode == 0
    [repaired] = out.glob("*.whl")
    ok = wheelrepair("check", str(repaired), "--provider", str(consumer.provider))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    alone = wheelrepair("check", str(repaired))
    assert alone.returncode == 1 and library in alone.stdout


def test_provider_installed_in_a_site_packages(consumer: Consumer, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "providers")
    install(python, consumer.provider)
    site = site_packages(python)
    result = wheelrepair("show", str(consumer.wheel), "--json",
                         "--provider", consumer.case.name, "--provider-path", str(site))  # fmt: skip
    assert result.returncode == 0, result.stderr
    actions = {e["name"]: (e["action"], e.get("provider")) for e in json.loads(result.stdout)["external"]}
    assert actions[consumer.case.linux[2]] == ("provided", consumer.case.name)
    unknown = wheelrepair("show", str(consumer.wheel), "--provider", "no-such-dist", "--provider-path", str(site))
    assert unknown.returncode == 2
    assert unknown.stderr.count("\n") == 1 and "no-such-dist" in unknown.stderr


@pytest.fixture(scope="module")
def undeclared(tmp_path_factory: pytest.TempPathFactory) -> Consumer:
    return Consumer(CASES["cuda"], tmp_path_factory.mktemp("undeclared"), ())


def test_an_undeclared_provider_is_refused_or_added(undeclared: Consumer, tmp_path: Path) -> None:
    refused = wheelrepair("repair", str(undeclared.wheel), "-w", str(tmp_path / "a"), "--provider", str(undeclared.provider))
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1
    assert "no Requires-Dist on nvidia-cuda-runtime-cu12" in refused.stderr
    assert not (tmp_path / "a").exists() or not list((tmp_path / "a").glob("*.whl"))

    added = wheelrepair("repair", str(undeclared.wheel), "-w", str(tmp_path / "b"), "--json",
                        "--provider", str(undeclared.provider), "--add-requires")  # fmt: skip
    assert added.returncode == 0, added.stderr
    report = json.loads(added.stdout)
    [line] = report["added_requires"]
    with zipfile.ZipFile(report["output"]) as zf:
        metadata = zf.read("demo-1.0.dist-info/METADATA").decode()
    assert f"Requires-Dist: {line}\n" in metadata
    requirement = Requirement(line)
    # The provider's version and its CUDA 12 successors qualify; CUDA 13 renames libcudart.so.12.
    assert requirement.specifier.contains("12.9.79") and requirement.specifier.contains("12.10.1")
    assert not requirement.specifier.contains("13.0.48") and not requirement.specifier.contains("12.8.90")


def test_a_requirement_that_excludes_the_provider_is_an_error(tmp_path: Path) -> None:
    consumer = Consumer(CASES["cuda"], tmp_path / "c", ("nvidia-cuda-runtime-cu12<12.5",))
    result = wheelrepair("repair", str(consumer.wheel), "-w", str(tmp_path / "out"), "--provider", str(consumer.provider))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "nvidia-cuda-runtime-cu12<12.5" in result.stderr and "12.9.79" in result.stderr


def test_a_provider_for_another_platform_is_a_usage_error(consumer: Consumer) -> None:
    windows = provider_wheel(consumer.case, WINDOWS)
    result = wheelrepair("show", str(consumer.wheel), "--provider", str(windows))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "holds windows binaries, but the wheel is for linux" in result.stderr


def test_provider_installed_in_the_running_environment(consumer: Consumer, tmp_path: Path) -> None:
    """--provider NAME without --provider-path: the environment wheelrepair runs in."""
    python = fresh_venv(tmp_path / "env")
    # wheelrepair and its dependencies, as this interpreter has them (a venv made with
    # --system-site-packages from inside a venv would see the base interpreter's packages instead).
    parent = {str(Path(wheelrepair_package.__file__).resolve().parent.parent), *site.getsitepackages()}
    (site_packages(python) / "_wheelrepair_under_test.pth").write_text("\n".join(sorted(parent)) + "\n")
    install(python, consumer.provider)
    result = subprocess.run([str(python), "-m", "wheelrepair", "show", str(consumer.wheel), "--json",
                             "--provider", consumer.case.name], capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    [provider] = shown["providers"]
    assert provider["name"] == consumer.case.name and provider["source"].startswith(str(site_packages(python)))
    actions = {e["name"]: e["action"] for e in shown["external"]}
    assert actions[consumer.case.linux[2]] == "provided"
