"""The breadth-first dependency walk: resolve each needed name as the target loader would, decide
what repair does with it, and follow the libraries that will be vendored.

A library can be reached along several load chains, and the chain matters (ELF DT_RPATH and Mach-O
LC_RPATH are inherited from the loaders above), so a node is visited once per distinct set of
inherited search paths, and each (requester, name) edge keeps its best answer over all visits.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence

from ..formats.base import Loaded, Location, Resolver
from ..policy.base import Platform
from .exclude import GlobSet
from .model import Action, Dependency, DependencyGraph, Node
from .scan import ScannedBinary

# When one (requester, name) pair is reached along several chains, the answer that lets the wheel
# load wins: a library found inside the wheel beats one on the host, which beats nothing.
_RANK = {Action.IN_WHEEL: 0, Action.SYSTEM: 1, Action.EXCLUDED: 2, Action.VENDOR: 3, Action.MISSING: 4}
_MAX_DEPTH = 64


def _context(chain: Sequence[Loaded]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((str(item.path), item.binary.rpaths) for item in chain if item.binary.rpaths)


def build_graph(
    scanned: Sequence[ScannedBinary],
    resolver: Resolver,
    platform: Platform,
    exclude: GlobSet,
) -> DependencyGraph:
    nodes: dict[str, Node] = {}
    for item in scanned:
        nodes[item.member] = Node(item.member, True, item.binary, item.size, item.location)
    best: dict[tuple[str, str], Dependency] = {}
    order: list[tuple[str, str]] = []
    queue: deque[tuple[str, tuple[Loaded, ...]]] = deque()
    visited: set[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]] = set()
    for item in scanned:
        queue.append((item.member, (Loaded(item.location, item.binary),)))
    while queue:
        key, chain = queue.popleft()
        signature = (key, _context(chain[:-1]))
        if signature in visited or len(chain) > _MAX_DEPTH:
            continue
        visited.add(signature)
        requester = chain[-1].binary
        for name in requester.needed:
            dep, location = _decide(name, key, chain, resolver, platform, exclude)
            if location is not None and location.key not in nodes:
                size = _host_size(location.key)
                nodes[location.key] = Node(location.key, location.in_wheel, location.binary, size, location.path)
            edge_key = (key, name)
            previous = best.get(edge_key)
            if previous is None:
                order.append(edge_key)
            if previous is None or _RANK[dep.action] < _RANK[previous.action]:
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
    platform: Platform,
    exclude: GlobSet,
) -> tuple[Dependency, Location | None]:
    requester = chain[-1].binary
    weak = name in requester.weak
    if exclude.matches(name):
        return Dependency(name, key, Action.EXCLUDED, None, weak), None
    resolution = resolver.resolve(name, chain)
    location = resolution.location
    if location is not None and location.in_wheel:
        return Dependency(name, key, Action.IN_WHEEL, location.key, weak), location
    if platform.provides(name, requester):
        return Dependency(name, key, Action.SYSTEM, location.key if location else None, weak), None
    if location is None:
        return Dependency(name, key, Action.MISSING, None, weak, resolution.searched), None
    if exclude.matches(name, location.key) or exclude.matches(name, str(location.path)):
        return Dependency(name, key, Action.EXCLUDED, location.key, weak), None
    return Dependency(name, key, Action.VENDOR, location.key, weak), location


def _host_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
