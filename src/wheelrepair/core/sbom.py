"""The software bill of materials of a repair (PEP 770): ``<dist>.dist-info/sboms/wheelrepair.cdx.json``,
a CycloneDX 1.6 JSON document listing every library repair copied into the wheel.

Each vendored library is one component: its original name, the file in the wheel with that file's
sha256 (after editing, so it can be checked against RECORD), where it came from on the build machine
with the original's sha256, and, where the host can tell, the operating-system package that owns it
as a package URL (core/owners.py). auditwheel 6.x writes ``auditwheel.cdx.json`` with components only
for libraries whose package it knows, and nothing else about them; this keeps its shape (the wheel as
``metadata.component``, one ``library`` component per vendored file, a dependency list) and adds the
rest, including which vendored library loads which.

A repair of a wheel that already carries our SBOM keeps one document: components whose file is still
in the wheel are carried over (re-hashed if this repair rewrote the file), new ones are added. A
repair that vendors nothing leaves an existing SBOM untouched.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from ..model import INCLUDED, Action, DependencyGraph, RepairPlan
from ..wheel.metadata import WheelMetadata
from .naming import file_sha256
from .owners import OwningPackage, owners

SBOM_NAME = "wheelrepair.cdx.json"
SPEC_VERSION = "1.6"
#: Property names (CycloneDX properties are free-form name/value pairs; ours are prefixed).
FILE, ORIGINAL, SOURCE, FOUND_AS, SOURCE_SHA256, MANAGER, PACKAGE = (
    "wheelrepair:file",
    "wheelrepair:original-name",
    "wheelrepair:source-path",
    "wheelrepair:found-as",
    "wheelrepair:source-sha256",
    "wheelrepair:package-manager",
    "wheelrepair:package",
)


def sbom_member(metadata: WheelMetadata) -> str:
    return f"{metadata.dist_info}/sboms/{SBOM_NAME}"


@dataclass(frozen=True)
class VendoredRecord:
    name: str
    """The dependency name binaries used for it (its soname / install name / DLL name)."""
    member: str
    """Its path in the repaired wheel."""
    sha256: str
    """Of the member as written (after editing)."""
    source: str
    """The host file it was copied from."""
    source_sha256: str
    owner: OwningPackage | None
    #: Members of the vendored libraries it loads.
    depends_on: tuple[str, ...] = ()
    #: The path the loader found, when it is a symlink to ``source`` (``libffi.so.8``).
    found_as: str | None = None


def records_for(
    plan: RepairPlan,
    graph: DependencyGraph,
    written: Mapping[str, Path | bytes],
    hash_file: Callable[[str | Path], str] = file_sha256,
    digests: Mapping[str, str] = MappingProxyType({}),
) -> tuple[list[VendoredRecord], list[str]]:
    """One record per vendored library, and the members of those the wheel's own binaries load.
    ``digests`` holds sha256 hex digests of written members already computed (not hashed again)."""
    dest_of = {v.source: v.dest for v in plan.vendored}
    known = owners(dest_of)
    records = []
    for lib in plan.vendored:
        loads = sorted(
            {
                dest_of[e.path]
                for e in graph.edges_from(lib.source)
                if e.action is Action.VENDOR and e.path in dest_of
            }
        )
        records.append(
            VendoredRecord(
                name=lib.name,
                member=lib.dest,
                sha256=digests.get(lib.dest) or _sha256(written.get(lib.dest, Path(lib.source)), hash_file),
                source=lib.source,
                source_sha256=hash_file(lib.source),
                owner=known.get(lib.source),
                depends_on=tuple(loads),
                found_as=_found_as(graph, lib.source),
            )
        )
    direct = sorted(
        {
            dest_of[e.path]
            for e in graph.edges
            if e.action is Action.VENDOR
            and e.path in dest_of
            # an --include library is asked for by the package itself, not by one of its binaries
            and (e.needed_by == INCLUDED or graph.nodes[e.needed_by].in_wheel)
        }
    )
    return records, direct


def _found_as(graph: DependencyGraph, source: str) -> str | None:
    node = graph.nodes.get(source)
    location = str(node.location) if node is not None else source
    return location if location != source else None


def _sha256(content: Path | bytes, hash_file: Callable[[str | Path], str] = file_sha256) -> str:
    if isinstance(content, bytes):
        return hashlib.sha256(content).hexdigest()
    return hash_file(content)


def build_sbom(
    metadata: WheelMetadata,
    output_name: str,
    records: list[VendoredRecord],
    direct: list[str],
    *,
    tool_version: str,
    existing: bytes | None = None,
    members: Collection[str] = (),
    written: Mapping[str, Path | bytes] | None = None,
) -> bytes:
    """The SBOM document for the repaired wheel ``output_name``. ``existing`` is the SBOM the input
    carried, ``members`` the output's member paths (to drop components whose file is gone) and
    ``written`` what this repair wrote (to re-hash carried-over files it changed)."""
    components: dict[str, dict[str, Any]] = {}
    depends: dict[str, list[str]] = {}
    wheel_depends = [_ref(m) for m in direct]
    if existing is not None:
        kept, kept_depends, kept_direct = _carried_over(existing, members, {r.member for r in records})
        for ref, component in kept.items():
            member = _property(component, FILE)
            if written is not None and member is not None and member in written:
                component["hashes"] = [{"alg": "SHA-256", "content": _sha256(written[member])}]
            components[ref] = component
        depends.update(kept_depends)
        wheel_depends = list(dict.fromkeys([*kept_direct, *wheel_depends]))
    for record in records:
        components[_ref(record.member)] = _component(record)
        depends[_ref(record.member)] = [_ref(m) for m in record.depends_on]
    return _document(metadata, output_name, components, depends, wheel_depends, tool_version)


def merged_sbom(
    metadata: WheelMetadata,
    output_name: str,
    documents: Sequence[bytes],
    *,
    tool_version: str,
    members: Collection[str],
    written: Mapping[str, Path | bytes],
) -> bytes:
    """One SBOM for a wheel merged from wheels that each carried one (``wheelrepair merge``): every
    component whose file the merged wheel holds, re-hashed where the merge wrote the file anew (a
    fused library). A component both documents list keeps the first's description."""
    components: dict[str, dict[str, Any]] = {}
    depends: dict[str, list[str]] = {}
    wheel_depends: list[str] = []
    for existing in documents:
        kept, kept_depends, kept_direct = _carried_over(existing, members, ())
        for ref, component in kept.items():
            if ref in components:
                continue
            member = _property(component, FILE)
            if member is not None and member in written:
                component["hashes"] = [{"alg": "SHA-256", "content": _sha256(written[member])}]
            components[ref] = component
            depends[ref] = kept_depends.get(ref, [])
        wheel_depends += kept_direct
    return _document(metadata, output_name, components, depends, wheel_depends, tool_version)


