"""What the user is told, as plain data: the documented JSON documents of show, check and repair.
The human renderer draws from the same documents, so both always say the same thing."""

from __future__ import annotations

from typing import Any

from ..model import Action, Verdict
from ..policy import platform_name
from .repair import Analysis, RepairResult


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
                "arch": s.binary.arch,
                "size": s.size,
                "needed": list(s.binary.needed),
                "rpath": list(s.binary.rpaths),
                "runpath": list(s.binary.runpaths),
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
            }
            for e in graph.edges
        ],
        "external": list(external.values()),
        "config_file": analysis.options.config_file,
    }


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
            "tags": list(result.tags),
            "libs_dir": plan.libs_dir if plan else None,
            "vendored": [
                {"name": v.name, "source": v.source, "dest": v.dest} for v in (plan.vendored if plan else ())
            ],
            "excluded": sorted({e.name for e in plan.excluded}) if plan else [],
            "copied_to": list(plan.copy_dirs) if plan else [],
            "warnings": list(plan.warnings) if plan else [],
        }
    )
    return report
