"""Properties of the readers, the editors and the zip layer on mutated real inputs (hypothesis,
derandomized so CI runs the same examples every time):

- a reader returns a Binary or raises InvalidBinary, within a bounded time, whatever the bytes;
- an edit either applies and the file re-reads to exactly the intended values, or is refused with
  one of our errors and the file is left as it was;
- the zip layer opens a mutated wheel and reads every member, or refuses with InvalidWheel; what it
  accepts, the writer copies into a wheel that opens again with the same members.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.fuzz.mutate import Mutation, apply_all
from tests.fuzz.seeds import Seed
from tests.fuzz.strategies import NAMES, PATHS, mutations, zip_mutations
from wheelrepair.errors import InvalidBinary, InvalidWheel, WheelRepairError
from wheelrepair.formats import backend_named
from wheelrepair.formats.base import PatchRequest
from wheelrepair.model import Binary
from wheelrepair.wheel.archive import WheelArchive
from wheelrepair.wheel.writer import write_wheel

SEEDS = ["elf-libbar", "elf-main", "macho-ext", "macho-fat", "pe-ext"]
#: A reader's work is bounded by the file, not by what its headers claim: far below this.
READ_SECONDS = 2.0
PROPS = settings(
    derandomize=True,
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _seed(seeds: dict[str, Seed], name: str) -> Seed:
    if name not in seeds:
        pytest.skip(f"no toolchain for {name}")
    return seeds[name]


@pytest.mark.parametrize("name", SEEDS)
@PROPS
@given(data=st.data())
def test_reader_returns_a_binary_or_invalid_binary(seeds: dict[str, Seed], name: str, data: st.DataObject) -> None:
    seed = _seed(seeds, name)
    mutated = apply_all(seed.binary, data.draw(mutations(seed.binary, seed.hot)))
    backend = backend_named(seed.format)
    start = time.perf_counter()
    try:
        binary = backend.read(mutated, "lib")
    except InvalidBinary as err:
        event("refused")
        assert str(err).startswith("lib: ") and "\n" not in str(err)
    else:
        event("read")
        assert isinstance(binary, Binary) and all(isinstance(n, str) for n in binary.needed)
    assert time.perf_counter() - start < READ_SECONDS


def _edit(seed: Seed, data: st.DataObject, current: Binary) -> PatchRequest:
    replace: tuple[tuple[str, str], ...] = ()
    if current.needed:
        old = data.draw(st.sampled_from(current.needed))
        new = data.draw(NAMES.map(lambda n: f"{n}.dll" if seed.format == "pe" else n))
        replace = ((old, new),)
    if seed.format == "pe":
        return PatchRequest(replace_needed=replace)
    rpaths = data.draw(st.one_of(st.none(), PATHS))
    soname = None
    if current.soname is not None and data.draw(st.booleans()):
        soname = data.draw(NAMES)
    return PatchRequest(replace_needed=replace, set_rpath=None if rpaths is None else tuple(rpaths), set_soname=soname)


@pytest.mark.parametrize("name", SEEDS)
@PROPS
@given(data=st.data())
def test_edit_applies_exactly_or_is_refused(seeds: dict[str, Seed], name: str, data: st.DataObject) -> None:
    seed = _seed(seeds, name)
    backend = backend_named(seed.format)
    mutated = seed.binary
    if data.draw(st.booleans()):
        mutated = apply_all(seed.binary, data.draw(mutations(seed.binary, seed.hot)))
    try:
        current = backend.read(mutated, "lib")
    except InvalidBinary:
        current = backend.read(seed.binary, "lib")  # edit what the seed holds; the file may refuse
    request = _edit(seed, data, current)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lib"
        path.write_bytes(mutated)
        try:
            backend.patch(path, request)
        except WheelRepairError as err:
            event(f"refused: {type(err).__name__}")
            assert "\n" not in str(err)
            assert path.read_bytes() == mutated, "a refused edit must leave the file as it was"
            assert sorted(p.name for p in Path(tmp).iterdir()) == ["lib"]
            return
        after = backend.read(path.read_bytes(), "lib")
    event("applied")
    for old, new in request.replace_needed:
        expected = tuple(new if n == old else n for n in current.needed)
        assert after.needed == expected
    if request.set_rpath is not None:
        assert (after.runpaths or after.rpaths) == request.set_rpath
    if request.set_soname is not None:
        assert after.soname == request.set_soname


@pytest.mark.parametrize("name", ["elf-libbar", "macho-fat", "pe-ext"])
@PROPS
@given(data=st.data())
def test_zip_layer_reads_or_refuses(seeds: dict[str, Seed], name: str, data: st.DataObject, tmp_path: Path) -> None:
    seed = _seed(seeds, name)
    with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
        wheel = seed.wheel(Path(tmp))
        good = wheel.read_bytes()
        changes: tuple[Mutation, ...] = data.draw(zip_mutations(good))
        wheel.write_bytes(apply_all(good, changes))
        try:
            with WheelArchive.open(wheel) as archive:
                for member in archive.members:
                    archive.head(member)
                    archive.read(member)
                out = Path(tmp) / "out" / wheel.name
                out.parent.mkdir()
                write_wheel(archive, out)
                members = archive.members
        except InvalidWheel as err:
            event("refused")
            assert str(err).startswith(str(wheel)) and "\n" not in str(err)
            return
        event("accepted")
        with WheelArchive.open(out) as copy:
            assert sorted(copy.members) == sorted(members)
            copy.verify_record()
