"""Copying the members a repair cannot change into its output while the scan is still running.

Reading a large wheel's binaries keeps the scan's worker processes busy for most of a second
(torch: libtorch_cpu.so alone is inflated for 0.5 s), while the main process waits. Meanwhile the
members the workers found not to be binaries (Python sources, headers, data) are copied raw into
the output, which then starts with them; binaries, metadata and anything else a plan may replace
follow once the plan is known. Members that a plan may replace without being binaries (the
dist-info, the ``.data`` schemes, package ``__init__.py`` files that Windows patches) are never
copied early. Should a plan still replace or drop a member copied early, or the copy fail, the
early output is discarded and the wheel written as usual: the result never depends on this.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection
from pathlib import Path

from ..wheel.archive import WheelArchive
from ..wheel.writer import WrittenBody, start_body


class EarlyCopy:
    """The start of one repair's output, filled with members as the scan clears them."""

    def __init__(self, archive: WheelArchive, directory: Path) -> None:
        metadata = archive.metadata
        self._archive = archive
        self._keep_out = (f"{metadata.dist_info}/", f"{metadata.data_dir}/")
        self._body: WrittenBody | None = start_body(archive, directory)

    def offer(self, member: str) -> None:
        """Copy ``member``, which the scan found not to be a binary, unless a plan could change it."""
        if self._body is None or member.startswith(self._keep_out):
            return
        if posixpath.basename(member) == "__init__.py":
            return
        try:
            self._body.copy(member)
        except OSError:
            # A full disk or a vanished directory: the usual write reports it, in one line.
            self.discard()

    def take(self, changed: Collection[str]) -> WrittenBody | None:
        """The output so far, for the writer to finish (it owns it from now on), unless one of its
        members is among ``changed`` (then it is discarded)."""
        body, self._body = self._body, None
        if body is not None and not body.copied.isdisjoint(changed):
            body.discard()
            return None
        return body

    def discard(self) -> None:
        if self._body is not None:
            self._body.discard()
            self._body = None
