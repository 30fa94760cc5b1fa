"""What a `--provider` costs: `show` and `repair` of an extension built against a real provider wheel
(the CUDA runtime, 3.5 MB; OpenBLAS, 7.9 MB with a 25 MB library), with and without the provider,
wall time and peak memory, same run. No other tool links to providers, so there is no reference.

    python benchmarks/bench_providers.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _common import best_of

from tests.fixtures.providers import CASES, Consumer


def main() -> None:
    print(f"{'consumer':10} {'command':28} {'s':>6} {'MiB':>6}")
    with tempfile.TemporaryDirectory() as scratch:
        for key in sorted(CASES):
            consumer = Consumer(CASES[key], Path(scratch) / key, (CASES[key].name,))
            base = [sys.executable, "-m", "wheelrepair"]
            runs = {
                "show": [*base, "show", "--json", str(consumer.wheel)],
                "show --provider": [*base, "show", "--json", str(consumer.wheel), "--provider", str(consumer.provider)],
                "repair --provider": [*base, "repair", str(consumer.wheel), "-w", str(Path(scratch) / "out"),
                                      "--provider", str(consumer.provider)],
            }  # fmt: skip
            for label, cmd in runs.items():
                seconds, peak = best_of(3, cmd)
                print(f"{key:10} {label:28} {seconds:6.2f} {peak / 1024:6.0f}")


if __name__ == "__main__":
    main()
