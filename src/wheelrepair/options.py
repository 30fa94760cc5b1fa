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
    jobs: int = 1
    #: Deflate level of members written anew, 0 (stored) to 9; raw-copied members keep theirs.
    zip_compression_level: int = 6
    #: repair: drop identical copies of a library that no binary needs under that name.
    dedupe: bool = False
    #: Where the options came from (a pyproject.toml path), for `show` to report.
    config_file: str | None = None
