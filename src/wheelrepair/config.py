"""One merged RepairOptions from, lowest first: defaults, ``[tool.wheelrepair]`` in the current
directory's pyproject.toml, ``WHEELREPAIR_*`` environment variables, and the command line."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from .errors import UsageError
from .options import RepairOptions

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_LISTS = {"exclude", "lib_path", "no_mangle", "include", "namespace_pkg"}
_BOOLS = {"strip", "only_plat", "disable_isa_ext_check", "dedupe"}
_INTS = {"jobs", "zip_compression_level"}
_KNOWN = {f.name for f in fields(RepairOptions)} - {"config_file"}
# Providers (libraries other wheels ship): lists and a flag like the options above.
_LISTS |= {"provider", "provider_path"}
_BOOLS |= {"add_requires"}
#: Lists whose entries are paths, relative to the project in pyproject.toml.
_PATH_LISTS = {"lib_path", "provider_path"}


def load_options(
    cli: Mapping[str, Any], cwd: Path | None = None, environ: Mapping[str, str] | None = None
) -> RepairOptions:
    """Merge the sources; ``cli`` holds only the options the user actually gave (None/empty = unset)."""
    cwd = cwd or Path.cwd()
    environ = os.environ if environ is None else environ
    options = RepairOptions()
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        table = _tool_table(pyproject)
        if table is not None:
            options = replace(options, **_from_table(table, pyproject), config_file=str(pyproject))
    options = replace(options, **_from_environ(environ))
    given: dict[str, Any] = {
        k: tuple(v) if k in _LISTS else v
        for k, v in cli.items()
        # `v is False`, not `v == False`: a level of 0 is a value, not an unset flag.
        if k in _KNOWN and v is not None and v is not False and v not in ((), [])
    }
    options = replace(options, **given)
    if options.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {options.jobs}")
    if not 0 <= options.zip_compression_level <= 9:
        raise UsageError(
            f"--zip-compression-level must be 0 (stored) to 9, not {options.zip_compression_level}"
        )
    return options


def _tool_table(path: Path) -> Mapping[str, Any] | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise UsageError(f"cannot read [tool.wheelrepair]: {err}", subject=str(path)) from None
    table = data.get("tool", {}).get("wheelrepair")
    if table is not None and not isinstance(table, dict):
        raise UsageError("[tool.wheelrepair] must be a table", subject=str(path))
    return table


def _from_table(table: Mapping[str, Any], path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        if key not in _KNOWN:
            raise UsageError(f"unknown option {raw_key!r} in [tool.wheelrepair]", subject=str(path))
        if key in _LISTS:
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise UsageError(f"{raw_key} must be a string or a list of strings", subject=str(path))
            if key in _PATH_LISTS:  # relative to the project, not to wherever the command runs
                items = [str((path.parent / i).resolve()) for i in items]
            elif key == "provider":  # a wheel file is relative to the project; a name stays a name
                items = [_project_file(path.parent, i) for i in items]
            out[key] = tuple(items)
        elif key in _BOOLS:
            if not isinstance(value, bool):
                raise UsageError(f"{raw_key} must be true or false", subject=str(path))
            out[key] = value
        elif key in _INTS:
            if not isinstance(value, int) or isinstance(value, bool):
                raise UsageError(f"{raw_key} must be a whole number", subject=str(path))
            out[key] = value
        else:
            if not isinstance(value, str):
                raise UsageError(f"{raw_key} must be a string", subject=str(path))
            out[key] = value
    return out


def _project_file(project: Path, item: str) -> str:
    candidate = project / item
    return str(candidate.resolve()) if item.endswith(".whl") or candidate.is_file() else item


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in sorted(_KNOWN):
        value = environ.get(f"WHEELREPAIR_{key.upper()}")
        if value is None or value == "":
            continue
        if key in _PATH_LISTS:
            out[key] = tuple(p for p in value.split(os.pathsep) if p)
        elif key in _LISTS:
            out[key] = tuple(p for p in re.split(r"[,\s]+", value) if p)
        elif key in _BOOLS:
            lowered = value.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise UsageError(f"WHEELREPAIR_{key.upper()}={value!r} is not a boolean")
            out[key] = lowered in {"1", "true", "yes", "on"}
        elif key in _INTS:
            try:
                out[key] = int(value)
            except ValueError:
                raise UsageError(f"WHEELREPAIR_{key.upper()}={value!r} is not a whole number") from None
        else:
            out[key] = value
    # The variable build backends and cibuildwheel set, honoured as delocate 0.12+ does.
    target = environ.get("MACOSX_DEPLOYMENT_TARGET")
    if target and "deployment_target" not in out:
        out["deployment_target"] = target
    return out