def _document(
    metadata: WheelMetadata,
    output_name: str,
    components: Mapping[str, dict[str, Any]],
    depends: Mapping[str, list[str]],
    wheel_depends: Sequence[str],
    tool_version: str,
) -> bytes:
    wheel_ref = _pypi_purl(metadata.name, metadata.version, output_name)
    wheel = {
        "type": "library",
        "bom-ref": wheel_ref,
        "name": metadata.name,
        "version": metadata.version,
        "purl": wheel_ref,
    }
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "version": 1,
        "metadata": {
            "component": wheel,
            "tools": {
                "components": [{"type": "application", "name": "wheelrepair", "version": tool_version}]
            },
        },
        "components": [components[ref] for ref in sorted(components)],
        "dependencies": [{"ref": wheel_ref, "dependsOn": sorted(set(wheel_depends))}]
        + [{"ref": ref, "dependsOn": sorted(depends.get(ref, []))} for ref in sorted(components)],
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _ref(member: str) -> str:
    # bom-refs only need to be unique in the document; the member path is, and says what it is.
    return f"file:{member}"


def _component(record: VendoredRecord) -> dict[str, Any]:
    properties = [
        {"name": ORIGINAL, "value": record.name},
        {"name": FILE, "value": record.member},
        {"name": SOURCE, "value": record.source},
        {"name": SOURCE_SHA256, "value": record.source_sha256},
    ]
    if record.found_as:
        properties.append({"name": FOUND_AS, "value": record.found_as})
    component: dict[str, Any] = {"type": "library", "bom-ref": _ref(record.member), "name": record.name}
    owner = record.owner
    if owner is not None:
        if owner.version:
            component["version"] = owner.version
        component["purl"] = owner.purl
        properties += [{"name": MANAGER, "value": owner.manager}, {"name": PACKAGE, "value": owner.name}]
    component["hashes"] = [{"alg": "SHA-256", "content": record.sha256}]
    component["evidence"] = {"occurrences": [{"location": record.member}]}
    component["properties"] = properties
    return component


