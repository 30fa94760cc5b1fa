"""Which package ``__init__.py`` files of a wheel declare a namespace package rather than a
regular one.

A pkgutil-style (``__path__ = extend_path(__path__, __name__)``) or pkg_resources-style
(``declare_namespace(__name__)``) ``__init__.py`` is shared by every distribution that contributes to
the namespace, and whichever copy is installed last wins: code added to one copy (the Windows loader
patch) may never run. For the loader's purposes such a package is like a PEP 420 one: it has no
``__init__.py`` of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable

# Whitespace-free forms of the two declarations (pkgutil's, in any import spelling, and
# pkg_resources'), as they appear in the files setuptools' and the packaging guide's templates write.
_DECLARATION = re.compile(rb"extend_path\(__path__,__name__\)|declare_namespace\(__name__\)")


def declares_namespace(source: bytes) -> bool:
    """True when ``source`` (an ``__init__.py``) is a pkgutil- or pkg_resources-style namespace
    declaration."""
    return _DECLARATION.search(re.sub(rb"\s+", b"", source)) is not None


def namespace_inits(
    members: Iterable[str],
    installed: Callable[[str], str | None],
    read_member: Callable[[str], bytes],
    declared: Collection[str] = (),
) -> frozenset[str]:
    """The ``__init__.py`` members that make their directory a namespace package: those declaring
    one, and those of the dotted package names in ``declared`` (delvewheel's ``--namespace-pkg``)."""
    declared_dirs = {name.replace(".", "/") for name in declared}
    found: set[str] = set()
    for member in members:
        path = installed(member)
        if path is None or not path.endswith("/__init__.py"):
            continue
        if path[: -len("/__init__.py")] in declared_dirs or declares_namespace(read_member(member)):
            found.add(member)
    return frozenset(found)
