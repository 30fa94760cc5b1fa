"""The command line: parse options into RepairOptions, call the API, hand the result to render.

Exit codes: 0 ok, 1 the wheel cannot be made compliant / is not self-contained, 2 bad usage or input.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

from . import __version__, interrupt, progress, render
from .cli_patch import patch
from .config import load_options
from .errors import InvalidBinary, UsageError, WheelRepairError, malformed_binary, require_regular_file
from .interrupt import Interrupted
from .options import RepairOptions

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _verbose_after_command(ctx: click.Context, param: click.Parameter, value: int) -> None:
    """``-v`` given after the subcommand (cibuildwheel's delocate and delvewheel strings put it
    there) adds to any given before it."""
    if value:
        _setup_logging(value + int(ctx.find_root().params.get("verbose") or 0))


def _verbose_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        callback=_verbose_after_command,
        help="More detail on stderr (repeat for debug output).",
    )(func)


def _split_names(values: Sequence[str]) -> tuple[str, ...]:
    """delvewheel's DLL lists (--include, --no-dll, --exclude, --no-mangle): each value may hold
    several names or globs, split at ';' or os.pathsep, which no library name holds."""
    return tuple(n.strip() for v in values for n in re.split(rf"[;{re.escape(os.pathsep)}]", v) if n.strip())


def _split_paths(values: Sequence[str]) -> tuple[str, ...]:
    """delvewheel's --add-path: each value is an os.pathsep-separated list of directories."""
    return tuple(p.strip() for v in values for p in v.split(os.pathsep) if p.strip())


def _delvewheel_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """delvewheel's spellings, so its users' commands keep working: --add-path (= --lib-path),
    --no-dll (= --exclude) and --include/--add-dll; and auditwheel's --ldpaths (= --add-path)."""
    func = click.option(
        "--include",
        "--add-dll",
        "include",
        multiple=True,
        metavar="NAME",
        help="Vendor this library although no binary links it (one the package dlopens/LoadLibrary's; "
        "';'-separated lists accepted, repeatable).",
    )(func)
    func = click.option(
        "--no-dll",
        "no_dll",
        multiple=True,
        metavar="NAMES",
        help="delvewheel's --no-dll: like --exclude, ';'-separated lists accepted.",
    )(func)
    func = click.option(
        "--add-path",
        "--ldpaths",
        "add_path",
        multiple=True,
        metavar="PATHS",
        help=f"delvewheel's --add-path and auditwheel's --ldpaths: like --lib-path, {os.pathsep!r}-separated "
        "lists accepted.",
    )(func)
    return func


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
        help="Also look for dependencies here (repeatable): right after LD_LIBRARY_PATH or "
        "DYLD_LIBRARY_PATH, before the system.",
    )(func)
    func = click.option(
        "--exclude",
        "-e",
        "exclude",
        multiple=True,
        metavar="GLOB",
        help="Leave libraries matching GLOB (needed name or resolved path) external (repeatable). "
        "Driver libraries (libcuda, libEGL, vulkan-1.dll...) always stay external.",
    )(func)
    return func


def _provider_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--provider-path",
        "provider_path",
        multiple=True,
        metavar="DIR",
        help="Find --provider distributions installed in this site-packages (repeatable).",
    )(func)
    func = click.option(
        "--provider",
        "provider",
        multiple=True,
        metavar="SPEC",
        help="A wheel file or installed distribution whose libraries the wheel links to instead of "
        "vendoring them (repeatable).",
    )(func)
    return func


