"""Human output with rich (trees, tables; colour only on a terminal) and JSON for machines.
Everything it prints comes from the report documents in core/report.py.

Lines are lists of (text, style) pieces, never markup: a member name may hold brackets or ``:name:``
emoji codes, and text is only ever text. Where no colour can show (stdout or stderr is a pipe or a
file, as in CI), the pieces are written as plain lines and rich is never imported: its console and
markup cost ~45 ms of every command, a twentieth of torch's ``show``. Plain lines are never wrapped
or cropped, so a long member path stays whole."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, Union

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

#: A piece of a line: (text, style), or text without a style.
_Piece = tuple[str, str]
_Part = Union[str, _Piece]
#: What makes rich colour (or treat as a terminal) a stream that is not a terminal: with any of
#: these set, output goes through rich as before.
_RICH_ENVIRONMENT = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS", "JUPYTER_LINES")


class _Stream:
    """One of stdout and stderr: plain lines where no colour can show, else a rich Console made
    on first use (``--json`` output and plain output never need rich)."""

    def __init__(self, name: str, **settings: Any) -> None:
        self._name = name
        self._settings = settings
        self._console: Console | None = None

    @property
    def file(self) -> IO[str] | None:
        stream: IO[str] | None = getattr(sys, self._name)
        return stream

    @property
    def plain(self) -> bool:
        """Whether lines go out as plain text (rich would show no colour either)."""
        if self._console is not None:
            return self._console.color_system is None
        stream = self.file
        try:
            terminal = stream is not None and stream.isatty()
        except ValueError:  # a closed stream
            terminal = False
        return not terminal and not any(os.environ.get(k) for k in _RICH_ENVIRONMENT) and "ipykernel" not in sys.modules

    @property
    def encoding(self) -> str:
        return getattr(self.file, "encoding", None) or "utf-8"

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._settings)
        return self._console

    def say(self, *parts: _Part) -> None:
        """One line of ``parts``."""
        self.lines([_pieces(parts)])

    def lines(self, lines: Sequence[Sequence[_Piece]]) -> None:
        """Lines of pieces, never wrapped or cropped."""
        encoding = self.encoding
        if self.plain:
            stream = self.file
            if stream is None:  # pythonw on Windows has no stdout or stderr at all
                return
            stream.write("".join(_shown("".join(text for text, _ in line), encoding) + "\n" for line in lines))
            stream.flush()
            return
        from rich.text import Text

        pieces: list[_Piece] = []
        for line in lines:
            pieces += ((_shown(text, encoding), style) for text, style in line)
            pieces.append(("\n", ""))
        self.console.print(Text.assemble(*pieces[:-1]), soft_wrap=True)


def escape(text: str) -> str:
    """``text`` with rich markup made literal (for what is still printed through rich markup)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


stdout = _Stream("stdout", highlight=False, width=None if sys.stdout is not None and sys.stdout.isatty() else 240)
stderr = _Stream("stderr", stderr=True, highlight=False, soft_wrap=True)


def print_json(document: Any) -> None:
    """Indented for a terminal; on one line when piped, as ``gh`` does: the indenting encoder is
    pure Python (15 ms for torch's 460 KB report, where the C encoder takes 4)."""
    stream = sys.stdout
    if stream is None:
        return
    indent = 2 if stream.isatty() else None
    stream.write(json.dumps(document, indent=indent, sort_keys=False) + "\n")


