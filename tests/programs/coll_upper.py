"""Uppercase (buffer) collectives on numpy arrays of several dtypes and on bytearray: Bcast
Scatter Gather Allgather Alltoall Reduce Allreduce Scan Exscan Barrier, the v-variants Scatterv
Gatherv Allgatherv Alltoallv with `[buf, (counts, displs), type]` specs, MPI.IN_PLACE, every op
(MAXLOC/MINLOC on pair datatypes), and message specs `[buf, type]`, `[buf, count, type]`."""

import functools
import operator

from harness import MPI, RANK, SIZE, check, done, np

W = MPI.COMM_WORLD
LAST = SIZE - 1
DTYPES = ["f8", "f4", "i4", "i8", "i2", "u1", "c16"]


def base(dt, r, n=4):
    return ((np.arange(n) + 1) * (r + 1) % 7).astype(dt)


# -- Bcast / Scatter / Gather / Allgather / Alltoall on each dtype ---------------------------------
for dt in DTYPES:
    def bcast(dt=dt):
        buf = base(dt, 0) if RANK == 0 else np.zeros(4, dt)
        W.Bcast(buf, root=0)
        return buf

    check(f"Bcast {dt}", bcast, base(dt, 0))

    def scatter(dt=dt):
        send = np.arange(3 * SIZE).astype(dt) if RANK == LAST else None
        recv = np.zeros(3, dt)
        W.Scatter(send, recv, root=LAST)
        return recv

    check(f"Scatter {dt}", scatter, np.arange(3 * RANK, 3 * RANK + 3).astype(dt))

    def gather(dt=dt):
        recv = np.zeros((SIZE, 4), dt) if RANK == 0 else None
        W.Gather(base(dt, RANK), recv, root=0)
        return recv

    check(f"Gather {dt}", gather,
          np.array([base(dt, r) for r in range(SIZE)]) if RANK == 0 else None)

    def allgather(dt=dt):
        recv = np.zeros((SIZE, 4), dt)
        W.Allgather(base(dt, RANK), recv)
        return recv

    check(f"Allgather {dt}", allgather, np.array([base(dt, r) for r in range(SIZE)]))

    def alltoall(dt=dt):
        send = (RANK * 10 + np.arange(SIZE)).astype(dt)
        recv = np.zeros(SIZE, dt)
        W.Alltoall(send, recv)
        return recv

    check(f"Alltoall {dt}", alltoall, (np.arange(SIZE) * 10 + RANK).astype(dt))

    def allreduce_sum(dt=dt):
        recv = np.zeros(4, dt)
        W.Allreduce(base(dt, RANK), recv, op=MPI.SUM)
        return recv

    check(f"Allreduce SUM {dt}", allreduce_sum,
          functools.reduce(operator.add, [base(dt, r) for r in range(SIZE)]))


def bytearray_collectives():
    b = bytearray(b"root" if RANK == 0 else b"....")
    W.Bcast(b, root=0)
    g = bytearray(2 * SIZE)
    W.Allgather(bytearray([RANK, 255 - RANK]), g)
    return [b, g]


check("bytearray Bcast/Allgather", bytearray_collectives,
      [bytearray(b"root"), bytearray(sum(([r, 255 - r] for r in range(SIZE)), []))])

# -- Reduce / Allreduce with every op --------------------------------------------------------------
CONTRIB = {
    "f8": lambda r: np.array([r + 0.5, -r, 2.0, (r * 3) % 4], "f8"),
    "i4": lambda r: np.array([r + 1, -r, 2, (r * 3) % 4], "i4"),
    "i8": lambda r: np.array([2**40 + r, -r, 3, (r * 5) % 4], "i8"),
    "u1": lambda r: np.array([r + 1, 0b1010 >> (r % 3), 1, 255 - r], "u1"),
}
NP_OPS = {"SUM": np.add, "PROD": np.multiply, "MAX": np.maximum, "MIN": np.minimum,
          "LAND": np.logical_and, "LOR": np.logical_or, "BAND": np.bitwise_and,
          "BOR": np.bitwise_or, "BXOR": np.bitwise_xor, "LXOR": np.logical_xor}

for dt, f in CONTRIB.items():
    for opname, npop in NP_OPS.items():
        if dt == "f8" and opname not in ("SUM", "PROD", "MAX", "MIN"):
            continue  # logical and bitwise ops are not defined on floating point in MPI
        contribs = [f(r) for r in range(SIZE)]
        want = functools.reduce(npop, contribs).astype(dt)
        op = getattr(MPI, opname)

        def allreduce(f=f, op=op, dt=dt):
            recv = np.zeros(4, dt)
            W.Allreduce(f(RANK), recv, op=op)
            return recv

        def reduce(f=f, op=op, dt=dt):
            recv = np.zeros(4, dt) if RANK == LAST else None
            W.Reduce(f(RANK), recv, op=op, root=LAST)
            return recv

        check(f"Allreduce {opname} {dt}", allreduce, want)
        check(f"Reduce {opname} {dt}", reduce, want if RANK == LAST else None)


