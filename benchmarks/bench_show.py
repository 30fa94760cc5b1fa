"""`wheelrepair show` vs `auditwheel show` on large real wheels: wall time and peak memory, same run;
then, for the local torch wheel, `wheelrepair repair` against `wheelrepair show` of the same wheel.
Both shows print their human text (piped, as in a CI log); `show --json` is timed beside it.

    python benchmarks/bench_show.py            # scipy (downloaded once) and the local torch wheel
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _common import best_of, bin_of

from tests.fixtures.pypi import fetch_wheel, local_torch_wheel

ROUNDS = 7


def main() -> None:
    wheels = [fetch_wheel("scipy==1.17.1", ["manylinux_2_28_x86_64", "manylinux2014_x86_64"])]
    torch = local_torch_wheel()
    if torch is not None:
        wheels.append(torch)
    print(f"{'wheel':58} {'MB':>6} {'ours s':>8} {'--json s':>9} {'auditwheel s':>13} {'ratio':>7} {'ours MiB':>9} "
          f"{'aw MiB':>8}")

    for wheel in wheels:
        size = wheel.stat().st_size / 1e6
        ours, ours_mem = best_of(3, [sys.executable, "-m", "wheelrepair", "show", str(wheel)])
        as_json, _ = best_of(3, [sys.executable, "-m", "wheelrepair", "show", "--json", str(wheel)])
        theirs, theirs_mem = best_of(1, [bin_of("auditwheel"), "show", str(wheel)])
        print(f"{Path(wheel).name[:58]:58} {size:6.0f} {ours:8.2f} {as_json:9.2f} {theirs:13.2f} {theirs / ours:6.1f}x "
              f"{ours_mem / 1024:9.0f} {theirs_mem / 1024:8.0f}")
    if torch is not None:
        # This machine's speed drifts over the minute auditwheel takes: the repair is timed against a
        # show timed beside it, alternating, best of ROUNDS each.
        show_cmd = [sys.executable, "-m", "wheelrepair", "show", str(torch)]
        with tempfile.TemporaryDirectory() as out:
            repair_cmd = [sys.executable, "-m", "wheelrepair", "repair", "--json", "-w", out, str(torch)]
            pairs = [(best_of(1, show_cmd), best_of(1, repair_cmd, output_dir=Path(out))) for _ in range(ROUNDS)]
            show = min(s for (s, _), _ in pairs)
            repair, repair_mem = min(r for _, (r, _) in pairs), max(m for _, (_, m) in pairs)
            written = next(Path(out).glob("*.whl"))
            print(f"torch repair {repair:.2f} s, peak {repair_mem / 1024:.0f} MiB: {repair / show:.2f}x its show "
                  f"({show:.2f} s; best of {ROUNDS} each, alternated); output {written.stat().st_size / 1e6:.0f} MB "
                  f"from {torch.stat().st_size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
