"""RepairOptions: every knob of show/check/repair, merged from pyproject, environment and CLI."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RepairOptions:
    plat: str | None = None
    only_plat: bool = False
    exclude: tuple[str, ...] = ()
    lib_path: tuple[str, ...] = ()
    lib_sdir: str | None = None  # default: "<distribution>.libs"
    no_mangle: tuple[str, ...] = ()
    strip: bool = False
    #: Libraries to vendor although no binary links them (delvewheel's --include / --add-dll).
    include: tuple[str, ...] = ()
    #: Packages (dotted names) whose __init__.py only declares a namespace (delvewheel's
    #: --namespace-pkg); pkgutil- and pkg_resources-style declarations are recognised without it.
    namespace_pkg: tuple[str, ...] = ()
    jobs: int = 1
    #: macOS: MACOSX_DEPLOYMENT_TARGET, the oldest release the repaired wheel must support.
    deployment_target: str | None = None
    #: macOS: ``--require-archs`` (``intel``, ``universal2`` or a comma-separated list).
    require_archs: str | None = None
    #: Linux: ignore the x86-64 ISA level binaries ask for (auditwheel's --disable-isa-ext-check).
    disable_isa_ext_check: bool = False
    #: Wheels or installed distributions whose libraries the wheel links to instead of vendoring.
    provider: tuple[str, ...] = ()
    #: site-packages directories to find --provider distributions in (instead of the running one).
    provider_path: tuple[str, ...] = ()
    #: Add a Requires-Dist on each provider the wheel links to that its METADATA does not declare.
    add_requires: bool = False
    #: Deflate level of members written anew, 0 (stored) to 9; raw-copied members keep theirs.
    zip_compression_level: int = 6
    #: repair: drop identical copies of a library that no binary needs under that name.
    dedupe: bool = False
    #: Where the options came from (a pyproject.toml path), for `show` to report.
    config_file: str | None = None