def maxloc_pairs(op, pair_type, dtype):
    vals = np.array([[(RANK * 3) % 4, RANK], [-RANK, RANK]], dtype=dtype)
    recv = np.zeros_like(vals)
    W.Allreduce([vals, pair_type], [recv, pair_type], op=op)
    return recv


pairs = [((r * 3) % 4, r) for r in range(SIZE)]
mx = max(v for v, _ in pairs)
mn = min(v for v, _ in pairs)
check("Allreduce MAXLOC TWOINT", lambda: maxloc_pairs(MPI.MAXLOC, MPI.TWOINT, "i4"),
      np.array([[mx, min(i for v, i in pairs if v == mx)], [0, 0]], "i4"))
check("Allreduce MINLOC TWOINT", lambda: maxloc_pairs(MPI.MINLOC, MPI.TWOINT, "i4"),
      np.array([[mn, min(i for v, i in pairs if v == mn)], [-LAST, LAST]], "i4"))


def maxloc_double_int():
    dt = np.dtype([("v", "f8"), ("i", "i4")], align=True)
    send = np.array([(RANK * 1.5, RANK)], dtype=dt)
    recv = np.zeros(1, dtype=dt)
    W.Allreduce([send, MPI.DOUBLE_INT], [recv, MPI.DOUBLE_INT], op=MPI.MAXLOC)
    return [float(recv["v"][0]), int(recv["i"][0])]


check("Allreduce MAXLOC DOUBLE_INT", maxloc_double_int, [LAST * 1.5, LAST])

# -- IN_PLACE --------------------------------------------------------------------------------------
def allreduce_in_place():
    buf = np.array([RANK, 1, 2 * RANK], "f8")
    W.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    return buf


s = SIZE * (SIZE - 1) // 2
check("Allreduce IN_PLACE", allreduce_in_place, np.array([s, SIZE, 2 * s], "f8"))


def reduce_in_place():
    buf = np.array([RANK + 1, RANK], "i8")
    if RANK == 0:
        W.Reduce(MPI.IN_PLACE, buf, op=MPI.MAX, root=0)
    else:
        W.Reduce(buf, None, op=MPI.MAX, root=0)
    return buf


check("Reduce IN_PLACE at root", reduce_in_place,
      np.array([SIZE, LAST], "i8") if RANK == 0 else np.array([RANK + 1, RANK], "i8"))


def gather_in_place():
    if RANK == 0:
        recv = np.full((SIZE, 2), -1, "i4")
        recv[0] = [100, 100]
        W.Gather(MPI.IN_PLACE, recv, root=0)
        return recv
    W.Gather(np.array([RANK, RANK * RANK], "i4"), None, root=0)
    return None


check("Gather IN_PLACE at root", gather_in_place,
      np.array([[100, 100]] + [[r, r * r] for r in range(1, SIZE)], "i4") if RANK == 0 else None)


def allgather_in_place():
    buf = np.zeros((SIZE, 3), "f4")
    buf[RANK] = RANK + 0.5
    W.Allgather(MPI.IN_PLACE, buf)
    return buf


check("Allgather IN_PLACE", allgather_in_place,
      np.array([[r + 0.5] * 3 for r in range(SIZE)], "f4"))


def scatter_in_place():
    send = np.arange(SIZE * 2, dtype="i8") * 10 if RANK == 0 else None
    recv = np.full(2, -1, "i8")
    if RANK == 0:
        W.Scatter(send, MPI.IN_PLACE, root=0)
        return send
    W.Scatter(None, recv, root=0)
    return recv


check("Scatter IN_PLACE at root", scatter_in_place,
      np.arange(SIZE * 2, dtype="i8") * 10 if RANK == 0
      else np.array([20 * RANK, 20 * RANK + 10], "i8"))

# -- message specs ---------------------------------------------------------------------------------
def specs():
    out = []
    d = np.arange(5, dtype="f8") if RANK == 0 else np.zeros(5)
    W.Bcast([d, MPI.DOUBLE], root=0)
    out.append(d)
    i = np.arange(6, dtype="i4") if RANK == 0 else np.full(6, -1, "i4")
    W.Bcast([i, 3, MPI.INT], root=0)
    out.append(i)
    r = np.zeros(2, "f8")
    W.Allreduce([np.array([RANK, 1.0]), MPI.DOUBLE], [r, MPI.DOUBLE], op=MPI.SUM)
    out.append(r)
    g = np.zeros(SIZE * 2, "i8")
    W.Allgather([np.array([RANK, -RANK], "i8"), 2, MPI.INT64_T], [g, MPI.INT64_T])
    out.append(g)
    return out


