"""Placing new strings in .dynstr: which bytes nothing references any more, and what fits there."""

from __future__ import annotations

from .dynamic import Dynamic


def free_regions(dyn: Dynamic, candidates: set[int], live: set[int]) -> list[tuple[int, int]]:
    """Byte ranges of .dynstr that held the ``candidates`` strings and that nothing references now.

    A range starts after the previous NUL, so a longer string sharing the candidate as its tail
    (linkers merge suffixes) counts as a reference too.
    """
    names = dyn.symbol_names()
    if names is None:
        return []
    refs = live | names
    strtab = dyn.strtab
    regions: list[tuple[int, int]] = []
    for offset in sorted(candidates):
        if not 0 < offset < len(strtab):
            continue
        lo = strtab.rfind(b"\0", 0, offset) + 1
        hi = strtab.find(b"\0", offset) + 1
        if hi and not any(o in refs for o in range(lo, hi)):
            regions.append((lo, hi))
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(regions):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def fit_strings(texts: list[bytes], regions: list[tuple[int, int]]) -> dict[bytes, int] | None:
    """Place ``texts`` (NUL-terminated) into ``regions`` first-fit, longest first; None if they do not fit."""
    cursors = [lo for lo, _ in regions]
    placed: dict[bytes, int] = {}
    for text in sorted(texts, key=len, reverse=True):
        for i, (_, hi) in enumerate(regions):
            if hi - cursors[i] >= len(text) + 1:
                placed[text] = cursors[i]
                cursors[i] += len(text) + 1
                break
        else:
            return None
    return placed
