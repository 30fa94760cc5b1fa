"""Deterministic mutations of real files: each is a small value that says what it does and applies to
bytes, so a crash found by the fuzzer is reproduced from a binary built at test time plus one line.

Binary mutations: bit flips, truncation, an aligned 2/4/8-byte field set to an extreme, a range
overwritten. Zip mutations address the fields of the zip records (local headers, central directory,
end of central directory) by name, the way a corrupted or hostile archive differs from a good one.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

#: Values a corrupted or hostile size, count or offset field tends to hold.
EXTREMES = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
            0x7FFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF)  # fmt: skip


@dataclass(frozen=True)
class Mutation:
    """``kind`` is one of flip / set / truncate / fill; ``offset`` is absolute in the file."""

    kind: str
    offset: int = 0
    width: int = 0
    value: int = 0

    def apply(self, data: bytes) -> bytes:
        if self.kind == "truncate":
            return data[: self.offset]
        if self.offset + max(self.width, 1) > len(data):
            return data
        out = bytearray(data)
        if self.kind == "flip":
            out[self.offset] ^= self.value or 1
        elif self.kind == "set":
            out[self.offset : self.offset + self.width] = (self.value & ((1 << (8 * self.width)) - 1)).to_bytes(
                self.width, "little"
            )
        elif self.kind == "fill":
            out[self.offset : self.offset + self.width] = random.Random(self.value).randbytes(self.width)
        else:
            raise ValueError(self.kind)
        return bytes(out)


def apply_all(data: bytes, mutations: tuple[Mutation, ...]) -> bytes:
    for mutation in mutations:
        data = mutation.apply(data)
    return data


Spans = tuple[tuple[int, int], ...]


def _offset(rng: random.Random, size: int, hot: Spans, align: int = 1) -> int:
    # The parsed structures (headers, load commands, dynamic section, import tables): aim there
    # most of the time; the first page when nothing better is known.
    spans = hot or ((0, min(size, 4096)),)
    if rng.random() < 0.8:
        start, length = rng.choice(spans)
        offset = min(start + rng.randrange(max(length, 1)), size - 1)
    else:
        offset = rng.randrange(size)
    return max(0, offset - offset % align)


def binary_mutation(rng: random.Random, data: bytes, hot: Spans = ()) -> Mutation:
    size = max(len(data), 1)
    roll = rng.random()
    if roll < 0.25:
        return Mutation("flip", _offset(rng, size, hot), 1, 1 << rng.randrange(8))
    if roll < 0.35:
        cut = _offset(rng, size, hot) if rng.random() < 0.5 else rng.randrange(size)
        return Mutation("truncate", cut)
    if roll < 0.9:
        width = rng.choice((2, 4, 8))
        value = rng.choice(EXTREMES) if rng.random() < 0.7 else rng.randrange(size * 2)
        return Mutation("set", _offset(rng, size, hot, width), width, value)
    return Mutation("fill", _offset(rng, size, hot), rng.randrange(1, 64), rng.randrange(1 << 30))


def binary_mutations(rng: random.Random, data: bytes, hot: Spans = ()) -> tuple[Mutation, ...]:
    mutations = []
    for _ in range(1 if rng.random() < 0.6 else rng.randrange(2, 5)):
        mutations.append(binary_mutation(rng, data, hot))
    return tuple(mutations)


# -- zip records ---------------------------------------------------------------------------------

#: name -> (offset, width) of each field after the record's signature position.
LOCAL_FIELDS = {"version": (4, 2), "flags": (6, 2), "method": (8, 2), "time": (10, 2), "date": (12, 2),
                "crc": (14, 4), "csize": (18, 4), "usize": (22, 4), "name_len": (26, 2), "extra_len": (28, 2)}  # fmt: skip
CENTRAL_FIELDS = {"made_by": (4, 2), "version": (6, 2), "flags": (8, 2), "method": (10, 2), "time": (12, 2),
                  "date": (14, 2), "crc": (16, 4), "csize": (20, 4), "usize": (24, 4), "name_len": (28, 2),
                  "extra_len": (30, 2), "comment_len": (32, 2), "disk": (34, 2), "internal": (36, 2),
                  "external": (38, 4), "offset": (42, 4)}  # fmt: skip
END_FIELDS = {"disk": (4, 2), "cd_disk": (6, 2), "disk_entries": (8, 2), "entries": (10, 2),
              "cd_size": (12, 4), "cd_offset": (16, 4), "comment_len": (20, 2)}  # fmt: skip
RECORDS = {b"PK\x03\x04": LOCAL_FIELDS, b"PK\x01\x02": CENTRAL_FIELDS, b"PK\x05\x06": END_FIELDS}


def zip_records(data: bytes) -> list[tuple[int, bytes]]:
    """(position, signature) of every zip record, found from the end of central directory record."""
    end = data.rfind(b"PK\x05\x06")
    if end < 0 or end + 22 > len(data):
        return []
    count, _, cd_offset = struct.unpack_from("<HII", data, end + 10)
    records = [(end, b"PK\x05\x06")]
    pos = cd_offset
    for _ in range(count):
        if data[pos : pos + 4] != b"PK\x01\x02":
            break
        records.append((pos, b"PK\x01\x02"))
        local = struct.unpack_from("<I", data, pos + 42)[0]
        if data[local : local + 4] == b"PK\x03\x04":
            records.append((local, b"PK\x03\x04"))
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, pos + 28)
        pos += 46 + name_len + extra_len + comment_len
    return records


def zip_field(data: bytes, record: int, field: str) -> tuple[int, int]:
    """(absolute offset, width) of ``field`` in the ``record``-th record of ``zip_records``."""
    position, signature = zip_records(data)[record]
    offset, width = RECORDS[signature][field]
    return position + offset, width


def zip_mutation(rng: random.Random, data: bytes) -> Mutation:
    records = zip_records(data)
    if not records or rng.random() < 0.1:
        return binary_mutation(rng, data)
    position, signature = rng.choice(records)
    fields = RECORDS[signature]
    offset, width = fields[rng.choice(sorted(fields))]
    roll = rng.random()
    if roll < 0.6:
        value = rng.choice(EXTREMES)
    elif roll < 0.8:
        current = int.from_bytes(data[position + offset : position + offset + width], "little")
        value = current + rng.choice((-2, -1, 1, 2, 8, 64, 1000))
    else:
        value = rng.randrange(1 << (8 * width))
    return Mutation("set", position + offset, width, max(value, 0))


def zip_mutations(rng: random.Random, data: bytes) -> tuple[Mutation, ...]:
    return tuple(zip_mutation(rng, data) for _ in range(1 if rng.random() < 0.7 else rng.randrange(2, 4)))