check("specs [buf,T] [buf,n,T]", specs, [
    np.arange(5, dtype="f8"),
    np.array([0, 1, 2] + ([3, 4, 5] if RANK == 0 else [-1, -1, -1]), "i4"),
    np.array([s, SIZE], "f8"),
    np.array(sum(([r, -r] for r in range(SIZE)), []), "i8"),
])

# -- v-variants --------------------------------------------------------------------------------------
counts = [r + 1 for r in range(SIZE)]
displs = [sum(counts[:r]) for r in range(SIZE)]
total = sum(counts)


def scatterv():
    send = np.arange(total, dtype="f8") * 2 if RANK == 0 else None
    recv = np.zeros(counts[RANK], "f8")
    W.Scatterv([send, (counts, displs), MPI.DOUBLE] if RANK == 0 else None, recv, root=0)
    return recv


check("Scatterv", scatterv, np.arange(displs[RANK], displs[RANK] + counts[RANK], dtype="f8") * 2)


def gatherv():
    send = np.full(counts[RANK], RANK, "i4")
    recv = np.full(total, -1, "i4") if RANK == LAST else None
    W.Gatherv(send, [recv, (counts, displs), MPI.INT] if RANK == LAST else None, root=LAST)
    return recv


expected_gv = np.array(sum(([r] * (r + 1) for r in range(SIZE)), []), "i4")
check("Gatherv", gatherv, expected_gv if RANK == LAST else None)


def gatherv_counts_only():
    send = np.full(counts[RANK], RANK, "i4")
    recv = np.full(total, -1, "i4") if RANK == 0 else None
    W.Gatherv(send, [recv, counts] if RANK == 0 else None, root=0)
    return recv


check("Gatherv [buf, counts]", gatherv_counts_only, expected_gv if RANK == 0 else None)


def gatherv_four_items():
    recv = np.full(total, -1, "i4") if RANK == 0 else None
    W.Gatherv(np.full(counts[RANK], RANK, "i4"),
              [recv, counts, displs, MPI.INT] if RANK == 0 else None, root=0)
    return recv


check("Gatherv [buf, counts, displs, INT]", gatherv_four_items, expected_gv if RANK == 0 else None)


def allgatherv():
    send = np.full(counts[RANK], RANK + 0.25, "f4")
    recv = np.zeros(total, "f4")
    W.Allgatherv(send, [recv, (counts, displs), MPI.FLOAT])
    return recv


check("Allgatherv", allgatherv,
      np.array(sum(([r + 0.25] * (r + 1) for r in range(SIZE)), []), "f4"))


def allgatherv_gaps():
    # displacements with holes: the holes must be left untouched
    gdispls = [2 * d for d in displs]
    recv = np.full(2 * total, -7, "i8")
    W.Allgatherv(np.full(counts[RANK], RANK, "i8"), [recv, (counts, gdispls), MPI.INT64_T])
    return recv


want_gaps = np.full(2 * total, -7, "i8")
for r in range(SIZE):
    want_gaps[2 * displs[r]: 2 * displs[r] + counts[r]] = r
check("Allgatherv with holes", allgatherv_gaps, want_gaps)


def allgatherv_no_type():
    recv = np.zeros(total, "i4")
    W.Allgatherv(np.full(counts[RANK], RANK, "i4"), [recv, (counts, displs), None])
    return recv


check("Allgatherv [buf, (counts, displs), None]", allgatherv_no_type, expected_gv)


def alltoallv():
    # rank r sends j+1 items of value 100*r + j to rank j
    scounts = [j + 1 for j in range(SIZE)]
    sdispls = [sum(scounts[:j]) for j in range(SIZE)]
    send = np.concatenate([np.full(j + 1, 100 * RANK + j, "i4") for j in range(SIZE)])
    rcounts = [RANK + 1] * SIZE
    rdispls = [i * (RANK + 1) for i in range(SIZE)]
    recv = np.zeros(SIZE * (RANK + 1), "i4")
    W.Alltoallv([send, (scounts, sdispls), MPI.INT], [recv, (rcounts, rdispls), MPI.INT])
    return recv


check("Alltoallv", alltoallv,
      np.concatenate([np.full(RANK + 1, 100 * i + RANK, "i4") for i in range(SIZE)]))

# -- Scan / Exscan / Barrier -------------------------------------------------------------------------
def scan():
    recv = np.zeros(2, "i8")
    W.Scan(np.array([RANK + 1, 1], "i8"), recv, op=MPI.SUM)
    return recv


check("Scan", scan, np.array([(RANK + 1) * (RANK + 2) // 2, RANK + 1], "i8"))


def exscan():
    recv = np.full(2, -1, "i8")
    W.Exscan(np.array([RANK + 1, 1], "i8"), recv, op=MPI.SUM)
    return recv if RANK > 0 else None  # rank 0's buffer is undefined by the standard


check("Exscan", exscan, np.array([RANK * (RANK + 1) // 2, RANK], "i8") if RANK > 0 else None)
check("Barrier", W.Barrier, None)
done()
