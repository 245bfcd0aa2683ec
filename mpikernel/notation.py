"""How people write ranks and sizes: the one parser and formatter of each, for every layer.

Sentences anywhere in mpikernel (merged headers, deadlock reports, launcher errors, limits) name
ranks as "rank 2" / "ranks 0-3" and sizes in decimal units ("8 MB"), so they come from here.
Imports nothing of mpikernel: every package may use it.
"""

from __future__ import annotations

import re
from typing import Iterable

def rank_ranges(ranks: Iterable[int]) -> str:
    """'0-3', '2', '0,2,5-7': sorted, de-duplicated, runs of 2+ consecutive ranks as a-b."""
    rs = sorted(set(int(r) for r in ranks))
    if not rs:
        raise ValueError("no ranks")
    parts = []
    start = prev = rs[0]
    for r in rs[1:] + [None]:
        if r is not None and r == prev + 1:
            prev = r
            continue
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
        if r is not None:
            start = prev = r
    return ",".join(parts)


def rank_label(ranks: Iterable[int]) -> str:
    """'rank 2' or 'ranks 0-3' (the words used in headers and in sentences)."""
    rs = sorted(set(ranks))
    return ("rank " if len(rs) == 1 else "ranks ") + rank_ranges(rs)


def rank_header(ranks: Iterable[int]) -> str:
    """'[rank 2]', '[ranks 0-3]', '[ranks 0,2,5-7]': the line printed before a rank's output."""
    return f"[{rank_label(ranks)}]"


_MAX_RANK = 4095  # the magics' MAX_RANKS - 1


def parse_ranks(text: str, size: int | None = None) -> list[int]:
    """'0,2-3' -> [0, 2, 3]. Strict: digits, commas and a-b ranges only; ValueError says what is wrong."""
    if text is None or not str(text).strip():
        raise ValueError("no ranks given; write them like 0,2-3")
    out: set[int] = set()
    bad: list[tuple[int, int]] = []  # out-of-range intervals, never expanded blindly
    for part in str(text).split(","):
        part = part.strip()
        m = re.fullmatch(r"([0-9]{1,9})(?:\s*-\s*([0-9]{1,9}))?", part)
        if not m:
            raise ValueError(f"{part!r} is not a rank or a range of ranks (write them like 0,2-3)")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise ValueError(f"the range {part!r} goes backwards (write the smaller rank first)")
        limit = _MAX_RANK + 1 if size is None else size
        if hi >= limit:  # judged before expanding, so '0-999999999' cannot eat the memory
            bad.append((max(lo, limit), hi))
        out.update(range(lo, min(hi, limit - 1) + 1))
    if size is None and bad:
        raise ValueError(f"rank {min(bad)[0]} is beyond any world (at most {_MAX_RANK + 1} ranks)")
    if size is not None and bad:
        if sum(b - a + 1 for a, b in bad) > 10_000:
            which, verb = f"ranks {min(bad)[0]}-{max(b for _, b in bad)}", "do"
        else:
            missing = sorted({r for a, b in bad for r in range(a, b + 1)})
            which, verb = rank_label(missing), "does" if len(missing) == 1 else "do"
        raise ValueError(
            f"{which} {verb} not exist: this world has {size} rank{'s' if size != 1 else ''} "
            + (f"(0-{size - 1})" if size > 1 else "(0)")
        )
    return sorted(out)


def format_bytes(n: int | float) -> str:
    """'8 MB', '1.5 kB', '12 bytes': decimal units, as a student counts a million doubles (8 MB)."""
    n = float(n)
    if n < 1000:
        return f"{n:.0f} bytes"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1000
        if n < 1000 or unit == "TB":
            return f"{n:.3g} {unit}"