def _property(component: Mapping[str, Any], name: str) -> str | None:
    for prop in component.get("properties", []):
        if isinstance(prop, dict) and prop.get("name") == name and isinstance(prop.get("value"), str):
            return str(prop["value"])
    return None


def _carried_over(
    existing: bytes, members: Collection[str], replaced: Collection[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]], list[str]]:
    """Components of an earlier SBOM whose file is still in the wheel and not vendored anew, their
    dependency entries, and the wheel's direct dependencies among them. An unreadable SBOM is
    replaced, not merged."""
    try:
        document = json.loads(existing)
        listed = document.get("components", [])
        dependencies = document.get("dependencies", [])
        wheel_ref = document.get("metadata", {}).get("component", {}).get("bom-ref")
    except (ValueError, AttributeError):
        return {}, {}, []
    present = set(members)
    kept: dict[str, dict[str, Any]] = {}
    for component in listed if isinstance(listed, list) else []:
        if not isinstance(component, dict):
            continue
        member = _property(component, FILE)
        ref = component.get("bom-ref")
        if member and isinstance(ref, str) and member in present and member not in replaced:
            kept[ref] = component
    depends: dict[str, list[str]] = {}
    direct: list[str] = []
    for entry in dependencies if isinstance(dependencies, list) else []:
        if not isinstance(entry, dict):
            continue
        ref, on = entry.get("ref"), [d for d in entry.get("dependsOn", []) if isinstance(d, str)]
        if ref in kept:
            depends[str(ref)] = [d for d in on if d in kept]
        elif ref == wheel_ref:
            direct = [d for d in on if d in kept]
    return kept, depends, direct


def _pypi_purl(name: str, version: str, filename: str) -> str:
    # purl's pypi type: lower case, runs of "-_." as "-".
    normalized = re.sub(r"[-_.]+", "-", name).lower()
    return (
        f"pkg:pypi/{quote(normalized, safe='')}@{quote(version, safe='')}"
        f"?file_name={quote(posixpath.basename(filename), safe='')}"
    )


def sbom_for_repair(
    plan: RepairPlan,
    graph: DependencyGraph,
    metadata: WheelMetadata,
    output_name: str,
    members: Collection[str],
    read_member: Callable[[str], bytes],
    written: Mapping[str, Path | bytes],
    tool_version: str,
    hash_file: Callable[[str | Path], str] = file_sha256,
    digests: Mapping[str, str] = MappingProxyType({}),
) -> tuple[str, bytes] | None:
    """(member path, content) of the output's SBOM, or None when this repair vendors nothing (an
    SBOM already in the wheel then stays as it is)."""
    if not plan.vendored:
        return None
    member = sbom_member(metadata)
    records, direct = records_for(plan, graph, written, hash_file, digests)
    existing = read_member(member) if member in members else None
    final = set(members) | set(written)
    content = build_sbom(
        metadata,
        output_name,
        records,
        direct,
        tool_version=tool_version,
        existing=existing,
        members=final,
        written=written,
    )
    return member, content
