"""Lowercase (pickled) collectives: bcast scatter gather allgather alltoall reduce allreduce scan
exscan barrier, every op on ints, floats, big ints, mixed int/float, numpy arrays and (value,
index) pairs for MAXLOC/MINLOC; and the pickle-5 out-of-band path for large numpy arrays.
Expected values are computed here from every rank's contribution (each rank knows the formula)."""

import functools
import operator
import resource

from harness import MPI, RANK, SIZE, check, done, info, np

W = MPI.COMM_WORLD
LAST = SIZE - 1

check("bcast dict from 0", lambda: W.bcast({"k": [1, 2.5, "s"], "r": RANK} if RANK == 0 else None,
                                          root=0), {"k": [1, 2.5, "s"], "r": 0})
check("bcast from last", lambda: W.bcast(("last", RANK) if RANK == LAST else "ignored",
                                         root=LAST), ("last", LAST))
check("bcast None", lambda: W.bcast(None, root=0), None)
check("scatter from 0", lambda: W.scatter([i * i for i in range(SIZE)] if RANK == 0 else None,
                                          root=0), RANK * RANK)
check("scatter from last", lambda: W.scatter([f"s{i}" for i in range(SIZE)] if RANK == LAST
                                             else None, root=LAST), f"s{RANK}")
check("gather to 0", lambda: W.gather((RANK, "x" * RANK), root=0),
      [(r, "x" * r) for r in range(SIZE)] if RANK == 0 else None)
check("gather to last", lambda: W.gather({RANK: RANK}, root=LAST),
      [{r: r} for r in range(SIZE)] if RANK == LAST else None)
check("allgather", lambda: W.allgather([RANK] * RANK), [[r] * r for r in range(SIZE)])
check("alltoall", lambda: W.alltoall([(RANK, j) for j in range(SIZE)]),
      [(j, RANK) for j in range(SIZE)])
check("scatter None at the root gives every rank None", lambda: W.scatter(None, root=LAST), None)
check("scatter of an iterator", lambda: W.scatter(iter(range(SIZE)) if RANK == 0 else None, root=0), RANK)
check("alltoall None gives None from every rank", lambda: W.alltoall(None), [None] * SIZE)
check("barrier", W.barrier, None)

# -- reductions: every op, several kinds of values -------------------------------------------------
KINDS = {
    "int": lambda r: (r * 7) % 5 + 1,
    "float": lambda r: r * 0.5 + 0.25,
    "bigint": lambda r: 2**100 + 3 * r,
    "negative": lambda r: -(r + 2),
    "mixed": lambda r: r + 1 if r % 2 else r + 0.5,
    "zero-one": lambda r: 0 if r == 1 else r + 1,
}
PY_OPS = {  # what the op means on Python objects (mpi4py's definitions)
    "SUM": operator.add, "PROD": operator.mul, "MAX": max, "MIN": min,
    "LAND": lambda x, y: bool(x and y), "LOR": lambda x, y: bool(x or y),
    "LXOR": lambda x, y: bool(x) != bool(y),
    "BAND": operator.and_, "BOR": operator.or_, "BXOR": operator.xor,
}
BITWISE = ("BAND", "BOR", "BXOR")

for kind, f in KINDS.items():
    contributions = [f(r) for r in range(SIZE)]
    for opname, pyop in PY_OPS.items():
        if opname in BITWISE and not all(isinstance(c, int) for c in contributions):
            continue  # & and | are not defined on floats
        op = getattr(MPI, opname)
        want = functools.reduce(pyop, contributions)
        if SIZE == 1 and opname in ("LAND", "LOR", "LXOR"):
            want = contributions[0]  # one rank: nothing to combine, the value comes back as is
        check(f"allreduce {opname} {kind}", lambda op=op, f=f: W.allreduce(f(RANK), op=op), want)
        check(f"reduce {opname} {kind} to last", lambda op=op, f=f: W.reduce(f(RANK), op=op,
                                                                             root=LAST),
              want if RANK == LAST else None)

# -- where a fast C path for scalars could part ways with Python's semantics -------------------------
EDGES = {
    "int64 overflow": lambda r: 2**62 + r,
    "int64 max": lambda r: 2**63 - 1 if r == 0 else 0,
    "int64 min": lambda r: -2**63 + r,
    "big negative": lambda r: -(2**70) + r,
    "product overflow": lambda r: 2**40 + r,
    "bool": lambda r: r % 2 == 0,
    "numpy float64": lambda r: np.float64(r + 0.5),
    "numpy int64": lambda r: np.int64(r * 3),
    "nan": lambda r: float("nan") if r == SIZE - 1 else float(r),
    "inf": lambda r: float("inf") if r == 0 else -1.5,
    "negative zero": lambda r: -0.0,
    "int then float": lambda r: 1 if r == 0 else 2.5,
}
for kind, f in EDGES.items():
    contributions = [f(r) for r in range(SIZE)]
    for opname in ("SUM", "PROD", "MAX", "MIN", "BAND", "BOR", "BXOR"):
        if opname in BITWISE and not all(isinstance(c, (int, np.integer)) for c in contributions):
            continue
        if kind == "nan" and opname in ("MAX", "MIN"):
            continue  # comparisons with NaN depend on the order of the operands
        want = functools.reduce(PY_OPS[opname], contributions)
        check(f"allreduce {opname} {kind}", lambda op=getattr(MPI, opname), f=f:
              W.allreduce(f(RANK), op=op), want)

