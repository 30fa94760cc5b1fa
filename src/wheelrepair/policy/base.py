"""The policy protocol: what a target platform provides and which properties of a binary make a tag
false. One ``Platform`` per family (linux, macos, windows), each judging a whole wheel."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from ..model import Binary, DependencyGraph, Verdict


@dataclass(frozen=True)
class PolicyInfo:
    """One row of ``wheelrepair policies``."""

    tag: str
    aliases: tuple[str, ...]
    platform: str
    summary: str


@dataclass(frozen=True)
class Context:
    """What a verdict may also weigh besides the binaries and the tags: the dependency graph (which
    binary loads which, for rules that follow load chains) and requirements the user set outside
    ``--plat``. Platforms ignore what does not apply to them."""

    graph: DependencyGraph | None = None
    #: MACOSX_DEPLOYMENT_TARGET (macOS): the oldest release the wheel must support.
    deployment_target: str | None = None
    #: ``--require-archs`` (macOS): architectures every binary must hold.
    require_archs: str | None = None


class Platform(Protocol):
    name: ClassVar[str]  # "linux" | "macos" | "windows"

    def provides(self, name: str, requester: Binary) -> bool:
        """True when the target platform supplies ``name`` (never vendored, not looked up further)."""
        ...

    def removable(self, name: str, requester: Binary) -> bool:
        """True for a dependency the target forbids but the running interpreter already satisfies
        (libpython on manylinux): repair drops the reference instead of vendoring it."""
        ...

    def verdict(
        self,
        binaries: Sequence[tuple[str, Binary]],
        wheel_tags: Sequence[str],
        requested: str | None = None,
        vendored: Collection[str] = (),
        context: Context | None = None,
    ) -> Verdict:
        """Judge the binaries the repaired wheel will hold (its own plus vendored ones, as
        (display path, Binary)). ``wheel_tags`` are the platform tags the wheel carries now;
        ``requested`` is ``--plat``; ``vendored`` names the binaries repair would add (the rest are
        in the wheel already). The verdict's ``error`` is set when ``requested`` is impossible.
        ``context`` adds the graph and the user's other requirements (see ``Context``).
        """
        ...

    def policies(self) -> Sequence[PolicyInfo]: ...
