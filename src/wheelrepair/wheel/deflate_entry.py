"""Entering a raw deflate stream part way through, to read bytes near its end without inflating
everything before them.

An ELF reader wants a large library's dynamic segment, which sits after the code: 344 MB into
torch's 434 MB libtorch_cpu.so. Inflating up to it is 0.55-0.6 s on one core even with ISA-L. A
deflate stream has no index, but every block starts at some bit with a self-contained header, and a
block refers back at most 32 KiB. So:

1. **Find a block start** near the compressed position the wanted bytes probably lie at.
   ``block_starts`` tests every bit of a window at once, as bit planes of one integer, for a
   dynamic-Huffman header whose code-length code is complete (zlib refuses any other);
   ``stored_starts`` finds the length fields of stored blocks (data that does not compress, such as
   a CUDA library's compressed GPU code). A decoder then keeps only the candidates that inflate.
2. **Learn where it is** in the output. Inflated from there to the end of the member, the stream
   must end exactly at the member's last byte; the uncompressed size minus what came out is the
   block's offset. A false start that inflates all the way to the end, in sync, is not a practical
   possibility: random bits break a decoder within a few hundred bytes (on torch, 239 of 241 windows'
   header-shaped candidates failed within 4 KiB, the other two were real blocks).
3. **Read the wanted bytes, and prove them.** The history the decoder lacks is made up: the stream is
   inflated twice in step, primed once with 32 KiB of 0x00 and once with 32 KiB of 0xFF. A byte that
   depends on the unknown history is a copy of it and differs between the two; a byte that agrees is
   the real one. Once the last 32 KiB of both agree, the two decoders are in the same state and stay
   so, and the second one stops.

Costs on torch: decoding the tail (104 MB) and the 13 MB before the wanted bytes once more, instead
of 344 MB. When any step fails (no block found, a stream that does not end where it should, bytes
that stay unproven) the caller inflates from the start as before.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import compression

#: Read ``length`` bytes of the compressed member at ``offset`` (fewer at its end).
Reader = Callable[[int, int], bytes]

#: The order in which a dynamic block's header lists the code-length code's lengths (RFC 1951 3.2.7).
_CODE_LENGTH_ORDER_COUNT = 19
#: Bits of a dynamic header up to the end of its longest possible code-length code.
_HEADER_BITS = 17 + 3 * _CODE_LENGTH_ORDER_COUNT
_WINDOW = 32 * 1024
_PRIMES = (b"\x00" * _WINDOW, b"\xff" * _WINDOW)
#: Compressed bytes searched per round for a block start, and at most in all (zlib's blocks are
#: 5-40 KiB of output apart on code, libdeflate's at most 300,000 bytes; a stretch of stored blocks,
#: as zlib writes for data that does not compress, has no dynamic block to find).
_SEARCH = 32 << 10
_SEARCH_LIMIT = 256 << 10
#: A candidate must inflate this much input without error, and give at least _TRIAL_OUT bytes.
_TRIAL_IN = 4 << 10
_TRIAL_OUT = 1 << 10
_IN_CHUNK = 1 << 20
_OUT_STEP = 8 << 20
#: Output the entry aims to land before the wanted bytes, for the made-up history to wash out.
MARGIN = 1 << 20
#: Entries tried (each inflating from its block to the end) before giving up.
_TRIES = 4


@dataclass(frozen=True)
class Entry:
    """A block start: its bit in the compressed member, and its offset in the uncompressed one."""

    bit: int
    offset: int
    #: A stored block, entered at its length field (``bit`` is 3 bits before that byte, where its
    #: header would end); the header itself is written anew, as a stored block that is not the last.
    stored: bool = False


def block_starts(data: bytes) -> list[int]:
    """Bit positions in ``data`` (ascending) where a dynamic-Huffman block header can start: block
    type 2, at most 286 literal/length and 30 distance codes, and a complete code-length code. Only
    positions whose whole longest header lies inside ``data`` are tested."""
    usable = len(data) * 8 - _HEADER_BITS
    if usable <= 0:
        return []
    x = int.from_bytes(data, "little")

    def plane(k: int) -> int:
        # Bit p of plane(k) is bit p + k of the stream: a header field's bit k for a start at p.
        return x >> k

    everything = (1 << usable) - 1
    shape = ~plane(1) & plane(2)  # BTYPE = 2 (either BFINAL)
    shape &= ~(plane(4) & plane(5) & plane(6) & plane(7))  # HLIT <= 29
    shape &= ~(plane(9) & plane(10) & plane(11) & plane(12))  # HDIST <= 29
    shape &= everything
    if not shape:
        return []
    hclen = [plane(13 + i) for i in range(4)]
    # present[j]: the header lists at least j + 1 code-length code lengths (HCLEN + 4 > j).
    at_least = everything
    present = [everything] * 4
    for count in range(1, 16):
        # HCLEN >= count, from the highest value down: HCLEN is one of count..15.
        below = _equals(hclen, count - 1, everything)
        at_least &= ~below
        present.append(at_least)
    # Kraft sum of the code-length code, scaled so that a complete code sums to 128: each length
    # l in 1..7 adds 2**(7 - l). Bit-sliced, 11 planes (19 * 64 < 2048).
    total = [0] * 11
    for j in range(_CODE_LENGTH_ORDER_COUNT):
        field = [plane(17 + 3 * j + i) for i in range(3)]
        for length in range(1, 8):
            term = _equals(field, length, present[j])
            if term:
                _add_at(total, 7 - length, term)
    complete = shape & total[7]
    for i, bits in enumerate(total):
        if i != 7:
            complete &= ~bits
    return _set_bits(complete & everything)


def _equals(bits: list[int], value: int, mask: int) -> int:
    """Positions where the little-endian bit-sliced number ``bits`` equals ``value`` (within mask)."""
    out = mask
    for i, plane in enumerate(bits):
        out &= plane if value >> i & 1 else ~plane
    return out


def _add_at(total: list[int], position: int, term: int) -> None:
    """Add ``term << position`` (one bit per candidate) to the bit-sliced counter ``total``."""
    carry = term
    for i in range(position, len(total)):
        if not carry:
            return
        total[i], carry = total[i] ^ carry, total[i] & carry


def _set_bits(value: int) -> list[int]:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "little")
    out = []
    for index, byte in enumerate(raw):
        while byte:
            low = byte & -byte
            out.append(index * 8 + low.bit_length() - 1)
            byte ^= low
    return out


def stored_starts(data: bytes) -> list[int]:
    """Byte offsets in ``data`` (ascending, from 1) where a stored block's length field can start:
    LEN followed by its ones' complement NLEN (RFC 1951 3.2.4). Data that does not compress is
    written as stored blocks, which have no Huffman header for ``block_starts`` to find."""
    if len(data) < 5:
        return []
    x = int.from_bytes(data, "little")
    run = x ^ (x >> 16)  # bit p: bit p of LEN differs from bit p of NLEN, for a field at p
    for step in (1, 2, 4, 8):
        run &= run >> step  # bit p: the 16 bits from p all differ
    starts = run & int.from_bytes(b"\x01" * (len(data) - 4), "little")
    return [offset // 8 for offset in _set_bits(starts) if offset >= 8]


def _bits_of(value: int, count: int) -> list[int]:
    return [value >> i & 1 for i in range(count)]


def _huffman(code: int, length: int) -> list[int]:
    """A Huffman code's bits in stream order (most significant first, RFC 1951 3.1.1)."""
    return [code >> (length - 1 - i) & 1 for i in range(length)]


