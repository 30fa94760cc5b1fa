"""Libraries that ask for an executable stack: what show and check report and repair clears.

glibc 2.41 and later refuse to dlopen a shared object that asks for an executable stack when the
process's stack is not executable, and every Python extension is dlopened, so such a wheel fails to
import on current distributions (auditwheel does not look: pypa/auditwheel#634). Executables are left
alone: the kernel, not dlopen, sets up their stack, and a program may really need it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from ..model import Binary, BinaryEdit, DependencyGraph


def needs_clearing(binary: Binary) -> bool:
    return binary.exec_stack and not binary.executable


def stack_findings(graph: DependencyGraph) -> tuple[str, ...]:
    """One line per library of the (repaired) wheel that asks for an executable stack."""
    keys = [*graph.roots, *graph.vendored]
    return tuple(
        f"{key}: asks for an executable stack, which glibc 2.41+ refuses to dlopen "
        "(repair clears the request)"
        for key in dict.fromkeys(keys)
        if key in graph.nodes and needs_clearing(graph.nodes[key].binary)
    )


def stack_edits(
    edits: Mapping[str, BinaryEdit], graph: DependencyGraph, dest_of: Mapping[str, str]
) -> dict[str, BinaryEdit]:
    """The plan's edits for every library of the output that asks for an executable stack, with
    the request cleared (a library repair would not otherwise touch gets an edit of its own).
    ``dest_of`` maps vendored host libraries to their member paths."""
    changed: dict[str, BinaryEdit] = {}
    for key, node in graph.nodes.items():
        target = key if node.in_wheel else dest_of.get(key)
        if target is None or not needs_clearing(node.binary):
            continue
        changed[target] = dataclasses.replace(edits.get(target, BinaryEdit()), clear_exec_stack=True)
    return changed
