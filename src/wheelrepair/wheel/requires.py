"""What a wheel's METADATA says about other distributions: its name and version, whether it declares
a requirement on a provider (``Requires-Dist``), whether the provider's version satisfies it, and
adding such a declaration. Parsed with packaging's ``Requirement``; nothing here knows binaries."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

if TYPE_CHECKING:
    # Imported where used: packaging's requirement parser costs ~10 ms of every start-up, and
    # only wheels with providers need it.
    from packaging.requirements import Requirement


def name_and_version(text: str) -> tuple[str | None, str | None]:
    """The ``Name`` and ``Version`` fields of a METADATA document."""
    from email.parser import HeaderParser

    headers = HeaderParser().parsestr(text, headersonly=True)
    return headers.get("Name"), headers.get("Version")


def requirements_on(text: str, name: str) -> list[Requirement]:
    """The ``Requires-Dist`` entries of a METADATA document that name distribution ``name``."""
    from email.parser import HeaderParser

    headers = HeaderParser().parsestr(text, headersonly=True)
    wanted = canonicalize_name(name)
    from packaging.requirements import InvalidRequirement, Requirement

    found: list[Requirement] = []
    for value in headers.get_all("Requires-Dist") or []:
        try:
            requirement = Requirement(" ".join(str(value).split()))
        except InvalidRequirement:
            continue  # not ours to judge; installers report it
        if canonicalize_name(requirement.name) == wanted:
            found.append(requirement)
    return found


def requirement_problem(text: str, name: str, version: str) -> str | None:
    """Why the METADATA ``text`` does not make installers bring ``name`` at ``version``: "missing"
    when it has no Requires-Dist on it, a one-line reason when its requirement excludes ``version``,
    None when it is declared and satisfied."""
    requirements = requirements_on(text, name)
    if not requirements:
        return "missing"
    for requirement in requirements:
        if requirement.specifier.contains(version, prereleases=True):
            return None
    shown = "; ".join(f"Requires-Dist: {r}" for r in requirements)
    return f"its METADATA says {shown}, which the provider's version {version} does not satisfy"


def compatible_requirement(name: str, version: str) -> str:
    """A requirement that accepts ``version`` and later releases that keep the provider's library
    names: those of the same major version (``12.9.79`` -> ``>=12.9,<13``, as libcudart.so.12 is
    renamed libcudart.so.13 with CUDA 13), or for 0.x releases the same minor version
    (``0.3.30.0.1`` -> ``>=0.3.30,<0.4``)."""
    from packaging.version import InvalidVersion, Version

    try:
        release = Version(version).release
    except InvalidVersion:
        return f"{name}=={version}"
    parts = (*release, 0, 0)
    if parts[0] > 0:
        return f"{name}>={parts[0]}.{parts[1]},<{parts[0] + 1}"
    return f"{name}>=0.{parts[1]}.{parts[2]},<0.{parts[1] + 1}"


_HEADER = re.compile(rb"^([A-Za-z0-9-]+):")


def add_requirement(data: bytes, requirement: str) -> bytes:
    """METADATA ``data`` with ``Requires-Dist: requirement`` after its last Requires-Dist field (or
    at the end of its header fields), keeping everything else byte for byte."""
    newline = b"\r\n" if b"\r\n" in data else b"\n"
    lines = data.splitlines(keepends=True)
    end = len(lines)  # first line of the body (after the blank line), or the end
    insert = None
    current: bytes | None = None
    for index, line in enumerate(lines):
        if not line.strip():
            end = index
            break
        match = _HEADER.match(line)
        if match:
            current = match.group(1).lower()
        if current == b"requires-dist":
            insert = index + 1
    at = end if insert is None else insert
    if at and not lines[at - 1].endswith((b"\n", b"\r")):
        lines[at - 1] += newline
    entry = b"Requires-Dist: " + requirement.encode("utf-8") + newline
    return b"".join([*lines[:at], entry, *lines[at:]])
