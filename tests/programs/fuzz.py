"""Randomised buffer collectives: many cases of (call, dtype, length, op, root, counts) drawn
from a seeded generator that every rank (and both implementations) replays identically. Values
are small integers so every sum and product is exact whatever order MPI reduces in; counts
include zeros and empty buffers. One record per case."""

import os

from harness import MPI, RANK, SIZE, check, done, np

W = MPI.COMM_WORLD
SEED = int(os.environ.get("BINDTEST_SEED", "20261125"))
CASES = int(os.environ.get("BINDTEST_CASES", "100"))
rng = np.random.RandomState(SEED)

INTS = ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"]
FLOATS = ["f4", "f8"]
COMPLEX = ["c8", "c16"]
OPS = {
    "int": ["SUM", "PROD", "MAX", "MIN", "LAND", "LOR", "LXOR", "BAND", "BOR", "BXOR"],
    "float": ["SUM", "PROD", "MAX", "MIN"],
    "complex": ["SUM", "PROD"],
    "bool": ["LAND", "LOR", "LXOR"],
}


MPITYPE = {"i1": "SIGNED_CHAR", "i2": "SHORT", "i4": "INT", "i8": "INT64_T", "u1": "UNSIGNED_CHAR",
           "u2": "UNSIGNED_SHORT", "u4": "UNSIGNED", "u8": "UINT64_T", "f4": "FLOAT",
           "f8": "DOUBLE", "c8": "C_FLOAT_COMPLEX", "c16": "C_DOUBLE_COMPLEX", "?": "C_BOOL"}


def kind(dt):
    return ("int" if dt in INTS else "float" if dt in FLOATS else
            "complex" if dt in COMPLEX else "bool")


def values(dt, n, r, op):
    """Rank r's contribution: small integers (or bools), so results are exact."""
    local = np.random.RandomState(hash((SEED, case, r)) % 2**32)
    if dt == "?":
        return local.randint(0, 2, n).astype("?")
    hi = 3 if op == "PROD" else 50
    lo = 0 if dt.startswith("u") or op == "PROD" else -hi
    v = local.randint(lo, hi, n).astype(dt)
    if dt in COMPLEX:
        v = v + 1j * local.randint(lo, hi, n).astype(dt)
    return v


for case in range(CASES):
    call = rng.choice(["Allreduce", "Reduce", "Bcast", "Scatterv", "Gatherv", "Allgatherv",
                       "Alltoallv", "Scan", "Allgather"])
    dt = str(rng.choice(INTS + FLOATS + COMPLEX + ["?"]))
    n = int(rng.choice([0, 1, 2, 7, 33]))
    op = str(rng.choice(OPS[kind(dt)]))
    root = int(rng.randint(0, SIZE))
    counts = [int(c) for c in rng.randint(0, 4, SIZE)]
    label = f"case {case}: {call} {dt} n={n} op={op} root={root} counts={counts}"
    mpi_op = getattr(MPI, op)
    T = getattr(MPI, MPITYPE[dt])

    def run():
        if call in ("Allreduce", "Reduce", "Scan"):
            send = values(dt, n, RANK, op)
            recv = np.zeros(n, dt)
            if call == "Allreduce":
                W.Allreduce(send, recv, op=mpi_op)
            elif call == "Scan":
                W.Scan(send, recv, op=mpi_op)
            else:
                W.Reduce(send, recv if RANK == root else None, op=mpi_op, root=root)
                return recv if RANK == root else None
            return recv
        if call == "Bcast":
            buf = values(dt, n, root, op) if RANK == root else np.zeros(n, dt)
            W.Bcast(buf, root=root)
            return buf
        if call == "Allgather":
            recv = np.zeros(SIZE * n, dt)
            W.Allgather(values(dt, n, RANK, op), recv)
            return recv
        displs = [sum(counts[:i]) for i in range(SIZE)]
        total = sum(counts)
        if call == "Scatterv":
            send = values(dt, total, root, op) if RANK == root else None
            recv = np.zeros(counts[RANK], dt)
            W.Scatterv([send, (counts, displs), T] if RANK == root else None, recv,
                       root=root)
            return recv
        if call == "Gatherv":
            recv = np.zeros(total, dt) if RANK == root else None
            W.Gatherv(values(dt, counts[RANK], RANK, op),
                      [recv, (counts, displs), T] if RANK == root else None, root=root)
            return recv
        if call == "Allgatherv":
            recv = np.zeros(total, dt)
            W.Allgatherv(values(dt, counts[RANK], RANK, op), [recv, (counts, displs), T])
            return recv
        # Alltoallv: rank r sends counts[j] items to rank j, receives counts[r] from each
        send = values(dt, total, RANK, op)
        rcounts = [counts[RANK]] * SIZE
        rdispls = [i * counts[RANK] for i in range(SIZE)]
        recv = np.zeros(SIZE * counts[RANK], dt)
        W.Alltoallv([send, (counts, displs), T], [recv, (rcounts, rdispls), T])
        return recv

    def canonical():
        out = run()
        # MPI may reduce in any order, and (-0.0)*x vs x*(-0.0) differ in the sign of zero only
        if out is not None and kind(dt) in ("float", "complex"):
            out = out + np.zeros((), dt)
        return out

    check(label, canonical)

check("end", W.Barrier, None)
done()