#: Fixed-Huffman block pieces (RFC 1951 3.2.6): header (not final), end of block, and a copy of 11
#: bytes at distance 1 (length code 265 with extra bit 0, distance code 0).
_FIXED_HEADER = [0, *_bits_of(1, 2)]
_END_OF_BLOCK = _huffman(0, 7)
_COPY_11 = [*_huffman(265 - 256, 7), 0, *_huffman(0, 5)]


def _lead_in(shift: int) -> tuple[bytes, int, int]:
    """Deflate blocks that do nothing but move the decoder ``shift`` bits (mod 8) along.

    Entering at bit ``8n + shift`` of the member, the decoder must see the entry block at the same
    bit position modulo 8 as in the member, because a stored block pads to the member's byte
    boundaries. So the member's bytes are not shifted; instead, blocks of 10 bits (an empty fixed
    block) and 23 bits (a fixed block copying 11 bytes of the primed history) are put in front, as
    many bits long as the bits before the entry in its byte, plus whole bytes. Returns the whole
    bytes, the value of the last ``shift`` bits (to be put in the entry byte's low bits), and how
    many bytes of output the lead-in produces."""
    bits: list[int] = []
    output = 0
    if shift % 2:
        bits += _FIXED_HEADER + _COPY_11 + _END_OF_BLOCK
        output = 11
    while len(bits) % 8 != shift:
        bits += _FIXED_HEADER + _END_OF_BLOCK
    whole = len(bits) // 8
    packed = bytes(sum(bit << i for i, bit in enumerate(bits[8 * k : 8 * k + 8])) for k in range(whole))
    tail = sum(bit << i for i, bit in enumerate(bits[8 * whole :]))
    return packed, tail, output