def _isa_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--disable-isa-ext-check",
        "disable_isa_ext_check",
        is_flag=True,
        default=None,
        help="Linux: do not rule tags out for x86-64-v2/v3/v4 instructions the binaries ask for.",
    )(func)


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
    # Progress goes to a terminal only, and never into --json runs (their stderr is often captured too).
    show_progress = not as_json and sys.stderr.isatty()
    for wheel in wheels:
        try:
            if show_progress:
                with progress.reporting(render.ProgressBars()):
                    report = action(wheel)
            else:
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
@_delvewheel_options
@click.option("--plat", metavar="TAG", help="Also explain whether this platform tag can be reached.")
@_isa_option
@_provider_options
@_json_option
@_verbose_option
def show(
    wheels: tuple[Path, ...],
    lib_path: tuple[str, ...],
    exclude: tuple[str, ...],
    add_path: tuple[str, ...],
    no_dll: tuple[str, ...],
    include: tuple[str, ...],
    plat: str | None,
    disable_isa_ext_check: bool | None,
    as_json: bool,
    provider: tuple[str, ...] = (),
    provider_path: tuple[str, ...] = (),
) -> None:
    """Show each binary's dependencies, what repair would do with them, and the best tag."""
    from . import inspect_wheel

    options = _options(
        lib_path=lib_path + _split_paths(add_path),
        exclude=_split_names(exclude + no_dll),
        include=_split_names(include),
        plat=plat,
        disable_isa_ext_check=disable_isa_ext_check,
        provider=provider,
        provider_path=provider_path,
    )
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
@click.option(
    "--no-dll", "no_dll", multiple=True, metavar="NAMES", help="delvewheel's spelling of --exclude."
)
@_isa_option
@_provider_options
@_json_option
@_verbose_option
def check(
    wheels: tuple[Path, ...],
    exclude: tuple[str, ...],
    no_dll: tuple[str, ...],
    disable_isa_ext_check: bool | None,
    as_json: bool,
    provider: tuple[str, ...] = (),
    provider_path: tuple[str, ...] = (),
) -> None:
    """Exit 1 unless every dependency resolves inside the wheel, its providers or the platform, and
    the tags hold."""
    from . import check_wheel

    options = _options(
        exclude=_split_names(exclude + no_dll),
        disable_isa_ext_check=disable_isa_ext_check,
        provider=provider,
        provider_path=provider_path,
    )
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
@_delvewheel_options
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
@click.option(
    "--namespace-pkg",
    "namespace_pkg",
    multiple=True,
    metavar="PKGS",
    help="Treat these packages (dotted, ';'-separated) as namespace packages, as delvewheel's option: "
    "their __init__.py is not patched. pkgutil/pkg_resources-style ones are recognised without it.",
)
@click.option("--strip", is_flag=True, help="Strip symbol tables and debug sections (ELF).")
@click.option("-j", "--jobs", type=int, default=None, help="Repair this many wheels at once.")
@click.option(
    "--require-archs",
    "require_archs",
    metavar="ARCHS",
    help="macOS: architectures every Mach-O file must hold (intel, universal2, or e.g. x86_64,arm64).",
)
@_isa_option
@_provider_options
@click.option(
    "--add-requires",
    "add_requires",
    is_flag=True,
    help="Add a Requires-Dist on each provider the wheel links to but does not declare.",
)
@click.option(
    "-z",
    "--zip-compression-level",
    "zip_compression_level",
    type=click.IntRange(0, 9),
    default=None,
    help="Deflate level of the members repair writes anew: 0 stores, 1 is fastest, 9 smallest "
    "(default 6; output no larger than auditwheel's).",
)
@click.option(
    "--dedupe",
    is_flag=True,
    help="Drop identical copies of a library that no binary loads under that name (warns for each).",
)
@_json_option
@_verbose_option
def repair(
    wheels: tuple[Path, ...],
    wheel_dir: Path,
    lib_path: tuple[str, ...],
    exclude: tuple[str, ...],
    add_path: tuple[str, ...],
    no_dll: tuple[str, ...],
    include: tuple[str, ...],
    plat: str | None,
    only_plat: bool,
    lib_sdir: str | None,
    no_mangle: tuple[str, ...],
    namespace_pkg: tuple[str, ...],
    strip: bool,
    jobs: int | None,
    require_archs: str | None,
    disable_isa_ext_check: bool | None,
    zip_compression_level: int | None,
    dedupe: bool,
    as_json: bool,
    provider: tuple[str, ...] = (),
    provider_path: tuple[str, ...] = (),
    add_requires: bool = False,
) -> None:
    """Copy the libraries each wheel needs into it, point its binaries at them, and retag it."""
    options = _options(
        provider=provider,
        provider_path=provider_path,
        add_requires=add_requires,
        lib_path=lib_path + _split_paths(add_path),
        exclude=_split_names(exclude + no_dll),
        include=_split_names(include),
        plat=plat,
        only_plat=only_plat,
        lib_sdir=lib_sdir,
        no_mangle=_split_names(no_mangle),
        namespace_pkg=_split_names(namespace_pkg),
        strip=strip,
        jobs=jobs,
        require_archs=require_archs,
        disable_isa_ext_check=disable_isa_ext_check,
        zip_compression_level=zip_compression_level,
        dedupe=dedupe,
    )
    if options.jobs > 1 and len(wheels) > 1:
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

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
@click.argument("first", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("second", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-w",
    "--wheel-dir",
    "wheel_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("wheelhouse"),
    show_default=True,
    help="Directory for the merged wheel.",
)
@click.option(
    "--require-archs",
    "require_archs",
    metavar="ARCHS",
    help="Architectures every Mach-O file of the merged wheel must hold (e.g. universal2).",
)
@_json_option
def merge(first: Path, second: Path, wheel_dir: Path, require_archs: str | None, as_json: bool) -> None:
    """Merge two builds of one project for different CPUs (thin arm64 and x86_64 macOS wheels) into
    one wheel: binaries both hold are fused into universal files."""
    from .core.merge import merge as merge_wheels
    from .core.report import merge_report

    options = _options(require_archs=require_archs)
    _run_each(
        [first],
        lambda w: merge_report(merge_wheels(first, second, wheel_dir, options)),
        render.merge,
        as_json,
    )


@main.command(context_settings=_CONTEXT)
@click.argument("binary", type=click.Path(dir_okay=False, path_type=Path))
@_json_option
@_verbose_option
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
        "min_os_by_arch": parsed.min_os_by_arch,
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
@_verbose_option
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
