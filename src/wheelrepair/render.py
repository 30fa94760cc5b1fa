"""Human output with rich (trees, tables; colour only on a terminal) and JSON for machines.
Everything it prints comes from the report documents in core/report.py."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import one_line

if TYPE_CHECKING:
    from rich.console import Console

_STYLE = {
    "in-wheel": "green",
    "system": "dim",
    "vendor": "yellow",
    "excluded": "cyan",
    "missing": "bold red",
    "remove": "magenta",
    "provided": "blue",
    "driver": "cyan",
}

# Piped output (CI logs, files) is not cropped to 80 columns: long member paths stay whole.


class _LazyConsole:
    """A rich Console made on first use: ``--json`` output and most errors never need rich, whose
    import is a fifth of the start-up time of a command."""

    def __init__(self, **settings: Any) -> None:
        self._settings = settings
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._settings)
        return self._console

    def print(self, *objects: Any, **settings: Any) -> None:
        self.console.print(*objects, **settings)


def escape(text: str) -> str:
    """``text`` with rich markup made literal."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


stdout = _LazyConsole(highlight=False, width=None if sys.stdout.isatty() else 240)
stderr = _LazyConsole(stderr=True, highlight=False, soft_wrap=True)


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")


def size_text(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


#: A line of the dependency tree as (text, style) pieces: written plainly when stdout shows no
#: colour, else as one rich Text. Rich's Tree with markup labels took 0.19-0.29 s for torch's
#: 1,100 lines, a sixth of its `show`; these take a few hundredths of a second.
_Piece = tuple[str, str]
#: (branch, what continues below it) for the last child (True) and the others (False).
_Guides = dict[bool, tuple[str, str]]
_BOX_GUIDES: _Guides = {True: ("└── ", "    "), False: ("├── ", "│   ")}
#: For an output that cannot encode box drawing (a Windows pipe in cp1252), as rich draws then.
_ASCII_GUIDES: _Guides = {True: ("`-- ", "    "), False: ("+-- ", "|   ")}


def _label(edge: Mapping[str, Any], sizes: Mapping[str, int | None]) -> list[_Piece]:
    action = edge["action"]
    pieces: list[_Piece] = [(edge["name"], ""), ("  ", ""), (action, _STYLE.get(action, ""))]
    path = edge.get("path")
    if path and path != edge["name"]:
        pieces += [("  ", ""), (path, "dim")]
    if action == "vendor" and path is not None and path in sizes:
        pieces.append((f"  {size_text(sizes[path])}", ""))
    if edge.get("provider"):
        pieces.append((f"  by {edge['provider']} {edge.get('provider_version') or ''}".rstrip(), ""))
    if edge.get("note"):
        pieces += [("  ", ""), (f"({edge['note']})", "dim")]
    if edge.get("weak"):
        pieces += [("  ", ""), ("(weak)", "dim")]
    if not edge.get("reachable", True):
        pieces += [("  ", ""), ("(found by name only: not on the loader's search path from here)", "yellow")]
    return pieces


def _tree_lines(report: Mapping[str, Any], guides: _Guides = _BOX_GUIDES) -> list[list[_Piece]]:
    """The dependency tree: each binary, what it needs, and what each vendored library needs in turn
    (a library already on the path from the root is not expanded again)."""
    title: list[_Piece] = [(report["wheel"], "bold")]
    if report.get("platform"):
        title.append((f"  ({report['platform']})", ""))
    children: dict[str, list[Mapping[str, Any]]] = {}
    for edge in report.get("edges", []):
        children.setdefault(edge["needed_by"], []).append(edge)
    sizes = {e["path"]: e.get("size") for e in report.get("external", []) if e.get("path")}
    lines = [title]

    def grow(indent: str, key: str, seen: frozenset[str]) -> None:
        edges = children.get(key, [])
        for index, edge in enumerate(edges):
            branch, below = guides[index == len(edges) - 1]
            lines.append([(indent + branch, ""), *_label(edge, sizes)])
            path = edge.get("path")
            if edge["action"] == "vendor" and path and path not in seen:
                grow(indent + below, path, seen | {path})

    # Each top-level line with the key of what grows under it and the paths already on its way.
    tops: list[tuple[list[_Piece], str, frozenset[str]]] = []
    for binary in report.get("binaries", []):
        minimums = binary.get("min_os_by_arch") or {}
        macos = (", macOS " + ", ".join(f"{a} {v}" for a, v in minimums.items())) if minimums else ""
        path = binary["path"]
        pieces = [(path, "bold"), ("  ", ""), (f"{binary['arch']}, {size_text(binary['size'])}{macos}", "dim")]
        tops.append((pieces, path, frozenset({path})))
    if "--include" in children:  # libraries asked for with --include, linked by no binary
        tops.append(([("--include", "bold")], "--include", frozenset()))
    if not report.get("binaries"):
        tops.append(([("no binaries for its platform", "dim")], "", frozenset()))
    for index, (pieces, key, seen) in enumerate(tops):
        branch, below = guides[index == len(tops) - 1]
        lines.append([(branch, ""), *pieces])
        grow(below, key, seen)
    return lines


def _encodes(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _shown(text: str, encoding: str) -> str:
    """``text`` as stdout can show it: control characters escaped (a member name may hold a newline
    or a carriage return that would forge or hide tree lines), what the encoding lacks escaped too."""
    text = one_line(text, limit=sys.maxsize)
    return text if _encodes(text, encoding) else text.encode(encoding, "backslashreplace").decode(encoding)


def _print_lines(lines: Sequence[Sequence[_Piece]], encoding: str) -> None:
    """Lines of pieces on stdout, never wrapped or cropped: a long member path stays whole."""
    console = stdout.console
    if console.color_system is None:
        sys.stdout.write("".join(_shown("".join(text for text, _ in line), encoding) + "\n" for line in lines))
        return
    from rich.text import Text

    pieces: list[_Piece] = []
    for line in lines:
        pieces += ((_shown(text, encoding), style) for text, style in line)
        pieces.append(("\n", ""))
    console.print(Text.assemble(*pieces[:-1]), soft_wrap=True)


def show(report: Mapping[str, Any]) -> None:
    encoding = stdout.console.encoding
    guides = _BOX_GUIDES if _encodes("".join(_BOX_GUIDES[False] + _BOX_GUIDES[True]), encoding) else _ASCII_GUIDES
    _print_lines(_tree_lines(report, guides), encoding)
    _verdict(report)
    for problem in report.get("requirement_problems", []):
        stdout.print(f"[yellow]warning:[/] {escape(problem)}")
    _size(report)
    if report.get("config_file"):
        stdout.print(f"[dim]options from {escape(report['config_file'])}[/]")


def _verdict(report: Mapping[str, Any]) -> None:
    verdict = report.get("verdict") or {}
    tag = verdict.get("tag")
    if not report.get("binaries"):
        return
    counts: dict[str, int] = {}
    for entry in report.get("external", []):
        counts[entry["action"]] = counts.get(entry["action"], 0) + 1
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "no external libraries"
    stdout.print(f"External libraries: {summary}")
    if tag:
        also = [t for t in verdict.get("tags", []) if t != tag and t not in tag.split(".")]
        extra = f" (also {', '.join(also)})" if also else ""
        stdout.print(f"Best tag after repair: [bold green]{escape(tag)}[/]{escape(extra)}")
    else:
        stdout.print("Best tag after repair: [bold red]none[/]")
    for warning in verdict.get("warnings", []):
        stdout.print(f"[yellow]warning:[/] {escape(warning)}")
    rejected = verdict.get("rejected", [])
    if rejected:
        from rich.table import Table

        table = Table("more compatible tag", "ruled out by", box=None, show_header=True, pad_edge=False)
        for rejection in rejected:
            reasons = rejection["reasons"]
            text = "; ".join(f"{r['binary']}: {r['detail']}" for r in reasons[:3])
            if len(reasons) > 3:
                text += f"; and {len(reasons) - 3} more"
            table.add_row(escape(rejection["tag"]), escape(text))
        stdout.print(table)
    if verdict.get("error"):
        stdout.print(f"[bold red]{escape(verdict['error'])}[/]")


def _size(report: Mapping[str, Any]) -> None:
    size = report.get("size")
    if not size:
        return
    line = f"Size: {size_text(size['wheel'])}"
    if size["added"]:
        line += (
            f"; repair adds {size_text(size['added'])} of libraries "
            f"(about {size_text(size['estimated_output'])} after repair)"
        )
    stdout.print(line)
    for copies in size["copies"]:
        names = escape(", ".join(copies["members"]))
        stdout.print(
            f"[yellow]identical copies[/] ({size_text(copies['size'])} each, "
            f"{size_text(copies['wasted'])} wasted): {names}"
        )
    if size["copies"]:
        stdout.print("[dim]repair --dedupe drops the versioned copies no binary loads[/]")
    if size["over_pypi_limit"]:
        stdout.print(
            f"[yellow]warning:[/] about {size_text(size['estimated_output'])} after repair, over PyPI's default "
            f"file size limit of {size_text(size['pypi_limit'])}"
        )


def check(report: Mapping[str, Any]) -> None:
    if report["ok"]:
        stdout.print(f"{escape(report['wheel'])}: [green]ok[/] (self-contained, tags hold)")
    else:
        for problem in report["problems"]:
            stdout.print(f"[red]{escape(problem)}[/]")


def repair(report: Mapping[str, Any]) -> None:
    if not report["changed"]:
        stdout.print(
            escape(f"{report['wheel']}: already self-contained, nothing to change -> {report['output']}")
        )
        return
    vendored = report.get("vendored", [])
    stdout.print(f"{escape(report['wheel'])} -> [bold]{escape(report['output'])}[/]")
    stdout.print(f"  tags: {escape(', '.join(report.get('tags', [])))}")
    for move in report.get("moved_scripts", []):
        stdout.print(escape(f"  moved {move['from']} to {move['to']} (a launcher runs it from scripts/)"))
    for item in vendored:
        stdout.print(escape(f"  vendored {item['name']} from {item['source']} as {item['dest']}"))
    for name in report.get("excluded", []):
        stdout.print(f"  [cyan]excluded[/] {escape(name)} (stays external)")
    for item in report.get("provided", []):
        stdout.print(
            f"  [blue]provided[/] {escape(item['name'])} by {escape(item['provider'] or '')} "
            f"({escape(item['path'] or '')})"
        )
    for item in report.get("drivers", []):
        stdout.print(f"  [cyan]driver[/] {escape(item['name'])}: {escape(item['note'] or '')}")
    for requirement in report.get("added_requires", []):
        stdout.print(f"  added Requires-Dist: {escape(requirement)}")
    for warning in report.get("warnings", []):
        stderr.print(f"[yellow]warning:[/] {escape(warning)}")


def merge(report: Mapping[str, Any]) -> None:
    first, second = (path.rsplit("/", 1)[-1] for path in report["inputs"])
    stdout.print(f"{escape(first)} + {escape(second)} -> [bold]{escape(report['output'])}[/]")
    stdout.print(f"  tags: {escape(', '.join(report['tags']))}")
    for member in report.get("fused", []):
        stdout.print(f"  fused {escape(member)}")
    for member in report.get("added", []):
        stdout.print(f"  added {escape(member)}")
    for warning in report.get("warnings", []):
        stderr.print(f"[yellow]warning:[/] {escape(warning)}")


def needed(rows: Mapping[str, Any]) -> None:
    by_arch = rows.get("min_os_by_arch") or {}
    for key in ("soname", "install_name", "export_name", "arch", "interpreter", "min_os"):
        if key == "min_os" and len(by_arch) > 1:
            # a fat file: each slice has its own minimum, and the tag follows each
            stdout.print(escape("min_os: " + ", ".join(f"{arch} {version}" for arch, version in by_arch.items())))
        elif rows.get(key):
            stdout.print(escape(f"{key}: {rows[key]}"))
    for name in rows.get("needed", []):
        stdout.print(escape(name))


def policies(rows: Sequence[Mapping[str, Any]]) -> None:
    from rich.table import Table

    table = Table("tag", "aliases", "platform", "summary", box=None)
    for row in rows:
        table.add_row(row["tag"], ", ".join(row["aliases"]), row["platform"], row["summary"])
    stdout.print(table)


class ProgressBars:
    """progress.Reporter drawn with rich on stderr; the bars vanish when their work is done."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TimeRemainingColumn(),
            console=stderr.console,
            transient=True,
        )
        self._tasks: dict[str, Any] = {}

    def start(self, description: str, total: int) -> Callable[[int], None]:
        if not self._tasks:
            self._progress.start()
        task = self._progress.add_task(description, total=total)
        self._tasks[description] = task
        return lambda count: self._progress.advance(task, count)

    def finish(self, description: str) -> None:
        task = self._tasks.pop(description, None)
        if task is not None:
            self._progress.remove_task(task)
        if not self._tasks:
            self._progress.stop()


def error(message: str) -> None:
    # Messages quote file and member names, which may hold anything, brackets included.
    stderr.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