_STORED_HEADER = b"\x00"
#: A stored block's length field and its longest data.
_STORED_MAX = 4 + 0xFFFF


class _Bits:
    """The compressed member read from a bit position on, as a stream a decoder can take from its
    start: a lead-in (see ``_lead_in``) and then the member's own bytes."""

    def __init__(self, read: Reader, compressed: int, bit: int, stored: bool = False) -> None:
        self._read = read
        self._compressed = compressed
        self._stored = stored
        # A stored block is entered at its length field, after a header byte of our own.
        self._pos = (bit + 3) >> 3 if stored else bit >> 3
        self._shift = 0 if stored else bit & 7
        self.lead_in_output = _lead_in(self._shift)[2]

    def chunks(self, size: int = _IN_CHUNK) -> Iterator[bytes]:
        lead, tail, _ = _lead_in(self._shift)
        first = True
        while self._pos < self._compressed:
            raw = self._read(self._pos, min(size, self._compressed - self._pos))
            if not raw:
                return
            self._pos += len(raw)
            if first:
                first = False
                if self._stored:
                    raw = _STORED_HEADER + raw  # not the last block, type 0, padded to the byte
                else:
                    keep = 0xFF ^ ((1 << self._shift) - 1)
                    raw = lead + bytes([raw[0] & keep | tail]) + raw[1:]
            yield raw


def _trial(read: Reader, compressed: int, bit: int, stored: bool = False) -> bool:
    """Whether a block start at ``bit`` inflates its first few KiB without error. A stored block's
    trial reaches past its data into the next block: any bytes whose 16 bits are followed by their
    complement look like a stored block, and only what follows it tells."""
    bits = _Bits(read, compressed, bit, stored)
    beyond = _STORED_MAX if stored else 0
    data = next(bits.chunks(_TRIAL_IN + beyond), b"")
    inflater = compression.primed_inflater(_PRIMES[0])
    try:
        out = inflater.decompress(data, 4 * _TRIAL_OUT + beyond)
    except zlib.error:
        return False
    return len(out) - bits.lead_in_output >= _TRIAL_OUT or inflater.eof


def _length_to_end(read: Reader, compressed: int, bit: int, stored: bool = False) -> int | None:
    """Bytes inflated from ``bit`` to the end of the stream; None unless the stream ends exactly at
    the member's last byte."""
    inflater = compression.primed_inflater(_PRIMES[0])
    bits = _Bits(read, compressed, bit, stored)
    total = -bits.lead_in_output
    chunks = bits.chunks()
    try:
        for data in chunks:
            while data:
                total += len(inflater.decompress(data, _OUT_STEP))
                data = inflater.unconsumed_tail
                if inflater.eof:
                    break
            if inflater.eof:
                break
    except zlib.error:
        return None
    if not inflater.eof or inflater.unused_data or next(chunks, b""):
        return None
    return total