def size_text(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


#: The dependency tree is drawn as lines of pieces too: rich's Tree with markup labels took
#: 0.19-0.29 s for torch's 1,100 lines, a sixth of its `show`; these take a few hundredths of a second.
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


def show(report: Mapping[str, Any]) -> None:
    encoding = stdout.encoding
    guides = _BOX_GUIDES if _encodes("".join(_BOX_GUIDES[False] + _BOX_GUIDES[True]), encoding) else _ASCII_GUIDES
    stdout.lines(_tree_lines(report, guides))
    _verdict(report)
    for problem in report.get("requirement_problems", []):
        stdout.say(("warning:", "yellow"), f" {problem}")
    _size(report)
    if report.get("config_file"):
        stdout.say((f"options from {report['config_file']}", "dim"))


def _verdict(report: Mapping[str, Any]) -> None:
    verdict = report.get("verdict") or {}
    tag = verdict.get("tag")
    if not report.get("binaries"):
        return
    counts: dict[str, int] = {}
    for entry in report.get("external", []):
        counts[entry["action"]] = counts.get(entry["action"], 0) + 1
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "no external libraries"
    stdout.say(f"External libraries: {summary}")
    if tag:
        also = [t for t in verdict.get("tags", []) if t != tag and t not in tag.split(".")]
        extra = f" (also {', '.join(also)})" if also else ""
        stdout.say("Best tag after repair: ", (tag, "bold green"), extra)
    else:
        stdout.say("Best tag after repair: ", ("none", "bold red"))
    for warning in verdict.get("warnings", []):
        stdout.say(("warning:", "yellow"), f" {warning}")
    rejected = verdict.get("rejected", [])
    if rejected:
        rows = []
        for rejection in rejected:
            reasons = rejection["reasons"]
            text = "; ".join(f"{r['binary']}: {r['detail']}" for r in reasons[:3])
            if len(reasons) > 3:
                text += f"; and {len(reasons) - 3} more"
            rows.append((rejection["tag"], text))
        _table(("more compatible tag", "ruled out by"), rows)
    if verdict.get("error"):
        stdout.say((verdict["error"], "bold red"))


def _table(header: tuple[str, str], rows: Sequence[tuple[str, str]]) -> None:
    """Two columns: plainly, the first padded and the second whole on its line; on a terminal, a
    rich table that wraps the second to the width."""
    if stdout.plain:
        width = max(len(cell) for cell, _ in (header, *rows))
        stdout.lines([[(f"{left:<{width}}  {right}".rstrip(), "")] for left, right in (header, *rows)])
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(*header, box=None, show_header=True, pad_edge=False)
    for left, right in rows:
        table.add_row(Text(_shown(left, stdout.encoding)), Text(_shown(right, stdout.encoding)))
    stdout.console.print(table)


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
    stdout.say(line)
    for copies in size["copies"]:
        stdout.say(
            ("identical copies", "yellow"),
            f" ({size_text(copies['size'])} each, {size_text(copies['wasted'])} wasted): "
            + ", ".join(copies["members"]),
        )
    if size["copies"]:
        stdout.say(("repair --dedupe drops the versioned copies no binary loads", "dim"))
    if size["over_pypi_limit"]:
        stdout.say(
            ("warning:", "yellow"),
            f" about {size_text(size['estimated_output'])} after repair, over PyPI's default "
            f"file size limit of {size_text(size['pypi_limit'])}",
        )


def check(report: Mapping[str, Any]) -> None:
    if report["ok"]:
        stdout.say(report["wheel"], ": ", ("ok", "green"), " (self-contained, tags hold)")
    else:
        for problem in report["problems"]:
            stdout.say((problem, "red"))


def repair(report: Mapping[str, Any]) -> None:
    if not report["changed"]:
        stdout.say(f"{report['wheel']}: already self-contained, nothing to change -> {report['output']}")
        for warning in report.get("warnings", []):
            stderr.say(("warning:", "yellow"), f" {warning}")
        return
    lines: list[list[_Part]] = [
        [report["wheel"], " -> ", (report["output"], "bold")],
        [f"  tags: {', '.join(report.get('tags', []))}"],
    ]
    for move in report.get("moved_scripts", []):
        lines.append([f"  moved {move['from']} to {move['to']} (a launcher runs it from scripts/)"])
    for item in report.get("vendored", []):
        lines.append([f"  vendored {item['name']} from {item['source']} as {item['dest']}"])
    for name in report.get("excluded", []):
        lines.append(["  ", ("excluded", "cyan"), f" {name} (stays external)"])
    for item in report.get("provided", []):
        lines.append(["  ", ("provided", "blue"), f" {item['name']} by {item['provider'] or ''} ({item['path'] or ''})"])
    for item in report.get("drivers", []):
        lines.append(["  ", ("driver", "cyan"), f" {item['name']}: {item['note'] or ''}"])
    for requirement in report.get("added_requires", []):
        lines.append([f"  added Requires-Dist: {requirement}"])
    stdout.lines([_pieces(line) for line in lines])
    for warning in report.get("warnings", []):
        stderr.say(("warning:", "yellow"), f" {warning}")


def merge(report: Mapping[str, Any]) -> None:
    first, second = (path.rsplit("/", 1)[-1] for path in report["inputs"])
    stdout.say(f"{first} + {second} -> ", (report["output"], "bold"))
    stdout.say(f"  tags: {', '.join(report['tags'])}")
    for member in report.get("fused", []):
        stdout.say(f"  fused {member}")
    for member in report.get("added", []):
        stdout.say(f"  added {member}")
    for warning in report.get("warnings", []):
        stderr.say(("warning:", "yellow"), f" {warning}")


def needed(rows: Mapping[str, Any]) -> None:
    by_arch = rows.get("min_os_by_arch") or {}
    for key in ("soname", "install_name", "export_name", "arch", "interpreter", "min_os"):
        if key == "min_os" and len(by_arch) > 1:
            # a fat file: each slice has its own minimum, and the tag follows each
            stdout.say("min_os: " + ", ".join(f"{arch} {version}" for arch, version in by_arch.items()))
        elif rows.get(key):
            stdout.say(f"{key}: {rows[key]}")
    for name in rows.get("needed", []):
        stdout.say(name)


def _pieces(parts: Sequence[_Part]) -> list[_Piece]:
    return [(p, "") if isinstance(p, str) else p for p in parts]


def policies(rows: Sequence[Mapping[str, Any]]) -> None:
    from rich.table import Table

    table = Table("tag", "aliases", "platform", "summary", box=None)
    for row in rows:
        table.add_row(row["tag"], ", ".join(row["aliases"]), row["platform"], row["summary"])
    stdout.console.print(table)


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
    stderr.say(("error:", "bold red"), f" {message}")
