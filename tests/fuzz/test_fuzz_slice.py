"""CI's slice of the mutation fuzzer: a fixed seed and a fixed number of cases through every command,
in this process (``nox -s fuzz`` runs the same fuzzer for as long as asked)."""

from __future__ import annotations

from pathlib import Path

from tests.fuzz.run import fuzz, report
from tests.fuzz.seeds import Seed

#: About 10 s on an idle core (30 s on a busy one) of the CI machine.
CASES = 300


def test_fixed_seed_slice_finds_nothing(seeds: dict[str, Seed], tmp_path: Path) -> None:
    stats = fuzz(list(seeds.values()), seed=20261201, seconds=None, cases=CASES, work=tmp_path)
    report(stats, None)
    assert stats.cases == CASES and stats.commands >= 3 * CASES
    assert not stats.failures, sorted(stats.failures)
