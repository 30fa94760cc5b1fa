"""Hypothesis strategies: mutations of a real file (aimed at its parsed structures) and edits."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.fuzz.mutate import CENTRAL_FIELDS, END_FIELDS, EXTREMES, LOCAL_FIELDS, Mutation, zip_records

Spans = tuple[tuple[int, int], ...]


def mutations(data: bytes, hot: Spans = ()) -> st.SearchStrategy[tuple[Mutation, ...]]:
    spans = hot or ((0, min(len(data), 4096)),)
    offsets = st.one_of(
        *(st.integers(start, min(start + length, len(data)) - 1) for start, length in spans),
        st.integers(0, len(data) - 1),
    )
    values = st.one_of(st.sampled_from(EXTREMES), st.integers(0, 2 * len(data)), st.integers(0, 2**64 - 1))
    one = st.one_of(
        st.builds(Mutation, st.just("set"), offsets, st.sampled_from((1, 2, 4, 8)), values),
        st.builds(Mutation, st.just("flip"), offsets, st.just(1), st.integers(1, 255)),
        st.builds(Mutation, st.just("truncate"), st.integers(0, len(data))),
        st.builds(Mutation, st.just("fill"), offsets, st.integers(1, 64), st.integers(0, 2**30)),
    )
    return st.lists(one, min_size=1, max_size=4).map(tuple)


def zip_mutations(data: bytes) -> st.SearchStrategy[tuple[Mutation, ...]]:
    """A field of a local header, central directory record or end record set to an extreme, a
    neighbour of its value or anything."""
    fields = {b"PK\x03\x04": LOCAL_FIELDS, b"PK\x01\x02": CENTRAL_FIELDS, b"PK\x05\x06": END_FIELDS}
    targets = [(pos + offset, width) for pos, sig in zip_records(data) for offset, width in fields[sig].values()]

    def at(target: tuple[int, int]) -> st.SearchStrategy[Mutation]:
        offset, width = target
        current = int.from_bytes(data[offset : offset + width], "little")
        values = st.one_of(
            st.sampled_from([v for v in EXTREMES if v < 1 << (8 * width)]),
            st.integers(max(0, current - 8), current + 8),
            st.integers(0, (1 << (8 * width)) - 1),
        )
        return values.map(lambda v: Mutation("set", offset, width, v))

    return st.lists(st.sampled_from(targets).flatmap(at), min_size=1, max_size=3).map(tuple)


#: Names as users and repair write them: library names, $ORIGIN/@loader_path relative paths.
NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-+", min_size=1, max_size=48)
PATHS = st.lists(
    st.one_of(
        NAMES.map(lambda n: f"$ORIGIN/../{n}"),
        NAMES.map(lambda n: f"@loader_path/{n}"),
        NAMES.map(lambda n: f"/opt/{n}/lib"),
    ),
    min_size=1,
    max_size=4,
    unique=True,
)
