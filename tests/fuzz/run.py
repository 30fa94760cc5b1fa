"""The mutation fuzzer: real seed binaries, mutated, run through every command in-process.

    python -m tests.fuzz.run --seconds 600            # as long as asked (nox -s fuzz -- --seconds 600)
    python -m tests.fuzz.run --cases 300 --seed 1     # a fixed slice (what CI runs)

Each case is one seed and a few deterministic mutations (tests/fuzz/mutate.py). Three cases in nine
mutate the binary, tried as a bare file (needed, patch --print, patch with edits) and wrapped in a
valid wheel (show, check, repair); two mutate the zip records of the wheel; three the text of its
WHEEL, RECORD or METADATA inside an otherwise valid zip; one gives the binary a hostile member name. Failures (see driver.py) are grouped by
kind and the line that raised; each distinct one is printed with a reproducer and written to
``--crash-dir`` as JSON. Exit status 1 when any failure was found.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.fuzz.driver import Outcome, limit_memory, run
from tests.fuzz.mutate import Mutation, apply_all, binary_mutations, zip_mutations
from tests.fuzz.seeds import Seed, build_seeds

#: Address-space cap for the fuzzing process: seeds are tiny, so anything near this is a blow-up.
MEMORY_LIMIT = 3 << 30


@dataclass
class Stats:
    cases: int = 0
    commands: int = 0
    failures: dict[tuple[str, str], dict[str, object]] = field(default_factory=dict)
    slowest: tuple[float, str] = (0.0, "")

    def note(self, outcome: Outcome, reproducer: dict[str, object]) -> None:
        self.commands += 1
        if outcome.seconds > self.slowest[0]:
            self.slowest = (outcome.seconds, " ".join(outcome.command[:1]) + f" {reproducer}")
        if outcome.failure is not None and outcome.failure not in self.failures:
            self.failures[outcome.failure] = {**reproducer, "command": list(outcome.command),
                                              "detail": outcome.detail[-3000:]}  # fmt: skip


def _patch_args(seed: Seed, path: Path) -> list[list[str]]:
    edits = [["patch", str(path), "--set-rpath", "$ORIGIN/../demo.libs:$ORIGIN"],
             ["patch", str(path), "--replace-needed", "libfoo.so.1", "libfoo-12345678.so.1"]]  # fmt: skip
    if seed.format == "elf":
        edits.append(["patch", str(path), "--set-soname", "libreplaced-with-a-longer-name.so", "--add-needed",
                      "libextra.so.3"])  # fmt: skip
    if seed.format == "macho":
        edits.append(["patch", str(path), "--id", "@rpath/liba-abcdef12.dylib", "--add-rpath", "@loader_path/x"])
    if seed.format == "pe":
        edits = [["patch", str(path), "--replace-needed", "libA.dll", "libA-0123abcd.dll"]]
    return edits


#: What a case mutates: the binary (then also run bare), the wheel's zip records, or the text of
#: one dist-info file inside an otherwise valid zip.
TARGETS = ("binary", "binary", "binary", "zip", "zip", "WHEEL", "RECORD", "METADATA", "name")
#: Pieces of hostile member names: markup (rich's and others'), quoting, separators, controls,
#: bidirectional marks, non-ASCII.
NAME_PIECES = ("a", ".", "[", "]", "[/]", "[bold]", "[/bold]", "[link=x]", ":", ",", '"', "'", "%s", "{}", "\t",
               "\x7f", "\u202e", "\u00e9", "\u4e2d", " ", "\\x00", "$ORIGIN", "@rpath")  # fmt: skip


def member_name(rng: random.Random) -> str:
    """A member path for the binary that no build backend would write, but a zip can hold."""
    return "demo/" + "".join(rng.choice(NAME_PIECES) for _ in range(rng.randrange(1, 8))) + ".so"


def _rezip(wheel: Path, name: str, mutations: tuple[Mutation, ...]) -> None:
    """Rewrite ``wheel`` with the dist-info file ``name`` mutated (the zip itself stays valid)."""
    with zipfile.ZipFile(wheel) as zf:
        entries = [(info, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries:
            if info.filename.endswith(f".dist-info/{name}"):
                data = apply_all(data, mutations)
            zf.writestr(info, data)


def _dist_info_file(seed: Seed, name: str, work: Path) -> bytes:
    with zipfile.ZipFile(seed.wheel(work / "probe")) as zf:
        return zf.read(next(n for n in zf.namelist() if n.endswith(f".dist-info/{name}")))


def run_case(
    seed: Seed, mutations: tuple[Mutation, ...], target: str, work: Path, stats: Stats, name: str | None = None
) -> None:
    reproducer: dict[str, object] = {"seed": seed.name, "target": target, "mutations": [asdict(m) for m in mutations]}
    if name is not None:
        reproducer["member"] = name
    lib_args = [arg for d in seed.lib_path for arg in ("--lib-path", d)]
    case = Path(tempfile.mkdtemp(dir=work))
    try:
        if target == "binary":
            data = apply_all(seed.binary, mutations)
            bare = case / Path(seed.member).name
            bare.write_bytes(data)
            stats.note(run(["needed", str(bare)], watch=bare), reproducer)
            stats.note(run(["patch", "--print", str(bare)], watch=bare), reproducer)
            for args in _patch_args(seed, bare):
                bare.write_bytes(data)
                stats.note(run(args), reproducer)
            wheel = seed.wheel(case / "src", data)
        elif target == "name":
            wheel = seed.wheel(case / "src", member=name)
        else:
            wheel = seed.wheel(case / "src")
            if target == "zip":
                wheel.write_bytes(apply_all(wheel.read_bytes(), mutations))
            else:
                _rezip(wheel, target, mutations)
        stats.note(run(["show", str(wheel), *lib_args], watch=wheel), reproducer)
        stats.note(run(["check", str(wheel)], watch=wheel), reproducer)
        out = case / "out"
        stats.note(run(["repair", str(wheel), "-w", str(out), *lib_args], watch=wheel, out_dir=out), reproducer)
    finally:
        shutil.rmtree(case, ignore_errors=True)
    stats.cases += 1


def fuzz(seeds: Sequence[Seed], *, seed: int, seconds: float | None, cases: int | None, work: Path) -> Stats:
    rng = random.Random(seed)
    stats = Stats()
    work.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + seconds if seconds is not None else None
    texts: dict[tuple[str, str], bytes] = {}
    while True:
        if cases is not None and stats.cases >= cases:
            break
        if deadline is not None and time.monotonic() >= deadline:
            break
        chosen = seeds[stats.cases % len(seeds)]
        target = rng.choice(TARGETS)
        name = None
        if target == "name":
            name, mutations = member_name(rng), ()
        elif target == "binary":
            mutations = binary_mutations(rng, chosen.binary, chosen.hot)
        elif target == "zip":
            mutations = zip_mutations(rng, chosen.wheel(work / "probe").read_bytes())
        else:
            if (chosen.name, target) not in texts:
                texts[chosen.name, target] = _dist_info_file(chosen, target, work)
            text = texts[chosen.name, target]
            mutations = binary_mutations(rng, text, ((0, len(text)),))
        run_case(chosen, mutations, target, work, stats, name)
    return stats


def report(stats: Stats, out: Path | None) -> None:
    print(f"{stats.cases} cases, {stats.commands} commands, {len(stats.failures)} distinct failures")
    print(f"slowest command: {stats.slowest[0]:.2f} s ({stats.slowest[1]})")
    for (kind, where), info in stats.failures.items():
        print(f"FAIL {kind} at {where}: {json.dumps({k: v for k, v in info.items() if k != 'detail'})}")
        print("    " + str(info["detail"]).strip().replace("\n", "\n    "))
    if out is not None and stats.failures:
        out.mkdir(parents=True, exist_ok=True)
        for index, ((kind, where), info) in enumerate(stats.failures.items()):
            (out / f"crash-{index}.json").write_text(json.dumps({"kind": kind, "where": where, **info}, indent=1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, help="run for this long (default: 60 unless --cases)")
    parser.add_argument("--cases", type=int, help="run this many cases")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same cases)")
    parser.add_argument("--formats", default="elf,macho,pe", help="comma-separated seed formats")
    parser.add_argument("--crash-dir", type=Path, help="write each distinct failure here as JSON")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None or args.cases is not None else 60.0
    with tempfile.TemporaryDirectory(prefix="wheelrepair-fuzz-") as tmp:
        work = Path(tmp)
        seeds = build_seeds(work / "seeds", tuple(args.formats.split(",")))
        if not seeds:
            print("no toolchain to build seeds with", file=sys.stderr)
            return 2
        limit_memory(MEMORY_LIMIT)
        stats = fuzz(seeds, seed=args.seed, seconds=seconds, cases=args.cases, work=work / "cases")
        report(stats, args.crash_dir)
    return 1 if stats.failures else 0


if __name__ == "__main__":
    sys.exit(main())
