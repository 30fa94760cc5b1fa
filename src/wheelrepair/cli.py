"""The command line: parse options into RepairOptions, call the API, hand the result to render.

Exit codes: 0 ok, 1 the wheel cannot be made compliant / is not self-contained, 2 bad usage or input.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import click

from . import __version__, interrupt, render
from .cli_patch import patch
from .config import load_options
from .errors import InvalidBinary, UsageError, WheelRepairError, malformed_binary, require_regular_file
from .interrupt import Interrupted
from .options import RepairOptions

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger("wheelrepair")
    logger.handlers[:] = [handler]
    logger.setLevel(level)


class _Group(click.Group):
    """The command group; a SIGINT or SIGTERM ends any command with one line and 128 + signal."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Interrupted as stop:
            render.error(f"interrupted by {stop}; no partial output was left behind")
            sys.exit(stop.exit_code)
        except BrokenPipeError:
            # stdout went away (``wheelrepair show x.whl | head``): stop quietly, as `cat` does.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)


@click.group(cls=_Group, context_settings=_CONTEXT)
@click.version_option(__version__, prog_name="wheelrepair")
@click.option("-v", "--verbose", count=True, help="More detail on stderr (repeat for debug output).")
def main(verbose: int) -> None:
    """Make binary wheels self-contained on Linux, macOS and Windows, from any host."""
    _setup_logging(verbose)
    interrupt.install()


def _wheels_argument(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.argument("wheels", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))(
        func
    )


def _resolution_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--lib-path",
        "lib_path",
        multiple=True,
        metavar="DIR",
        help="Also look for dependencies here (repeatable), before LD_LIBRARY_PATH and the system.",
    )(func)
    func = click.option(
        "--exclude",
        "-e",
        "exclude",
        multiple=True,
        metavar="GLOB",
        help="Leave libraries matching GLOB (needed name or resolved path) external (repeatable).",
    )(func)
    return func


def _json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")(func)


def _run_each(
    wheels: Sequence[Path],
    action: Callable[[Path], dict[str, Any]],
    show: Callable[[dict[str, Any]], None],
    as_json: bool,
    failed: Callable[[dict[str, Any]], bool] = lambda report: False,
) -> None:
    documents: list[dict[str, Any]] = []
    code = 0
    for wheel in wheels:
        try:
            report = action(wheel)
        except WheelRepairError as err:
            render.error(str(err))
            documents.append({"wheel": wheel.name, "error": str(err), "exit_code": err.exit_code})
            code = max(code, err.exit_code)
            continue
        if failed(report):
            code = max(code, 1)
        documents.append(report)
        if not as_json:
            show(report)
    if as_json:
        render.print_json(documents[0] if len(documents) == 1 else documents)
    sys.exit(code)


def _options(**cli: Any) -> RepairOptions:
    try:
        return load_options(cli)
    except WheelRepairError as err:
        render.error(str(err))
        sys.exit(err.exit_code)


@main.command(context_settings=_CONTEXT)
@_wheels_argument
@_resolution_options
@click.option("--plat", metavar="TAG", help="Also explain whether this platform tag can be reached.")
@_json_option
def show(
    wheels: tuple[Path, ...],
    lib_path: tuple[str, ...],
    exclude: tuple[str, ...],
    plat: str | None,
    as_json: bool,
) -> None:
    """Show each binary's dependencies, what repair would do with them, and the best tag."""
    from . import inspect_wheel

    options = _options(lib_path=lib_path, exclude=exclude, plat=plat)
    _run_each(wheels, lambda w: inspect_wheel(w, options), render.show, as_json)


@main.command(context_settings=_CONTEXT)
@_wheels_argument
@click.option(
    "--exclude",
    "-e",
    "exclude",
    multiple=True,
    metavar="GLOB",
    help="Libraries allowed to stay external (repeatable).",
)
@_json_option
def check(wheels: tuple[Path, ...], exclude: tuple[str, ...], as_json: bool) -> None:
    """Exit 1 unless every dependency resolves inside the wheel or to the platform, and the tags hold."""
    from . import check_wheel

    options = _options(exclude=exclude)
    _run_each(wheels, lambda w: check_wheel(w, options), render.check, as_json, lambda r: not r["ok"])


