"""Developer sessions: tests, lint (ruff), typecheck (mypy). `nox -s tests` runs what CI runs."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "src", "tests", "benchmarks")
    session.run("ruff", "format", "--check", "src")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".", "mypy")
    session.run("mypy")


@nox.session
def benchmarks(session: nox.Session) -> None:
    session.install("-e", ".[test,bench]")
    for script in ("bench_show.py", "bench_repair.py", "bench_patch.py", "bench_wheel_copy.py"):
        session.run("python", f"benchmarks/{script}")


@nox.session
def fuzz(session: nox.Session) -> None:
    """The mutation fuzzer for as long as asked: ``nox -s fuzz -- --seconds 600 [--seed N]``."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "tests.fuzz.run", *(session.posargs or ["--seconds", "60"]))
