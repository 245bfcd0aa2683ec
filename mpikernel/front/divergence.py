"""`%px_diff NAME`: where one variable differs from rank to rank.

The values are fetched from every rank (each rank answers whether it has the name at all), then
compared here, in a pure function (`diff_values`) tested without MPI:

- numpy arrays of one shape: the indices where the ranks disagree, with each rank's value there
  (ranks that agree named together, "ranks 0-2"), summarised past a few as a count, the box the
  differences lie in and the largest difference; arrays of different shapes or dtypes: by shape;
- dicts: the keys some ranks lack and the keys whose values differ, with the values by rank;
- anything else: the distinct values, each with the ranks that hold it.

The answer is a `Divergence`: its text is what the magic shows, its fields are for code
(asserts in a notebook, tests).
"""

from __future__ import annotations

import html
import reprlib
from dataclasses import dataclass, field
from typing import Any

from mpikernel.notation import rank_label

SHOWN = 8  # differing indices or keys listed before the rest is summarised
_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict = 60, 60, 8, 6


@dataclass
class Divergence:
    """What `%px_diff NAME` found. `same`: every rank has it and all are equal."""

    name: str
    size: int
    same: bool
    lines: list[str]
    missing: list[int] = field(default_factory=list)  # ranks without the name
    groups: list[tuple[list[int], Any]] = field(default_factory=list)  # (ranks, value) of equal values
    indices: list[tuple] = field(default_factory=list)  # arrays: every index where ranks disagree
    keys: list = field(default_factory=list)  # dicts: keys missing somewhere or differing

    def __repr__(self) -> str:
        return "\n".join(self.lines)

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(repr(self))}</pre>"


def short(value: Any) -> str:
    """A repr that fits on a line."""
    try:
        return _SHORT.repr(value)
    except Exception:
        return f"<{type(value).__name__}>"


def _is_array(value) -> bool:
    return type(value).__module__ == "numpy" and type(value).__name__ == "ndarray"


