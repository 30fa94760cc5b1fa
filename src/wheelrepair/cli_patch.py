"""The ``wheelrepair patch`` command: patchelf / install_name_tool for one file, on any host.

It only parses options into a format-neutral ``PatchRequest`` and hands it to whichever backend
recognises the file; the ELF and Mach-O spellings of an option mean the same request.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import click

from . import render
from .errors import (
    EditError,
    InvalidBinary,
    UsageError,
    WheelRepairError,
    malformed_binary,
    require_regular_file,
)
from .formats import backend_for
from .formats.base import PatchRequest
from .render import escape

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _request(
    replace_needed: tuple[tuple[str, str], ...],
    add_needed: tuple[str, ...],
    remove_needed: tuple[str, ...],
    set_soname: str | None,
    install_id: str | None,
    set_rpath: str | None,
    add_rpath: tuple[str, ...],
    delete_rpath: tuple[str, ...],
    remove_rpath: bool,
    force_rpath: bool,
) -> PatchRequest:
    if set_soname is not None and install_id is not None and set_soname != install_id:
        raise UsageError("--set-soname and --id name the same field; give one of them")
    if set_rpath is not None and remove_rpath:
        raise UsageError("--set-rpath and --remove-rpath contradict each other; give one of them")
    return PatchRequest(
        replace_needed=replace_needed,
        add_needed=add_needed,
        remove_needed=remove_needed,
        set_soname=set_soname if set_soname is not None else install_id,
        set_rpath=None if set_rpath is None else tuple(p for p in set_rpath.split(":") if p),
        add_rpath=add_rpath,
        delete_rpath=delete_rpath,
        remove_rpath=remove_rpath,
        force_rpath=force_rpath,
    )


def _identity(path: Path) -> tuple[int, int, int]:
    """Changes whenever the file is replaced or rewritten (edits rename a new file into place)."""
    st = os.stat(path)
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _show(document: Mapping[str, object]) -> None:
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=True)
    for key, value in document.items():
        if isinstance(value, (list, tuple)):
            out.print(f"[bold]{key}:[/]" + ("" if value else " -"))
            for item in value:
                out.print(f"  {escape(str(item))}")
        else:
            out.print(f"[bold]{key}:[/] {escape('-' if value is None else str(value))}")


@click.command(context_settings=_CONTEXT)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--replace-needed", nargs=2, multiple=True, metavar="OLD NEW", help="Rename a needed library.")
@click.option(
    "--change", nargs=2, multiple=True, metavar="OLD NEW", help="Mach-O spelling of --replace-needed."
)
@click.option("--add-needed", multiple=True, metavar="NAME", help="Add a needed library (ELF).")
@click.option("--remove-needed", multiple=True, metavar="NAME", help="Remove a needed library.")
@click.option("--set-soname", metavar="NAME", help="Set the file's own name (ELF DT_SONAME).")
@click.option("--id", "install_id", metavar="NAME", help="Mach-O spelling of --set-soname (install name).")
@click.option("--set-rpath", metavar="PATHS", help="Replace the search paths (colon-separated).")
@click.option("--add-rpath", multiple=True, metavar="PATH", help="Append a search path.")
@click.option("--delete-rpath", multiple=True, metavar="PATH", help="Remove one search path.")
@click.option("--remove-rpath", is_flag=True, help="Remove all search paths.")
@click.option("--force-rpath", is_flag=True, help="ELF: write DT_RPATH instead of DT_RUNPATH.")
@click.option("--print", "show", is_flag=True, help="Print the fields after any edit.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def patch(
    file: Path,
    replace_needed: tuple[tuple[str, str], ...],
    change: tuple[tuple[str, str], ...],
    add_needed: tuple[str, ...],
    remove_needed: tuple[str, ...],
    set_soname: str | None,
    install_id: str | None,
    set_rpath: str | None,
    add_rpath: tuple[str, ...],
    delete_rpath: tuple[str, ...],
    remove_rpath: bool,
    force_rpath: bool,
    show: bool,
    as_json: bool,
) -> None:
    """Change a binary's needed libraries, own name and search paths in place (ELF, Mach-O, PE)."""
    try:
        request = _request(
            replace_needed + change,
            add_needed,
            remove_needed,
            set_soname,
            install_id,
            set_rpath,
            add_rpath,
            delete_rpath,
            remove_rpath,
            force_rpath,
        )
        require_regular_file(file)
        try:
            with open(file, "rb") as handle:
                head = handle.read(64)
        except OSError as err:
            raise UsageError(f"cannot read: {err.strerror}", subject=str(file)) from None
        backend = backend_for(head)
        if backend is None:
            raise InvalidBinary("not an ELF, Mach-O or PE file", subject=str(file))
        changed = False
        with malformed_binary(str(file)):
            if request != PatchRequest():
                before = _identity(file)
                try:
                    backend.patch(file, request)
                except OSError as err:
                    # The editors write a temporary file beside the original and rename it.
                    raise EditError(f"cannot write: {err.strerror or err}", subject=str(file)) from None
                changed = _identity(file) != before
            document: dict[str, object] = {"file": str(file), "format": backend.format, "changed": changed}
            if show or as_json or request == PatchRequest():
                document.update(backend.describe(file.read_bytes(), str(file)))
    except WheelRepairError as err:
        render.error(str(err))
        sys.exit(err.exit_code)
    if as_json:
        render.print_json(document)
    elif show or request == PatchRequest():
        _show(document)
