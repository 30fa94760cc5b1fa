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
    #: Where the options came from (a pyproject.toml path), for `show` to report.
    config_file: str | None = None