def _find_block(read: Reader, compressed: int, before: int) -> Iterator[tuple[int, bool]]:
    """Block starts (bit, and whether stored) that pass ``_trial``, searching back from compressed
    byte ``before``."""
    end = min(before, compressed)
    floor = max(0, end - _SEARCH_LIMIT)
    while end > floor:
        start = max(floor, end - _SEARCH)
        # The header of a start near the window's end reaches past it: read a little more.
        window = read(start, end - start + _HEADER_BITS // 8 + 1)
        found = [(bit, False) for bit in block_starts(window)]
        found += [(8 * offset - 3, True) for offset in stored_starts(window)]
        for bit, stored in sorted(found, reverse=True):
            position = start * 8 + bit
            if position < end * 8 and _trial(read, compressed, position, stored):
                yield position, stored
        end = start


def find_entry(read: Reader, compressed: int, size: int, target: int) -> Entry | None:
    """A block start whose offset is at most ``target``, and close below it; None if none is found.

    Each try inflates from its block to the end of the stream, so a try that lands late costs
    little (a short tail) and one that lands early costs the stretch up to ``target`` twice (here
    and in ``read_proven``). The first try aims halfway between the member's average ratio's guess
    and the end: sections after an ELF file's dynamic segment (symbol and string tables, debug
    information) compress better than the code before it. A late landing steps back by the ratio
    of the tail it inflated, a quarter further than that ratio says; a search that finds no block
    steps back by the stretch it searched.
    """
    if not 0 <= target < size:
        return None
    before = (compressed * target // size + compressed) // 2
    for _ in range(_TRIES):
        entry = _entry_before(read, compressed, size, before)
        if entry is _DRY:
            # No block here (stored blocks of data that does not compress have no header to find):
            # look further back.
            before -= _SEARCH_LIMIT
            if before <= 0:
                return None
            continue
        if not isinstance(entry, Entry):
            return None  # blocks that do not inflate to the end: a corrupt member, or bytes after it
        if entry.offset <= target:
            return entry
        at = entry.bit >> 3
        tail_ratio = (size - entry.offset) / max(1, compressed - at)
        before = at - int(1.25 * (entry.offset - target) / tail_ratio)
        if before <= 0:
            return None
    return None


#: ``_entry_before`` found no block that inflates at all.
_DRY = object()


def _entry_before(read: Reader, compressed: int, size: int, before: int) -> Entry | object | None:
    """The first block start found searching back from compressed byte ``before`` that inflates
    to the exact end of the stream; None if the first blocks found do not, ``_DRY`` if none is found."""
    for tried, (bit, stored) in enumerate(_find_block(read, compressed, before)):
        length = _length_to_end(read, compressed, bit, stored)
        if length is not None and length <= size:
            return Entry(bit, size - length, stored)
        if tried >= 2:
            return None
    return _DRY


def read_proven(read: Reader, compressed: int, entry: Entry, start: int, end: int) -> bytes | None:
    """Bytes ``start``..``end`` of the uncompressed member, inflated from ``entry``; None when some
    of them depend on the history before the entry (see the module docstring)."""
    if start < entry.offset or end <= start:
        return None
    decoders = [compression.primed_inflater(prime) for prime in _PRIMES]
    bits = _Bits(read, compressed, entry.bit, entry.stored)
    position = entry.offset - bits.lead_in_output
    #: Just past the last byte where the two decoders differed (the primes count as differing).
    differs_until = entry.offset
    wanted: list[bytes] = []
    try:
        for data in bits.chunks():
            while data and position < end:
                outs = [d.decompress(data, min(_OUT_STEP, end - position)) for d in decoders]
                data = decoders[0].unconsumed_tail
                first = outs[0]
                lo, hi = max(start, position) - position, min(end, position + len(first)) - position
                if len(outs) == 2:
                    if len(outs[1]) != len(first):
                        return None
                    mismatch = _last_mismatch(first, outs[1])
                    if mismatch >= 0:
                        differs_until = position + mismatch + 1
                    if lo < hi and first[lo:hi] != outs[1][lo:hi]:
                        return None  # a wanted byte is a copy of the unknown history
                    if position + len(first) - differs_until >= _WINDOW:
                        del decoders[1]  # the same history now, so the same output from here on
                if lo < hi:
                    wanted.append(first[lo:hi])
                position += len(first)
                if not first:
                    break
            if position >= end or decoders[0].eof:
                break
    except zlib.error:
        return None
    out = b"".join(wanted)
    return out if len(out) == end - start else None


def _last_mismatch(a: bytes, b: bytes) -> int:
    """The index of the last byte where ``a`` and ``b`` (of equal length) differ, or -1."""
    if a == b:
        return -1
    lo, hi = 0, len(a)  # a[hi:] == b[hi:], and some index below hi differs
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[mid:hi] == b[mid:hi]:
            hi = mid
        else:
            lo = mid
    return lo
