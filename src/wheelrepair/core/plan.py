"""Decide what repair changes: which libraries to vendor under which names, and which binaries to
rewrite how. A pure function of the graph; it reads host libraries only to hash them."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..errors import NotRepairable
from ..formats.base import WHEEL_ROOT, Backend, Loaded, Resolver, in_wheel
from ..model import (
    INCLUDED,
    Action,
    BinaryEdit,
    DependencyGraph,
    Node,
    RepairPlan,
    VendoredLibrary,
    Verdict,
)
from .exclude import GlobSet
from .naming import file_sha256, name_digest
from .stack import stack_edits


@dataclass(frozen=True)
class PlanInputs:
    wheel: str
    graph: DependencyGraph
    verdict: Verdict
    libs_dir: str
    """Wheel-relative directory (as installed) that receives vendored libraries."""
    members: Sequence[str]
    installed: Mapping[str, str]
    """Wheel member path -> installed path, for the wheel's binaries."""
    no_mangle: GlobSet
    strip: bool
    #: The target's loader follows DT_RUNPATH only (Android).
    runpath_only: bool = False


def plan_repair(
    inputs: PlanInputs,
    backend: Backend,
    resolver: Resolver,
    read_member: Callable[[str], bytes],
    hash_file: Callable[[str], str] = file_sha256,
) -> RepairPlan:
    graph = inputs.graph
    vendored_sources = graph.vendored
    names_for: dict[str, list[str]] = {}
    for edge in graph.edges:
        if edge.action is Action.VENDOR and edge.path is not None:
            names_for.setdefault(edge.path, [])
            if edge.name not in names_for[edge.path]:
                names_for[edge.path].append(edge.name)

    loaded_by_name = _loaded_by_name_only(graph)
    filenames = _vendored_filenames(inputs, backend, vendored_sources, names_for, hash_file, loaded_by_name)
    vendored = tuple(
        VendoredLibrary(
            source=src,
            dest=posixpath.join(inputs.libs_dir, filenames[src]),
            name=names_for[src][0] if src in loaded_by_name else _own_name(graph, src, names_for),
            new_name=filenames[src],
        )
        for src in vendored_sources
    )
    dest_of = {v.source: v.dest for v in vendored}

    edits: dict[str, BinaryEdit] = {}
    for key, node in graph.nodes.items():
        if node.in_wheel:
            member_dir = posixpath.dirname(inputs.installed.get(key, key))
            target = key
        elif key in dest_of:
            member_dir = inputs.libs_dir
            target = dest_of[key]
        else:
            continue
        replace: dict[str, str] = {}
        remove: list[str] = []
        add: list[str] = []
        for edge in graph.edges_from(key):
            if edge.action is Action.REMOVE:
                remove.append(edge.name)
            if edge.action is Action.VENDOR and edge.path in dest_of:
                replace[edge.name] = backend.needed_reference(
                    filenames[edge.path], member_dir, inputs.libs_dir
                )
                _append(add, _relative(inputs.libs_dir, member_dir))
            elif edge.action is Action.IN_WHEEL and not edge.reachable and edge.path is not None:
                # In the wheel, but out of the loader's reach from here: point a search path at it.
                target_dir = str(graph.nodes[edge.path].location.parent.relative_to(WHEEL_ROOT))
                _append(add, _relative(target_dir, member_dir))
            elif edge.action is Action.PROVIDED and not edge.reachable and edge.path is not None:
                _point_at_provider(edge.name, graph.nodes[edge.path], member_dir, backend, replace, add)
        if loaded_by_name and node.in_wheel and key in graph.roots:
            # The package loads an --include library by its name at run time (dlopen searches the
            # caller's DT_RUNPATH / LC_RPATH): every binary of the wheel gets the libs directory.
            _append(add, _relative(inputs.libs_dir, member_dir))
        is_vendored = not node.in_wheel
        if not replace and not remove and not add and not is_vendored and not inputs.strip:
            continue
        add_paths = tuple(add)
        keep: tuple[str, ...] | None = None
        if add_paths:
            keep = _in_wheel_search_paths(resolver, node)
        elif is_vendored and (node.binary.rpaths or node.binary.runpaths):
            keep = ()  # a vendored library must not search the build machine
        edits[target] = BinaryEdit(
            replace_needed=replace,
            remove_needed=tuple(remove),
            set_own_name=filenames[key] if is_vendored else None,
            add_search_paths=add_paths,
            keep_search_paths=keep,
            strip=inputs.strip,
            vendored=is_vendored,
            runpath_only=inputs.runpath_only,
        )

    users = sorted(
        {
            e.needed_by
            for e in graph.edges
            if e.action is Action.VENDOR and e.needed_by in graph.nodes and graph.nodes[e.needed_by].in_wheel
        }
        | (set(graph.roots) if loaded_by_name else set())
    )
    provided = _provided_files(graph)
    if provided:
        users = sorted({*users, *_provided_users(graph)})
    files = (
        backend.support_files(
            inputs.libs_dir,
            [dest_of[s] for s in _dependencies_first(graph, vendored_sources)],
            users,
            inputs.members,
            read_member,
            **({"provided": provided} if provided else {}),
        )
        if vendored or provided
        else {}
    )
    # A second repair of a wheel that links to providers regenerates the same loader patch: an
    # unchanged member is not a change.
    if files:
        members = set(inputs.members)
        files = {m: c for m, c in files.items() if m not in members or read_member(m) != c}
    excluded = tuple(e for e in graph.edges if e.action is Action.EXCLUDED)
    return RepairPlan(
        wheel=inputs.wheel,
        verdict=inputs.verdict,
        libs_dir=inputs.libs_dir,
        vendored=vendored,
        edits={**edits, **stack_edits(edits, graph, dest_of)},
        files=dict(files),
        excluded=excluded,
        warnings=inputs.verdict.warnings
        + tuple(
            f"{e.needed_by}: dropped its dependency on {e.name}, which the platform tag forbids "
            "(the interpreter provides those symbols)"
            for e in graph.edges
            if e.action is Action.REMOVE
        ),
    )


