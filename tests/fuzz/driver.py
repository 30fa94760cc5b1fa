"""Run one wheelrepair command in this process and judge the outcome the way a user would.

A case passes when the command exits 0, 1 or 2, an error is one line on stderr, the input is left as
it was, and the output directory holds nothing but whole wheels. Anything else is a failure: an
exception that is not ours (a traceback for the user), a hang past the time limit, a blow-up in
memory, a multi-line error, a changed input or a left-over temporary file; a command slower than
``SLOW_SECONDS`` or whose peak memory grows by ``MAX_GROWTH`` counts as a hang or blow-up too.
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import signal
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import click

from wheelrepair.cli import main
from wheelrepair.errors import WheelRepairError
from wheelrepair.wheel.archive import WheelArchive

#: A case whose peak memory grows by more than this (seeds are a few KiB) took a header's word for
#: a size or count.
MAX_GROWTH = 256 << 20


#: Seeds are a few KiB and a command on one takes a tenth of a second: one taking this long does
#: work a header asked for rather than work the file needs.
SLOW_SECONDS = 10.0


class Hang(BaseException):
    """Raised by the alarm inside a case that ran past its time limit."""


@dataclass(frozen=True)
class Outcome:
    command: tuple[str, ...]
    exit_code: int | None
    stderr: str
    seconds: float
    #: None when the case passed, else a short stable signature (kind, where) for grouping.
    failure: tuple[str, str] | None = None
    detail: str = ""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"ran past {seconds} s")

    # The CLI installs its own SIGINT/SIGTERM handlers: give the host process (pytest) its own back.
    kept = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        for signum, handler in kept.items():
            signal.signal(signum, handler)


def limit_memory(max_bytes: int) -> None:
    """Cap this process's address space, so a header that declares a huge size ends in MemoryError
    (a failure the fuzzer reports) rather than in the machine swapping."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (max_bytes, hard))


def _where(err: BaseException) -> str:
    """The innermost frame of the traceback: the line that raised."""
    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{os.path.basename(last.filename)}:{last.lineno}:{last.name}"


def _leftovers(directory: Path) -> list[str]:
    if not directory.is_dir():
        return []
    bad = []
    for path in directory.rglob("*"):
        if path.is_dir() or not path.name.endswith(".whl"):
            bad.append(path.name)
            continue
        # A whole wheel opens and validates (structure, RECORD against the zip). Unchanged members are
        # copied as compressed bytes, so damage inside one the input carried is carried over: that is
        # for ``check`` to find, not a torn output.
        try:
            WheelArchive.open(path).close()
        except WheelRepairError:
            bad.append(path.name)
    return bad


def run(
    args: Sequence[str], *, watch: Path | None = None, out_dir: Path | None = None, timeout: float = 30.0
) -> Outcome:
    """Run ``wheelrepair ARGS``; ``watch`` is an input that must not change, ``out_dir`` an output
    directory that must hold only whole wheels afterwards."""
    before = watch.read_bytes() if watch is not None else None
    stderr = io.StringIO()
    stdout = io.StringIO()
    code: int | None = None
    failure: tuple[str, str] | None = None
    detail = ""
    start = time.perf_counter()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout), _time_limit(timeout):
            main.main(list(args), prog_name="wheelrepair", standalone_mode=False)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except click.ClickException as err:
        code = err.exit_code
    except click.exceptions.Exit as err:
        code = err.exit_code
    except Hang as err:
        failure, detail = ("hang", _where(err)), str(err)
    except MemoryError as err:
        failure, detail = ("memory", _where(err)), traceback.format_exc()
    except Exception as err:  # noqa: BLE001 - finding these is the point
        failure, detail = (type(err).__name__, _where(err)), traceback.format_exc()
    seconds = time.perf_counter() - start
    text = stderr.getvalue()
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) * 1024
    if failure is None and seconds > SLOW_SECONDS:
        failure, detail = ("slow", args[0]), f"took {seconds:.1f} s"
    if failure is None and grown > MAX_GROWTH:
        failure, detail = ("memory", args[0]), f"peak memory grew by {grown >> 20} MiB"
    if failure is None:
        lines = [line for line in text.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error:")]
        if code not in (0, 1, 2):
            failure, detail = ("exit-code", str(code)), text
        elif "Traceback" in text:
            failure, detail = ("traceback-text", ""), text
        elif code == 2 and len(errors) != 1:
            failure, detail = ("error-lines", str(len(errors))), text
        elif any(not line.startswith(("error:", "warning:", "WARNING:", "INFO:")) for line in errors[1:]):
            failure, detail = ("error-lines", "continuation"), text
    if failure is None and before is not None and watch is not None and watch.read_bytes() != before:
        failure, detail = ("input-modified", args[0]), ""
    if failure is None and out_dir is not None:
        left = _leftovers(out_dir)
        if left:
            failure, detail = ("partial-output", args[0]), ", ".join(left)
    return Outcome(tuple(args), code, text, seconds, failure, detail)
