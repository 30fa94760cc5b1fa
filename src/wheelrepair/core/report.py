"""What the user is told, as plain data: the documented JSON documents of show, check and repair.
The human renderer draws from the same documents, so both always say the same thing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..model import Action, Verdict
from ..policy import platform_name
from .repair import Analysis, RepairResult
from .sizes import PYPI_LIMIT

if TYPE_CHECKING:
    from .merge import MergeResult


def _verdict(verdict: Verdict) -> dict[str, Any]:
    return {
        "tag": verdict.tag,
        "tags": list(verdict.tags),
        "rejected": [
            {"tag": r.tag, "reasons": [{"binary": x.binary, "detail": x.detail} for x in r.reasons]}
            for r in verdict.rejected
        ],
        "warnings": list(verdict.warnings),
        "error": verdict.error,
    }


def show_report(analysis: Analysis) -> dict[str, Any]:
    graph = analysis.graph
    external: dict[tuple[str, str | None, str], dict[str, Any]] = {}
    for edge in graph.edges:
        if edge.action is Action.IN_WHEEL:
            continue
        key = (edge.name, edge.path, edge.action.value)
        entry = external.setdefault(
            key,
            {
                "name": edge.name,
                "path": edge.path,
                "action": edge.action.value,
                "needed_by": [],
                "size": graph.nodes[edge.path].size
                if edge.path is not None and edge.path in graph.nodes
                else None,
                "weak": edge.weak,
                "searched": list(edge.searched),
                **_provider_fields(analysis, edge.provider, edge.note),
            },
        )
        if edge.needed_by not in entry["needed_by"]:
            entry["needed_by"].append(edge.needed_by)
        entry["weak"] = entry["weak"] and edge.weak
    in_wheel = [
        {"name": e.name, "path": e.path, "needed_by": e.needed_by, "reachable": e.reachable}
        for e in graph.edges
        if e.action is Action.IN_WHEEL
    ]
    return {
        "wheel": analysis.metadata.filename,
        "platform": platform_name(analysis.format) if analysis.format else None,
        "tag": analysis.verdict.tag,
        "current_tags": list(analysis.metadata.platform_tags),
        "verdict": _verdict(analysis.verdict),
        "binaries": [
            {
                "path": s.member,
                "format": s.format,
                "exec_stack": s.binary.exec_stack,
                "arch": s.binary.arch,
                "size": s.size,
                "needed": list(s.binary.needed),
                "rpath": list(s.binary.rpaths),
                "runpath": list(s.binary.runpaths),
                "min_os_by_arch": s.binary.min_os_by_arch,
            }
            for s in analysis.scanned
        ],
        "in_wheel": in_wheel,
        "edges": [
            {
                "needed_by": e.needed_by,
                "name": e.name,
                "path": e.path,
                "action": e.action.value,
                "weak": e.weak,
                "reachable": e.reachable,
                **_provider_fields(analysis, e.provider, e.note),
            }
            for e in graph.edges
        ],
        "external": list(external.values()),
        "config_file": analysis.options.config_file,
        "providers": [
            {"name": p.name, "version": p.version, "source": p.source} for p in analysis.providers.providers
        ],
        "requirement_problems": list(analysis.requirement_problems),
    }


def _provider_fields(analysis: Analysis, provider: str | None, note: str | None) -> dict[str, Any]:
    """``provider``/``provider_version`` for a provided library, ``note`` for a driver library or
    a provider's library that was not used; absent otherwise, so other documents stay as they were."""
    fields: dict[str, Any] = {}
    if provider is not None:
        found = analysis.provider(provider)
        fields["provider"] = provider
        fields["provider_version"] = found.version if found else None
    if note is not None:
        fields["note"] = note
    return fields


def check_report(analysis: Analysis, problems: tuple[str, ...]) -> dict[str, Any]:
    report = show_report(analysis)
    report["ok"] = not problems
    report["problems"] = list(problems)
    return report


def repair_report(result: RepairResult) -> dict[str, Any]:
    plan = result.plan
    report = show_report(result.analysis)
    report.update(
        {
            "output": str(result.output),
            "changed": result.changed,
            "moved_scripts": [{"from": m.member, "to": m.dest} for m in result.moved_scripts],
            "sbom": result.sbom,
            "tags": list(result.tags),
            "libs_dir": plan.libs_dir if plan else None,
            "vendored": [
                {"name": v.name, "source": v.source, "dest": v.dest} for v in (plan.vendored if plan else ())
            ],
            "excluded": sorted({e.name for e in plan.excluded}) if plan else [],
            "provided": _provided(result),
            "drivers": _drivers(result),
            "added_requires": list(result.added_requires),
            "copied_to": list(plan.copy_dirs) if plan else [],
            "warnings": (list(plan.warnings) if plan else [])
            + [
                f"dropped {member}: identical to {kept}, which binaries load; none needs it under its own name"
                for member, kept in result.dropped
            ],
            "dropped": [{"member": member, "kept": kept} for member, kept in result.dropped],
        }
    )
    report["size"] = output_size(result.output)
    if report["size"]["over_pypi_limit"]:
        report["warnings"].append(_over_limit(report["size"]["wheel"]))
    return report


def merge_report(result: MergeResult) -> dict[str, Any]:
    return {
        "wheel": result.inputs[0].name,
        "inputs": [str(p) for p in result.inputs],
        "output": str(result.output),
        "tags": list(result.tags),
        "fused": list(result.fused),
        "added": list(result.added),
        "warnings": list(result.warnings),
    }


def _provided(result: RepairResult) -> list[dict[str, Any]]:
    """Each library taken from a provider once: name, provider, its path in the provider."""
    seen: dict[tuple[str, str | None], dict[str, Any]] = {}
    for edge in result.analysis.graph.edges:
        if edge.action is Action.PROVIDED:
            seen.setdefault(
                (edge.name, edge.path), {"name": edge.name, "provider": edge.provider, "path": edge.path}
            )
    return list(seen.values())


def _drivers(result: RepairResult) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for edge in result.analysis.graph.edges:
        if edge.action is Action.DRIVER:
            seen.setdefault(edge.name, {"name": edge.name, "note": edge.note})
    return list(seen.values())


def _over_limit(size: int) -> str:
    return (
        f"the repaired wheel is {size / 2**20:.1f} MiB, over PyPI's default file size limit of "
        f"{PYPI_LIMIT // 2**20} MiB (a project can ask PyPI for more)"
    )


def output_size(output: Path) -> dict[str, Any]:
    """The ``size`` object of repair's JSON: what was written, against PyPI's default limit."""
    size = output.stat().st_size if output.exists() else 0
    return {"wheel": size, "pypi_limit": PYPI_LIMIT, "over_pypi_limit": size > PYPI_LIMIT}
