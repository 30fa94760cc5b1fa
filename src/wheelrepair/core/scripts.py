"""Executables in ``<dist>.data/scripts`` that need vendored libraries: moved into site-packages,
with a small Python launcher left in their place.

Installers copy ``scripts/`` to the environment's ``bin/`` (``Scripts\\`` on Windows), whose distance
from site-packages differs between a venv, ``--user``, ``--prefix`` and distribution layouts, so no
search path relative to the executable reaches ``<dist>.libs``. auditwheel moves such a
program to ``<dist>.scripts/<name>`` at the wheel root and installs a ``#!python`` launcher that
execs it; the installer rewrites that first line to the environment's interpreter. We do the same,
and the launcher looks in every site-packages directory on ``sys.path`` (not only the one
``sysconfig`` names), so ``--user`` and ``--target`` installs run too.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..errors import NotRepairable
from ..model import Action, DependencyGraph
from ..wheel.metadata import WheelMetadata

#: What a member's content is given as (bytes, a file, a member compressed ahead).
_C = TypeVar("_C")


@dataclass(frozen=True)
class ScriptMove:
    #: The executable's member path, ``<dist>-<ver>.data/scripts/<name>``; the launcher goes here.
    member: str
    #: Where the executable goes: ``<dist>.scripts/<name>``, installed into site-packages.
    dest: str


def script_moves(
    graph: DependencyGraph, metadata: WheelMetadata, members: Sequence[str]
) -> tuple[ScriptMove, ...]:
    """The scripts that need a search path into the wheel (a vendored library, or an in-wheel one
    the loader cannot reach from there), each with its new place."""
    present = set(members)
    moves: list[ScriptMove] = []
    for key in graph.roots:
        parts = key.split("/")
        if len(parts) != 3 or parts[0] != metadata.data_dir or parts[1] != "scripts":
            continue
        if not any(
            e.action is Action.VENDOR or (e.action is Action.IN_WHEEL and not e.reachable)
            for e in graph.edges_from(key)
        ):
            continue
        dest = posixpath.join(f"{metadata.name}.scripts", parts[2])
        if dest in present:
            raise NotRepairable(
                f"cannot move {key} to {dest}, which the wheel already holds", subject=metadata.filename
            )
        moves.append(ScriptMove(key, dest))
    return tuple(moves)


_LAUNCHER = """\
#!python
# Written by wheelrepair: the program itself is {dest} in site-packages, moved there so it
# finds the libraries vendored with it. This runs it with the same arguments.
import os
import sys
import sysconfig

RELATIVE = {parts!r}


def _program():
    places = [sysconfig.get_path("platlib"), sysconfig.get_path("purelib")]
    places += [p for p in sys.path if os.path.isabs(p)]
    for place in places:
        candidate = os.path.join(place, *RELATIVE)
        if os.path.isfile(candidate):
            return candidate
    sys.exit("%s: cannot find %s in site-packages" % (sys.argv[0], "/".join(RELATIVE)))


if __name__ == "__main__":
    os.execv(_program(), sys.argv)
"""


def launcher(move: ScriptMove) -> bytes:
    """The launcher left at ``move.member``: execs the moved program with ``sys.argv`` unchanged, so
    the program sees the command name the user typed as its ``argv[0]``."""
    return _LAUNCHER.format(dest=move.dest, parts=tuple(move.dest.split("/"))).encode("utf-8")


def apply_moves(
    moves: Sequence[ScriptMove],
    replace: Mapping[str, _C],
    add: Mapping[str, _C],
    read_member: Callable[[str], bytes],
) -> tuple[dict[str, _C | bytes], dict[str, _C | bytes]]:
    """Turn the rewritten scripts into added members at their new places and put launchers where
    they were (replacing the member keeps its position, mode and time in the zip)."""
    new_replace: dict[str, _C | bytes] = dict(replace)
    new_add: dict[str, _C | bytes] = dict(add)
    for move in moves:
        program = new_replace.pop(move.member, None)
        new_add[move.dest] = program if program is not None else read_member(move.member)
        new_replace[move.member] = launcher(move)
    return new_replace, new_add


def modes(moves: Sequence[ScriptMove], mode_of: Callable[[str], int]) -> dict[str, int]:
    """The moved programs keep their permission bits (executable, whatever the writer's default)."""
    return {move.dest: mode_of(move.member) or 0o755 for move in moves}
