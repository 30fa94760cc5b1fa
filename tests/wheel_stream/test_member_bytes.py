"""MemberBytes returns exactly the bytes zipfile does, for any range, in any order."""

from __future__ import annotations

import hashlib
import random
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.wheels import make_wheel
from wheelrepair.wheel.archive import WheelArchive
from wheelrepair.wheel.stream import member_bytes


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(7)
    # Compressible but not trivially so, larger than several checkpoint intervals.
    words = [bytes(rng.choice(b"abcdefghij\0\x7f") for _ in range(rng.randint(1, 12))) for _ in range(5000)]
    big = b" ".join(rng.choice(words) for _ in range(2_500_000))
    return make_wheel(tmp_path_factory.mktemp("w"), {"pkg/big.bin": big, "pkg/small.bin": b"x" * 100})


@pytest.fixture(scope="module")
def truth(wheel: Path) -> bytes:
    """pkg/big.bin as zipfile reads it."""
    with zipfile.ZipFile(wheel) as zf:
        return zf.read("pkg/big.bin")


def test_random_ranges_match_zipfile(wheel: Path, truth: bytes) -> None:
    rng = random.Random(1)
    with WheelArchive.open(wheel) as archive:
        view = member_bytes(archive, "pkg/big.bin")
        assert len(view) == len(truth)
        for _ in range(60):
            start = rng.randrange(len(truth))
            length = rng.choice([1, 7, 4096, 70000, 300000])
            assert view[start : start + length] == truth[start : start + length]
        assert view[len(truth) - 5 :] == truth[-5:]
        assert view[0] == truth[0] and view[-1] == truth[-1]
        needle = truth[len(truth) // 2 : len(truth) // 2 + 40]
        assert view.find(needle, len(truth) // 3) == truth.find(needle, len(truth) // 3)
        assert view.find(b"\xff\xfe\xfd") == -1


def test_small_member(wheel: Path) -> None:
    with WheelArchive.open(wheel) as archive:
        view = member_bytes(archive, "pkg/small.bin")
        assert view[:] == b"x" * 100 and view.find(b"y") == -1


def _keep_a_small_prefix(monkeypatch: pytest.MonkeyPatch, isal: bool) -> None:
    """Keep 1 MiB in front (so reads come back behind it), inflating forward with ISA-L first or
    with a copyable decompressor only."""
    from wheelrepair.wheel import compression, stream

    if isal and compression.forward_copies():
        pytest.skip("isal is not installed")
    if not isal:
        monkeypatch.setattr(compression, "_isal", None)
    monkeypatch.setattr(stream, "RETAIN", 1 << 20)


@pytest.mark.parametrize("isal", [True, False], ids=["forward-isal", "copyable-only"])
def test_ranges_behind_the_kept_prefix_match_zipfile(
    wheel: Path, truth: bytes, monkeypatch: pytest.MonkeyPatch, isal: bool
) -> None:
    """A read far ahead and then back behind the kept prefix: the forward-only pass (ISA-L) hands
    over to a copyable decompressor that leaves checkpoints, and every range is still exact."""
    _keep_a_small_prefix(monkeypatch, isal)
    rng = random.Random(3)
    with WheelArchive.open(wheel) as archive:
        view = member_bytes(archive, "pkg/big.bin")
        assert view[:100] == truth[:100]
        tail = len(truth) - 70000
        assert view[tail:] == truth[tail:]
        for start in [5000, (1 << 20) + 12345, *(rng.randrange(len(truth)) for _ in range(30))]:
            assert view[start : start + 70000] == truth[start : start + 70000]


@pytest.mark.parametrize("reads", ["none", "front", "end-first", "random"])
@pytest.mark.parametrize("isal", [True, False], ids=["forward-isal", "copyable-only"])
def test_hash_as_read_is_the_hash_of_the_whole_member(
    wheel: Path, truth: bytes, monkeypatch: pytest.MonkeyPatch, reads: str, isal: bool
) -> None:
    """`check` hashes a member by the inflate that parses it: whatever the reader read (ahead,
    behind the kept prefix, through snapshots), the digest is the one of the whole content."""
    _keep_a_small_prefix(monkeypatch, isal)
    rng = random.Random(5)
    with WheelArchive.open(wheel) as archive:
        view = member_bytes(archive, "pkg/big.bin")
        view.hash_as_read("sha256")
        if reads == "front":
            assert view[:300000] == truth[:300000]
        elif reads == "end-first":
            assert view[len(truth) - 10 :] == truth[-10:]
            assert view[(1 << 20) + 5 : (1 << 20) + 500] == truth[(1 << 20) + 5 : (1 << 20) + 500]
        elif reads == "random":
            for _ in range(20):
                start = rng.randrange(len(truth))
                assert view[start : start + 5000] == truth[start : start + 5000]
        assert view.digest() == hashlib.sha256(truth).digest()
        assert member_bytes(archive, "pkg/big.bin").digest() is None  # not asked to hash