check("allreduce default op is SUM", lambda: W.allreduce(RANK + 1), SIZE * (SIZE + 1) // 2)
check("reduce default root 0", lambda: W.reduce(RANK + 1),
      SIZE * (SIZE + 1) // 2 if RANK == 0 else None)
check("allreduce numpy SUM", lambda: W.allreduce(np.arange(4) * (RANK + 1), op=MPI.SUM),
      np.arange(4) * (SIZE * (SIZE + 1) // 2))
check("allreduce numpy PROD", lambda: W.allreduce(np.array([RANK + 1, 2], "f8"), op=MPI.PROD),
      np.array([float(functools.reduce(operator.mul, range(1, SIZE + 1))), 2.0**SIZE]))

pairs = [((r * 3) % 4, r) for r in range(SIZE)]  # repeated values: ties go to the lowest index
max_v = max(v for v, _ in pairs)
min_v = min(v for v, _ in pairs)
want_max = (max_v, min(i for v, i in pairs if v == max_v))
want_min = (min_v, min(i for v, i in pairs if v == min_v))
check("allreduce MAXLOC tuple", lambda: W.allreduce(pairs[RANK], op=MPI.MAXLOC), want_max)
check("allreduce MINLOC tuple", lambda: W.allreduce(pairs[RANK], op=MPI.MINLOC), want_min)
check("reduce MAXLOC to 0", lambda: W.reduce(pairs[RANK], op=MPI.MAXLOC, root=0),
      want_max if RANK == 0 else None)
check("allreduce MAXLOC float value", lambda: W.allreduce((RANK * 1.5, RANK), op=MPI.MAXLOC),
      (LAST * 1.5, LAST))
check("allreduce MINLOC list pair", lambda: W.allreduce([-RANK, RANK], op=MPI.MINLOC),
      (-LAST, LAST) if SIZE > 1 else [0, 0])

# -- scan / exscan ------------------------------------------------------------------------------
check("scan SUM", lambda: W.scan(RANK + 1), (RANK + 1) * (RANK + 2) // 2)
check("scan PROD", lambda: W.scan(RANK + 1, op=MPI.PROD), functools.reduce(operator.mul,
                                                                           range(1, RANK + 2)))
check("scan MAX", lambda: W.scan((RANK * 5) % 3, op=MPI.MAX),
      max((r * 5) % 3 for r in range(RANK + 1)))
check("exscan SUM", lambda: W.exscan(RANK + 1), None if RANK == 0 else RANK * (RANK + 1) // 2)
check("exscan float SUM", lambda: W.exscan(0.5), None if RANK == 0 else 0.5 * RANK)

# -- pickle protocol 5: large numpy arrays inside objects ----------------------------------------
# 64 MiB of float64 on 2 ranks (the case the memory test looks at), 4 MiB otherwise (fast)
N = 8 * 1024 * 1024 if SIZE == 2 else 512 * 1024


def big_point_to_point():
    """Rank 0 sends a dict holding a big array to rank 1 (to itself on one rank) and measures
    how much its peak memory grows: an in-band pickle copies the whole array."""
    if RANK > 1:
        return "skipped"
    if RANK == 0:
        arr = np.arange(N, dtype="f8")
        peer = 1 if SIZE > 1 else 0
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if SIZE > 1:
            W.send({"array": arr, "meta": ("tag", 5)}, dest=peer, tag=55)
        else:
            req = W.isend({"array": arr, "meta": ("tag", 5)}, dest=peer, tag=55)
        growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        info("pickle5 sender peak RSS growth MiB", growth / 1024)
        if SIZE > 1:
            return "sent"
    got = W.recv(source=0, tag=55)
    if SIZE == 1:
        req.wait()
    a = got["array"]
    a[0] = -1.0  # a received array must be writable
    return [sorted(got), got["meta"], type(a).__name__, a.dtype.str, a.shape,
            bool(a.flags.writeable), bool(a.flags.c_contiguous), float(a[1:].sum()),
            bool((a[1:] == np.arange(1, N, dtype="f8")).all()), float(a[0])]


want_big = [["array", "meta"], ("tag", 5), "ndarray", "<f8", (N,), True, True,
            float(np.arange(1, N, dtype="f8").sum()), True, -1.0]
check("pickle5 big dict p2p", big_point_to_point,
      want_big if RANK == 1 or SIZE == 1 else ("sent" if RANK == 0 else "skipped"))


def big_bcast():
    obj = {"x": np.arange(1024 * 1024, dtype="i8").reshape(1024, 1024),
           "f": np.ones((3, 5), dtype="f4")[:, ::2]} if RANK == 0 else None
    got = W.bcast(obj, root=0)
    x, f = got["x"], got["f"]
    x[0, 0] = 7
    return [x.shape, x.dtype.str, bool(x.flags.writeable), int(x[1:].sum() + x[0, 1:].sum()),
            int(x[0, 0]), f.shape, f.dtype.str, float(f.sum())]


check("pickle5 8 MiB bcast, non-contiguous part", big_bcast,
      [(1024, 1024), "<i8", True, int(np.arange(1, 1024 * 1024, dtype="i8").sum()), 7,
       (3, 3), "<f4", 9.0])


def gather_arrays():
    got = W.gather(np.full((2, 3), RANK, dtype="i2"), root=0)
    if RANK != 0:
        return got
    return [(a.dtype.str, a.shape, bool(a.flags.writeable), int(a.sum())) for a in got]


check("gather numpy arrays", gather_arrays,
      [("<i2", (2, 3), True, 6 * r) for r in range(SIZE)] if RANK == 0 else None)
check("end barrier", W.barrier, None)
done()