@main.command(context_settings=_CONTEXT)
@_wheels_argument
@click.option(
    "-w",
    "--wheel-dir",
    "wheel_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("wheelhouse"),
    show_default=True,
    help="Directory for the repaired wheels.",
)
@_resolution_options
@click.option("--plat", metavar="TAG", help="Target platform tag (default: the best the wheel can reach).")
@click.option("--only-plat", is_flag=True, help="Write only the target tag, no aliases or other tags.")
@click.option("--lib-sdir", metavar="NAME", help="Directory for vendored libraries (default: <dist>.libs).")
@click.option(
    "--no-mangle",
    "no_mangle",
    multiple=True,
    metavar="GLOB",
    help="Vendor libraries matching GLOB under their original names (repeatable).",
)
@click.option("--strip", is_flag=True, help="Strip symbol tables and debug sections (ELF).")
@click.option("-j", "--jobs", type=int, default=None, help="Repair this many wheels at once.")
@_json_option
def repair(
    wheels: tuple[Path, ...],
    wheel_dir: Path,
    lib_path: tuple[str, ...],
    exclude: tuple[str, ...],
    plat: str | None,
    only_plat: bool,
    lib_sdir: str | None,
    no_mangle: tuple[str, ...],
    strip: bool,
    jobs: int | None,
    as_json: bool,
) -> None:
    """Copy the libraries each wheel needs into it, point its binaries at them, and retag it."""
    options = _options(
        lib_path=lib_path,
        exclude=exclude,
        plat=plat,
        only_plat=only_plat,
        lib_sdir=lib_sdir,
        no_mangle=no_mangle,
        strip=strip,
        jobs=jobs,
    )
    if options.jobs > 1 and len(wheels) > 1:
        pool = ProcessPoolExecutor(max_workers=options.jobs, initializer=interrupt.install_worker)
        try:
            outcomes = list(pool.map(_repair_one, wheels, [wheel_dir] * len(wheels), [options] * len(wheels)))
        except Interrupted:
            _stop_workers(pool)
            raise
        except BrokenProcessPool:
            _stop_workers(pool)
            render.error(
                "a -j worker process died (out of memory or killed?); run with -j 1 to see which wheel"
            )
            sys.exit(1)
        pool.shutdown()
        results = dict(zip(wheels, outcomes))
        _run_each(wheels, lambda w: _unwrap(results[w]), render.repair, as_json)
    else:
        _run_each(wheels, lambda w: _unwrap(_repair_one(w, wheel_dir, options)), render.repair, as_json)


def _repair_one(wheel: Path, wheel_dir: Path, options: RepairOptions) -> dict[str, Any] | WheelRepairError:
    """Runs in a worker process for -j: errors travel back as values."""
    from . import repair_wheel

    try:
        with interrupt.task():
            return repair_wheel(wheel, wheel_dir, options)
    except WheelRepairError as err:
        return err


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Stop -j workers at once: each was forked with our signal handlers, so SIGTERM makes it
    unwind and remove its temporary files before it exits; wait for that."""
    # The executor offers no public way to stop running tasks before Python 3.14.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=30)


def _unwrap(outcome: dict[str, Any] | WheelRepairError) -> dict[str, Any]:
    if isinstance(outcome, WheelRepairError):
        raise outcome
    return outcome


@main.command(context_settings=_CONTEXT)
@click.argument("binary", type=click.Path(dir_okay=False, path_type=Path))
@_json_option
def needed(binary: Path, as_json: bool) -> None:
    """Print the direct dependencies of one binary file (ELF, Mach-O or PE)."""
    from .formats import backend_for

    try:
        require_regular_file(binary)
        try:
            data = binary.read_bytes()
        except OSError as err:
            raise UsageError(f"cannot read: {err.strerror}", subject=str(binary)) from None
        backend = backend_for(data[:64])
        if backend is None:
            raise InvalidBinary("not an ELF, Mach-O or PE file", subject=str(binary))
        with malformed_binary(str(binary)):
            parsed = backend.read(data, str(binary))
    except WheelRepairError as err:
        render.error(str(err))
        sys.exit(err.exit_code)
    document = {
        "file": str(binary),
        "format": parsed.format,
        "arch": parsed.arch,
        "soname": parsed.soname,
        "needed": list(parsed.needed),
        "weak": sorted(parsed.weak),
        "rpath": list(parsed.rpaths),
        "runpath": list(parsed.runpaths),
        "min_os": ".".join(map(str, parsed.min_os)) if parsed.min_os else None,
    }
    if as_json:
        render.print_json(document)
    else:
        render.needed(document)


@main.command(context_settings=_CONTEXT)
@click.option(
    "--platform",
    "platform_name",
    type=click.Choice(["linux", "macos", "windows"]),
    help="Only this platform family.",
)
@_json_option
def policies(platform_name: str | None, as_json: bool) -> None:
    """List the platform policies (tags) wheelrepair knows."""
    from .policy import platform_named

    rows: list[dict[str, Any]] = []
    for name in [platform_name] if platform_name else ["linux", "macos", "windows"]:
        family = platform_named(name)
        rows += [
            {"tag": p.tag, "aliases": list(p.aliases), "platform": p.platform, "summary": p.summary}
            for p in family.policies()
        ]
    if as_json:
        render.print_json(rows)
    else:
        render.policies(rows)


main.add_command(patch)
