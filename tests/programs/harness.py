"""Rank side of the binding tests: pick the MPI implementation, record one result per check.

Every program in tests/programs imports `MPI` from here, so the same program runs once with
mpi4py (the reference) and once with mpikernel.MPI (BINDTEST_IMPL=mpi4py|mpikernel). Each rank
writes its results as JSON lines to its own file under $BINDTEST_OUT, so ranks never interleave
and a program that hangs still leaves the results it got so far.

A record says what a check returned (normalised with `norm`, so that types are part of the
comparison: 6 != 6.0 != (6,)), whether it met the program's own expectation, or what it raised.
"""

import json
import os
import sys
import traceback

IMPL = os.environ.get("BINDTEST_IMPL", "mpikernel")
if IMPL == "mpi4py":
    from mpi4py import MPI
elif IMPL == "mpikernel":
    from mpikernel import MPI
else:
    raise SystemExit(f"BINDTEST_IMPL must be mpi4py or mpikernel, not {IMPL!r}")

try:
    import numpy as np
except ImportError:  # the programs that need numpy say so when they use it
    np = None

COMM = MPI.COMM_WORLD
RANK = COMM.Get_rank()
SIZE = COMM.Get_size()
_NOTHING = object()
_out = None


def _write(record):
    global _out
    if _out is None:
        folder = os.environ.get("BINDTEST_OUT")
        _out = open(os.path.join(folder, f"rank{RANK}.jsonl"), "a") if folder else sys.stdout
    record["rank"] = RANK
    _out.write(json.dumps(record) + "\n")
    _out.flush()


def norm(x):
    """A comparable, type-preserving picture of a result (nested tuples of plain values)."""
    if np is not None and isinstance(x, np.ndarray):
        return ("ndarray", x.dtype.str, x.shape, norm(x.tolist()))
    if np is not None and isinstance(x, np.generic):
        return ("npscalar", x.dtype.str, x.item())
    if isinstance(x, (list, tuple)):
        return (type(x).__name__,) + tuple(norm(v) for v in x)
    if isinstance(x, dict):
        return ("dict",) + tuple(sorted((repr(k), norm(v)) for k, v in x.items()))
    if isinstance(x, (bytes, bytearray, memoryview)):
        return (type(x).__name__, bytes(x).hex())
    if isinstance(x, float):
        return ("float", repr(x))
    if isinstance(x, complex):
        return ("complex", repr(x))
    if isinstance(x, (bool, int, str)) or x is None:
        return x
    return ("object", type(x).__name__)


def value(name, got, want=_NOTHING):
    """Record a computed value; `want` (if given) is what this program expects it to be."""
    picture = norm(got)
    ok = None if want is _NOTHING else picture == norm(want)
    rec = {"name": name, "kind": "value", "value": repr(picture), "ok": ok}
    if ok is False:
        rec["want"] = repr(norm(want))
    _write(rec)
    return got


def check(name, fn, want=_NOTHING):
    """Run fn() and record its value; an exception is recorded as a failed check."""
    try:
        got = fn()
    except BaseException as exc:  # KeyboardInterrupt too: a check must never kill the program
        _write({
            "name": name, "kind": "value", "ok": False,
            "value": f"<raised {type(exc).__name__}: {exc}>",
            "traceback": traceback.format_exc(limit=4),
        })
        if isinstance(exc, (SystemExit,)):
            raise
        return None
    return value(name, got, want)


def info(name, got):
    """Record something that may differ between implementations (timings, versions, names)."""
    _write({"name": name, "kind": "info", "value": got if _jsonable(got) else repr(got)})


def raises(name, fn, cleanup=None):
    """Run fn() expecting an exception; record its class, MPI error class and message."""
    try:
        got = fn()
    except BaseException as exc:
        rec = {
            "name": name, "kind": "raises", "raised": True,
            "exc": "MPI.Exception" if isinstance(exc, MPI.Exception) else type(exc).__name__,
            "bases": [c.__name__ for c in type(exc).__mro__],
            "msg": str(exc),
            "error_class": None,
        }
        if isinstance(exc, MPI.Exception):
            try:
                rec["error_class"] = exc.Get_error_class()
                rec["error_string"] = exc.Get_error_string()
            except BaseException as inner:
                rec["error_class"] = f"<Get_error_class raised {type(inner).__name__}: {inner}>"
        _write(rec)
    else:
        _write({"name": name, "kind": "raises", "raised": False, "value": repr(norm(got))})
    finally:
        if cleanup is not None:
            cleanup()


def done():
    """The last record: the program got to its end alive."""
    _write({"name": "__done__", "kind": "info", "value": True})


def _jsonable(x):
    try:
        json.dumps(x)
        return True
    except (TypeError, ValueError):
        return False
