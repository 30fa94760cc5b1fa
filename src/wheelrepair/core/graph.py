"""The breadth-first dependency walk: resolve each needed name as the target loader would, decide
what repair does with it, and follow the libraries that will be vendored.

A library can be reached along several load chains, and the chain matters (ELF DT_RPATH and Mach-O
LC_RPATH are inherited from the loaders above), so a node is visited once per distinct set of
inherited search paths, and each (requester, name) edge keeps its best answer over all visits.
"""

from __future__ import annotations

import os
import posixpath
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import replace

from ..formats.base import Loaded, Location, Resolver
from ..model import INCLUDED, Action, Dependency, DependencyGraph, Node
from ..policy.base import Platform
from ..policy.drivers import driver_reason
from .exclude import GlobSet
from .providers import ProviderIndex
from .scan import ScannedBinary

# When one (requester, name) pair is reached along several chains, the answer that lets the wheel
# load wins: a library found inside the wheel beats one on the host, which beats nothing.
_RANK = {
    Action.IN_WHEEL: 0,
    Action.SYSTEM: 1,
    Action.EXCLUDED: 2,
    Action.REMOVE: 3,
    Action.VENDOR: 4,
    Action.MISSING: 5,
    Action.PROVIDED: 0,
    Action.DRIVER: 1,
}
_MAX_DEPTH = 64


def _rank(dep: Dependency) -> tuple[int, bool]:
    return _RANK[dep.action], not dep.reachable


def _context(chain: Sequence[Loaded]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((str(item.path), item.binary.rpaths) for item in chain if item.binary.rpaths)


def build_graph(
    scanned: Sequence[ScannedBinary],
    resolver: Resolver,
    platform: Platform,
    exclude: GlobSet,
    wheel_resolver: Resolver | None = None,
    providers: ProviderIndex | None = None,
    include: Sequence[str] = (),
) -> DependencyGraph:
    """Walk from every binary in the wheel. ``wheel_resolver`` sees only the wheel; it answers for
    names the platform provides, whose host copies never matter (and are slow to look up).
    ``providers`` are the libraries other wheels ship (``--provider``); what they provide is not
    followed further (their own dependencies are their wheels' business). ``include`` names
    libraries to vendor although nothing links them: each is looked up as the wheel's first binary
    would look it up, and walked like any other vendored library."""
    wheel_resolver = wheel_resolver or resolver
    providers = providers or ProviderIndex.empty()
    nodes: dict[str, Node] = {}
    for item in scanned:
        nodes[item.member] = Node(item.member, True, item.binary, item.size, item.location)
    by_name = _libraries_by_name(scanned)
    best: dict[tuple[str, str], Dependency] = {}
    order: list[tuple[str, str]] = []
    queue: deque[tuple[str, tuple[Loaded, ...]]] = deque()
    visited: set[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]] = set()
    for item in scanned:
        queue.append((item.member, (Loaded(item.location, item.binary),)))
    if scanned:
        for name in dict.fromkeys(include):
            dep, location = _include(name, scanned[0], resolver)
            best[(INCLUDED, name)] = dep
            order.append((INCLUDED, name))
            if location is not None and location.key not in nodes:
                nodes[location.key] = Node(
                    location.key, location.in_wheel, location.binary, _host_size(location.key), location.path
                )
            if location is not None and dep.action is Action.VENDOR:
                queue.append((location.key, (Loaded(location.path, location.binary),)))
    while queue:
        key, chain = queue.popleft()
        signature = (key, _context(chain[:-1]))
        if signature in visited or len(chain) > _MAX_DEPTH:
            continue
        visited.add(signature)
        requester = chain[-1].binary
        for name in requester.needed:
            dep, location = _decide(name, key, chain, resolver, wheel_resolver, platform, exclude, by_name)
            dep, location = _provided(dep, location, chain, providers, platform.name)
            if location is not None and location.key not in nodes:
                if location.provider is not None:
                    # Not a member of this wheel: planning must never edit or copy it.
                    size = providers.size(location.key)
                    nodes[location.key] = Node(location.key, False, location.binary, size, location.path)
                else:
                    size = _host_size(location.key)
                    nodes[location.key] = Node(
                        location.key, location.in_wheel, location.binary, size, location.path
                    )
            edge_key = (key, name)
            previous = best.get(edge_key)
            if previous is None:
                order.append(edge_key)
            if previous is None or _rank(dep) < _rank(previous):
                best[edge_key] = dep
            if location is not None and dep.action in (Action.VENDOR, Action.IN_WHEEL):
                if any(item.path == location.path for item in chain):
                    continue  # a dependency cycle: already on this chain
                queue.append((location.key, (*chain, Loaded(location.path, location.binary))))
    roots = tuple(item.member for item in scanned)
    return DependencyGraph(roots, nodes, tuple(best[k] for k in order))