def _point_at_provider(
    name: str, node: Node, member_dir: str, backend: Backend, replace: dict[str, str], add: list[str]
) -> None:
    """A provided library the loader's rules do not reach from the binary: add a search path from
    the binary's installed directory to the provider's (both in the same site-packages), and name
    the library so that search path finds it (a path-like name, e.g. a Mach-O install name from the
    build machine, becomes what the backend uses for a library found by search path)."""
    target_dir = str(node.location.parent.relative_to(WHEEL_ROOT))
    _append(add, _relative(target_dir, member_dir))
    reference = backend.needed_reference(node.location.name, member_dir, target_dir)
    if "/" in name and reference != name:
        replace[name] = reference


def _provided_files(graph: DependencyGraph) -> list[tuple[str, str]]:
    """(installed path, provider) of every provided library the wheel uses, in first-use order."""
    found: dict[str, str] = {}
    for edge in graph.edges:
        if edge.action is Action.PROVIDED and edge.path is not None and edge.provider is not None:
            installed = str(graph.nodes[edge.path].location.relative_to(WHEEL_ROOT))
            found.setdefault(installed, edge.provider)
    return list(found.items())


def _provided_users(graph: DependencyGraph) -> set[str]:
    return {
        e.needed_by
        for e in graph.edges
        if e.action is Action.PROVIDED and e.needed_by in graph.nodes and graph.nodes[e.needed_by].in_wheel
    }


def _loaded_by_name_only(graph: DependencyGraph) -> frozenset[str]:
    """Vendored libraries only ``--include`` asks for: no binary links them, so the package loads
    them by their own name, which they keep (as delvewheel keeps it)."""
    linked = {e.path for e in graph.edges if e.action is Action.VENDOR and e.needed_by != INCLUDED}
    return frozenset(
        e.path
        for e in graph.edges
        if e.action is Action.VENDOR
        and e.needed_by == INCLUDED
        and e.path is not None
        and e.path not in linked
    )


def _own_name(graph: DependencyGraph, source: str, names_for: Mapping[str, list[str]]) -> str:
    soname = graph.nodes[source].binary.soname
    return soname or names_for[source][0]


def _vendored_filenames(
    inputs: PlanInputs,
    backend: Backend,
    sources: Sequence[str],
    names_for: Mapping[str, list[str]],
    hash_file: Callable[[str], str],
    keep_name: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """Mangled names, dependencies first, so each name can cover its dependencies' names."""
    filenames: dict[str, str] = {}
    for src in _dependencies_first(inputs.graph, sources):
        if src in keep_name:
            filenames[src] = inputs.graph.nodes[src].location.name
            continue
        name = _own_name(inputs.graph, src, names_for)
        if inputs.no_mangle.matches(name, src) or any(
            inputs.no_mangle.matches(n, src) for n in names_for[src]
        ):
            filenames[src] = posixpath.basename(name)
            continue
        deps = [
            filenames[e.path]
            for e in inputs.graph.edges_from(src)
            if e.action is Action.VENDOR and e.path in filenames
        ]
        filenames[src] = backend.library_filename(name, src, name_digest(hash_file(src), deps))
    _check_unique(inputs.wheel, filenames)
    return filenames


def _check_unique(wheel: str, filenames: Mapping[str, str]) -> None:
    seen: dict[str, str] = {}
    for src, name in filenames.items():
        key = name.lower()
        if key in seen:
            raise NotRepairable(
                f"two different libraries would both be vendored as {name} ({seen[key]} and {src}); "
                "drop --no-mangle for them or --exclude one",
                subject=wheel,
            )
        seen[key] = src


def _dependencies_first(graph: DependencyGraph, sources: Sequence[str]) -> list[str]:
    wanted = set(sources)
    ordered: list[str] = []
    state: dict[str, int] = {}

    def visit(src: str) -> None:
        if state.get(src):
            return  # done, or on the stack (a cycle: break it here)
        state[src] = 1
        for edge in graph.edges_from(src):
            if edge.action is Action.VENDOR and edge.path in wanted:
                visit(edge.path)
        state[src] = 2
        ordered.append(src)

    for src in sources:
        visit(src)
    return ordered


def _append(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _relative(target: str, start: str) -> str:
    return posixpath.relpath(target or ".", start or ".")


def _in_wheel_search_paths(resolver: Resolver, node: Node) -> tuple[str, ...]:
    """The node's existing search path entries that name a directory inside the wheel; entries that
    point at the build machine are dropped."""
    loaded = Loaded(node.location, node.binary)
    kept: list[str] = []
    for entry in (*node.binary.rpaths, *node.binary.runpaths):
        expanded = resolver.expand(entry, loaded)
        inside = expanded is not None and in_wheel(expanded)
        if inside and entry not in kept:
            kept.append(entry)
    return tuple(kept)
