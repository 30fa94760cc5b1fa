"""wheelrepair: make binary wheels self-contained on Linux, macOS and Windows, from any host.

Public API: ``inspect_wheel`` (what ``show`` prints), ``check_wheel``, ``repair_wheel``; each returns
the documented JSON-compatible report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .options import RepairOptions

__version__ = "0.1.0"


def inspect_wheel(wheel: str | Path, options: RepairOptions | None = None) -> dict[str, Any]:
    from .core.scan import start_scan
    from .wheel.archive import WheelArchive

    with WheelArchive.open(wheel) as archive, start_scan(archive) as scanning:
        # Imported while the scan's workers read the wheel (see ScanInProgress).
        from .core.repair import analyze
        from .core.report import show_report
        from .core.sizes import size_report

        analysis = analyze(archive, options or RepairOptions(), scanning=scanning)
        report = show_report(analysis)
        report["size"] = size_report(archive, analysis.graph)
        return report


def check_wheel(wheel: str | Path, options: RepairOptions | None = None) -> dict[str, Any]:
    """Resolve the wheel with only its own contents, its providers and what its platform provides."""
    from .core.scan import start_scan
    from .wheel.archive import WheelArchive

    options = options or RepairOptions()
    with WheelArchive.open(wheel) as archive, start_scan(archive, verify=True) as scanning:
        # Imported while the scan's workers hash every member and read the binaries.
        from .core.repair import analyze, check_analysis
        from .core.report import check_report

        wheel_only = RepairOptions(
            exclude=options.exclude, provider=options.provider, provider_path=options.provider_path
        )
        analysis = analyze(archive, wheel_only, allow_host=False, scanning=scanning)
        return check_report(analysis, check_analysis(analysis))


def repair_wheel(
    wheel: str | Path, out_dir: str | Path, options: RepairOptions | None = None
) -> dict[str, Any]:
    from .core.scan import start_scan
    from .wheel.archive import WheelArchive

    with WheelArchive.open(wheel) as archive, start_scan(archive) as scanning:
        # Imported while the scan's workers read the wheel (see ScanInProgress).
        from .core.repair import repair
        from .core.report import repair_report

        return repair_report(repair(Path(wheel), Path(out_dir), options or RepairOptions(), scanning))


__all__ = ["RepairOptions", "__version__", "check_wheel", "inspect_wheel", "repair_wheel"]