def _decide(
    name: str,
    key: str,
    chain: Sequence[Loaded],
    resolver: Resolver,
    wheel_resolver: Resolver,
    platform: Platform,
    exclude: GlobSet,
    by_name_in_wheel: Mapping[str, Location],
) -> tuple[Dependency, Location | None]:
    requester = chain[-1].binary
    weak = name in requester.weak
    if exclude.matches(name):
        return Dependency(name, key, Action.EXCLUDED, None, weak), None
    if platform.removable(name, requester):
        return Dependency(name, key, Action.REMOVE, None, weak), None
    if platform.provides(name, requester):
        # A copy inside the wheel that the loader reaches first still wins over the platform's.
        inside = wheel_resolver.resolve(name, chain).location
        if inside is not None and inside.in_wheel:
            return Dependency(name, key, Action.IN_WHEEL, inside.key, weak), inside
        return Dependency(name, key, Action.SYSTEM, None, weak), None
    resolution = resolver.resolve(name, chain)
    location = resolution.location
    if location is not None and location.in_wheel:
        return Dependency(name, key, Action.IN_WHEEL, location.key, weak), location
    if location is None:
        by_name = by_name_in_wheel.get(posixpath.basename(name))
        if by_name is not None:
            return Dependency(name, key, Action.IN_WHEEL, by_name.key, weak, reachable=False), by_name
    if location is None:
        return Dependency(name, key, Action.MISSING, None, weak, resolution.searched), None
    if exclude.matches(name, location.key) or exclude.matches(name, str(location.path)):
        return Dependency(name, key, Action.EXCLUDED, location.key, weak), None
    return Dependency(name, key, Action.VENDOR, location.key, weak), location


def _provided(
    dep: Dependency,
    location: Location | None,
    chain: Sequence[Loaded],
    providers: ProviderIndex,
    platform: str,
) -> tuple[Dependency, Location | None]:
    """Apply the two rules that outrank where the loader would look: a driver library always stays
    external, and a library a provider ships is taken from the provider (never vendored, even when
    the build machine has a copy) unless it cannot serve this binary, which the note says."""
    if dep.action in (Action.EXCLUDED, Action.REMOVE):
        return dep, location
    driver = driver_reason(platform, dep.name)
    if driver is not None and not (location is not None and location.in_wheel):
        return replace(dep, action=Action.DRIVER, path=None, note=driver, reachable=True), None
    if not providers:
        return dep, location
    requester = chain[-1].binary
    if location is not None and location.provider is not None:
        refusal = providers.refusal(dep.name, requester, location)
        if refusal is None:
            return replace(dep, action=Action.PROVIDED, provider=location.provider, reachable=True), location
    if dep.action is Action.IN_WHEEL and location is not None and location.provider is None:
        return dep, location  # the wheel's own copy, as the loader finds it
    if dep.action is Action.SYSTEM:
        return dep, location  # the platform's copy: a provider's same-named file is not needed
    found, note = providers.by_name(dep.name, requester)
    if found is not None:
        return (
            replace(dep, action=Action.PROVIDED, path=found.key, provider=found.provider, reachable=False),
            found,
        )
    if dep.action is Action.IN_WHEEL and location is not None and location.provider is not None:
        # The loader's rules reach the provider's copy, but it cannot serve this binary.
        return replace(dep, action=Action.MISSING, path=None, note=note, reachable=True), None
    return (replace(dep, note=note) if note else dep), location


def _include(name: str, first: ScannedBinary, resolver: Resolver) -> tuple[Dependency, Location | None]:
    """Find an ``--include`` library where the loader would find it for the wheel's first binary
    (inside the wheel: nothing to do) or on the host (--lib-path and the system: vendor it). The
    platform's own libraries are vendored too when asked for, as delvewheel does."""
    resolution = resolver.resolve(name, (Loaded(first.location, first.binary),))
    location = resolution.location
    if location is None:
        return Dependency(name, INCLUDED, Action.MISSING, None, False, resolution.searched), None
    action = Action.IN_WHEEL if location.in_wheel else Action.VENDOR
    return Dependency(name, INCLUDED, action, location.key), location


def _libraries_by_name(scanned: Sequence[ScannedBinary]) -> dict[str, Location]:
    """Wheel libraries by file name and own name, for dependencies the loader's rules do not reach
    (a test executable in ``pkg/bin`` needing ``pkg/lib/libfoo.so``). Ambiguous names are left out."""
    found: dict[str, Location | None] = {}
    for item in scanned:
        # File names only: loaders match files, and an own name (ELF SONAME, PE export name) can
        # differ from the file that carries it.
        location = Location(item.member, item.location, True, item.binary)
        name = posixpath.basename(item.member)
        previous = found.get(name, location)
        found[name] = location if previous is not None and previous.key == item.member else None
    return {name: loc for name, loc in found.items() if loc is not None}


def _host_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