def equal(a: Any, b: Any) -> bool:
    """Equality that also works for arrays (NaN equal to NaN) and for values whose == is odd."""
    if _is_array(a) or _is_array(b):
        import numpy as np

        if not (_is_array(a) and _is_array(b)) or a.shape != b.shape or a.dtype != b.dtype:
            return False
        try:
            return bool(np.array_equal(a, b, equal_nan=True))
        except TypeError:  # dtypes without NaN (strings, objects)
            return bool(np.array_equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # == that raises or is ambiguous (lists of arrays): compare the reprs
        return repr(a) == repr(b)


def group_values(values: dict[int, Any]) -> list[tuple[list[int], Any]]:
    """[(ranks, value)] with equal values together, in order of their first rank."""
    groups: list[tuple[list[int], Any]] = []
    for r in sorted(values):
        for ranks, v in groups:
            if equal(v, values[r]):
                ranks.append(r)
                break
        else:
            groups.append(([r], values[r]))
    return groups


def _by_rank(groups) -> str:
    return "; ".join(f"{rank_label(ranks)}: {short(v)}" for ranks, v in groups)


def diff_values(name: str, values: dict[int, Any], size: int) -> Divergence:
    """Compare `values` ({rank: value}, the ranks that have `name`) across a world of `size` ranks."""
    missing = [r for r in range(size) if r not in values]
    head = [f"{name} is not defined on {rank_label(missing)}"] if missing else []
    if not values:
        return Divergence(name, size, False, [f"{name} is not defined on any rank"], missing)
    groups = group_values(values)
    if len(groups) == 1:
        where = "every rank" if not missing else rank_label(values)
        lines = head + [f"{name} is the same on {where}: {short(groups[0][1])}"]
        return Divergence(name, size, not missing, lines, missing, groups)
    found = list(values.values())
    if all(_is_array(v) for v in found):
        d = _diff_arrays(name, values, groups)
    elif all(isinstance(v, dict) for v in found):
        d = _diff_dicts(name, values, groups)
    else:
        d = Divergence(name, size, False, [f"{name} differs across ranks: {len(groups)} distinct values"]
                       + [f"  {rank_label(ranks)}: {short(v)}" for ranks, v in groups], groups=groups)
    d.size, d.missing, d.lines = size, missing, head + d.lines
    return d


def _diff_arrays(name, values, groups) -> Divergence:
    import numpy as np

    shapes = {(v.shape, str(v.dtype)) for v in values.values()}
    if len(shapes) > 1:
        by_shape = group_values({r: (v.shape, str(v.dtype)) for r, v in values.items()})
        lines = [f"{name} has different shapes or dtypes across ranks:"]
        lines += [f"  {rank_label(ranks)}: shape {s} {t}" for ranks, (s, t) in by_shape]
        return Divergence(name, 0, False, lines, groups=groups)
    ranks = sorted(values)
    stack = np.stack([values[r] for r in ranks])
    first = stack[0]
    same = stack == first
    if stack.dtype.kind in "fc":
        same |= np.isnan(stack) & np.isnan(first)
    differ = ~same.all(axis=0)
    where = [tuple(int(i) for i in idx) for idx in np.argwhere(differ)]
    shape, dtype = first.shape, first.dtype
    lines = [f"{name} differs at {len(where):,} of {first.size:,} elements (shape {shape}, {dtype}); "
             f"{len(groups)} distinct arrays: " + "; ".join(f"{rank_label(rs)}" for rs, _ in groups)]
    for idx in where[:SHOWN]:
        at = group_values({r: values[r][idx].item() for r in ranks})
        lines.append(f"  [{', '.join(map(str, idx))}]: {_by_rank(at)}")
    if len(where) > SHOWN:
        lo, hi = np.argwhere(differ).min(axis=0), np.argwhere(differ).max(axis=0)
        box = ", ".join(f"{a}:{b + 1}" for a, b in zip(lo, hi))
        lines.append(f"  ... and {len(where) - SHOWN:,} more; all differences lie in [{box}]")
    if stack.dtype.kind in "iufc":
        spread = np.abs(stack - first)[:, differ]
        if spread.size:
            lines.append(f"  largest difference from rank {ranks[0]}: {short(spread.max().item())}")
    return Divergence(name, 0, False, lines, groups=groups, indices=where)


def _diff_dicts(name, values, groups) -> Divergence:
    keys: list = []
    for v in values.values():
        keys.extend(k for k in v if k not in keys)
    lines = [f"{name} differs across ranks ({len(groups)} distinct dicts):"]
    differing = []
    for k in keys:
        have = {r: v[k] for r, v in values.items() if k in v}
        lacking = [r for r in values if k not in values[r]]
        at = group_values(have)
        if not lacking and len(at) == 1:
            continue
        differing.append(k)
        if len(differing) > SHOWN:
            continue
        text = _by_rank(at) + (f"; missing on {rank_label(lacking)}" if lacking else "")
        lines.append(f"  key {short(k)}: {text}")
    if len(differing) > SHOWN:
        lines.append(f"  ... and {len(differing) - SHOWN} more keys differ")
    agree = len(keys) - len(differing)
    if agree:
        lines.append(f"  {agree} other key" + ("s agree" if agree != 1 else " agrees"))
    return Divergence(name, 0, False, lines, groups=groups, keys=differing)


# ------------------------------------------------------------------------------ on the ranks


def _fetch(name):
    """Runs on each rank: (True, value) if the rank's namespace has `name`, else (False, None)."""
    from IPython import get_ipython

    ns = get_ipython().user_ns
    return (True, ns[name]) if name in ns else (False, None)


def px_diff(world, name: str, timeout: float = 60.0) -> Divergence:
    """Fetch `name` from every rank of `world` and compare (the ranks must be idle to answer)."""
    if not name.isidentifier():
        raise ValueError(f"{name!r} is not a variable name: %px_diff takes one name, like %px_diff u")
    ar = world.view().apply_async(_fetch, name)
    try:
        replies = ar.get(timeout=timeout)
    except TimeoutError:
        raise ValueError(f"the ranks did not answer within {timeout:g} s (is a cell still running on them?)") from None
    values = {r: v for r, (has, v) in enumerate(replies) if has}
    return diff_values(name, values, world.n)
