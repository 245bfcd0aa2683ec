"""The rest of the API a tutorial can reach: MPI calls from threads (a blocked wait must let
other threads run), cancelling requests, communicator names and kinds, nonblocking
collectives, Reduce_scatter_block, user-defined ops, derived datatypes, Cartcomm.Sub,
typecode strings, Ssend, and the any/some forms of waiting. Works on any number of ranks."""

import threading
import time

from harness import MPI, RANK, SIZE, check, done, np

W = MPI.COMM_WORLD
right, left = (RANK + 1) % SIZE, (RANK - 1) % SIZE

# -- threads: a thread blocked in recv must not stop the main thread from sending -------------------


def recv_in_thread():
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("got", W.recv(source=RANK, tag=5)))
    t.start()
    time.sleep(0.2)  # the thread is now waiting inside MPI
    W.send(("to myself", RANK), dest=RANK, tag=5)  # needs the GIL the waiting thread let go
    t.join(10)
    return box.get("got", "thread still blocked")


def Recv_in_thread():
    buf = np.zeros(3)
    t = threading.Thread(target=lambda: W.Recv(buf, source=RANK, tag=6))
    t.start()
    time.sleep(0.2)
    req = W.Isend(np.arange(3.0) + RANK, dest=RANK, tag=6)
    t.join(10)
    req.Wait()
    return buf


check("recv in a thread, send from main", recv_in_thread, ("to myself", RANK))
check("Recv in a thread, Isend from main", Recv_in_thread, np.arange(3.0) + RANK)


def collective_in_thread():
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("sum", W.allreduce(RANK)))
    t.start()
    t.join(20)
    return box.get("sum", "thread still blocked")


check("allreduce from a thread", collective_in_thread, SIZE * (SIZE - 1) // 2)

# -- cancelling ---------------------------------------------------------------------------------------


def cancel_irecv():
    buf = np.zeros(2)
    req = W.Irecv(buf, source=RANK, tag=77)  # nobody sends this
    req.Cancel()
    st = MPI.Status()
    req.Wait(st)
    return [st.Is_cancelled(), req == MPI.REQUEST_NULL]


check("Cancel an Irecv", cancel_irecv, [True, True])


def request_free_after_send():
    req = W.Isend(np.arange(2.0), dest=RANK, tag=78)
    buf = np.zeros(2)
    W.Recv(buf, source=RANK, tag=78)
    req.Free()
    return [buf, req == MPI.REQUEST_NULL]


check("Request.Free", request_free_after_send, [np.arange(2.0), True])

# -- names and kinds -----------------------------------------------------------------------------------
check("COMM_WORLD name", lambda: W.Get_name(), "MPI_COMM_WORLD")
check("COMM_SELF name", lambda: MPI.COMM_SELF.name, "MPI_COMM_SELF")


def named_dup():
    d = W.Dup()
    d.Set_name("mine")
    try:
        return [d.Get_name(), d.name, d.Is_intra(), d.Is_inter(), d.Get_topology() == MPI.UNDEFINED]
    finally:
        d.Free()


check("Set_name/Get_name/Is_intra/Is_inter", named_dup, ["mine", "mine", True, False, True])

# -- nonblocking collectives -------------------------------------------------------------------------


def nonblocking_collectives():
    out = []
    req = W.Ibarrier()
    req.Wait()
    out.append(req == MPI.REQUEST_NULL)
    b = np.arange(3.0) if RANK == 0 else np.zeros(3)
    W.Ibcast(b, root=0).Wait()
    out.append(b)
    r = np.zeros(2, "i8")
    W.Iallreduce(np.array([RANK, 1], "i8"), r, op=MPI.SUM).Wait()
    out.append(r)
    g = np.zeros(SIZE, "i4")
    W.Iallgather(np.array([RANK * 2], "i4"), g).Wait()
    out.append(g)
    a = np.zeros(SIZE, "f8")
    W.Ialltoall(np.arange(SIZE, dtype="f8") + 10 * RANK, a).Wait()
    out.append(a)
    s = np.zeros(1, "i8")
    W.Iscan(np.array([RANK + 1], "i8"), s, op=MPI.SUM).Wait()
    out.append(s)
    sc = np.zeros(2, "i4")
    W.Iscatter(np.arange(2 * SIZE, dtype="i4") if RANK == 0 else None, sc, root=0).Wait()
    out.append(sc)
    ga = np.zeros(SIZE, "i4") if RANK == 0 else None
    W.Igather(np.array([RANK], "i4"), ga, root=0).Wait()
    out.append(ga)
    rd = np.zeros(1, "f8") if RANK == 0 else None
    W.Ireduce(np.array([RANK + 0.5]), rd, op=MPI.MAX, root=0).Wait()
    out.append(rd)
    return out


check("I-collectives", nonblocking_collectives, [
    True, np.arange(3.0), np.array([SIZE * (SIZE - 1) // 2, SIZE], "i8"),
    np.arange(SIZE, dtype="i4") * 2, np.arange(SIZE, dtype="f8") * 10 + RANK,
    np.array([(RANK + 1) * (RANK + 2) // 2], "i8"), np.array([2 * RANK, 2 * RANK + 1], "i4"),
    np.arange(SIZE, dtype="i4") if RANK == 0 else None,
    np.array([SIZE - 0.5]) if RANK == 0 else None,
])


def reduce_scatter_block():
    send = np.arange(2 * SIZE, dtype="i8") * (RANK + 1)
    recv = np.zeros(2, "i8")
    W.Reduce_scatter_block(send, recv, op=MPI.SUM)
    return recv


total = SIZE * (SIZE + 1) // 2
check("Reduce_scatter_block", reduce_scatter_block,
      np.array([2 * RANK, 2 * RANK + 1], "i8") * total)


def reduce_scatter(counts, nonblocking=False):
    """Rank r keeps counts[r] elements of the sum (counts None: each rank's recvbuf size)."""
    sizes = [r + 1 for r in range(SIZE)]
    send = np.arange(sum(sizes), dtype="f8") * (RANK + 1)
    recv = np.zeros(RANK + 1, "f8")
    if nonblocking:
        W.Ireduce_scatter(send, recv, counts, op=MPI.SUM).Wait()
    else:
        W.Reduce_scatter(send, recv, counts, op=MPI.SUM)
    return recv


first = RANK * (RANK + 1) // 2
mine = np.arange(first, first + RANK + 1, dtype="f8") * total
check("Reduce_scatter with recvcounts", lambda: reduce_scatter([r + 1 for r in range(SIZE)]), mine)
check("Reduce_scatter, counts from the recvbufs", lambda: reduce_scatter(None), mine)
check("Ireduce_scatter", lambda: reduce_scatter([r + 1 for r in range(SIZE)], True), mine)

# -- user-defined op for lowercase calls ---------------------------------------------------------------


def concat_sorted(x, y, datatype):
    # mpi4py's signature for a user op: (inbuf, inoutbuf, datatype), also for lowercase calls
    return sorted(x + y)


def user_op():
    op = MPI.Op.Create(concat_sorted, commute=True)
    try:
        return [W.allreduce([RANK], op=op), W.reduce([RANK * 2], op=op, root=0)]
    finally:
        op.Free()


check("Op.Create for allreduce/reduce", user_op,
      [list(range(SIZE)), [2 * r for r in range(SIZE)] if RANK == 0 else None])
check("op as a function", lambda: MPI.SUM(3, 4), 7)

# -- derived datatypes ---------------------------------------------------------------------------------


def vector_type():
    vec = MPI.DOUBLE.Create_vector(3, 1, 2).Commit()  # every other double, 3 of them
    try:
        send = np.arange(6.0) + 100 * RANK
        recv = np.zeros(3)
        W.Sendrecv([send, 1, vec], dest=right, recvbuf=recv, source=left)
        return [recv, vec.Get_size(), vec.Get_extent()]
    finally:
        vec.Free()


check("Create_vector in Sendrecv", vector_type,
      [np.array([0.0, 2.0, 4.0]) + 100 * left, 24, (0, 40)])


def contiguous_type():
    pair = MPI.INT.Create_contiguous(2).Commit()
    try:
        recv = np.zeros(2 * SIZE, "i4")
        W.Allgather([np.array([RANK, -RANK], "i4"), 1, pair], [recv, pair])
        return recv
    finally:
        pair.Free()


check("Create_contiguous in Allgather", contiguous_type,
      np.array(sum(([r, -r] for r in range(SIZE)), []), "i4"))
check("typecode string spec", lambda: (lambda b: (W.Allreduce([np.ones(2), "d"], [b, "d"]), b)[1])(
    np.zeros(2)), np.full(2, float(SIZE)))

# -- Cartcomm.Sub ---------------------------------------------------------------------------------------


def cart_sub():
    dims = MPI.Compute_dims(SIZE, 2)
    cart = W.Create_cart(dims)
    rows = cart.Sub([False, True])  # keep the second dimension: one communicator per row
    try:
        return [rows.Get_size(), rows.Get_rank(), rows.allreduce(RANK)]
    finally:
        rows.Free()
        cart.Free()


dims = MPI.Compute_dims(SIZE, 2)
row = RANK // dims[1]
check("Cartcomm.Sub", cart_sub,
      [dims[1], RANK % dims[1], sum(range(row * dims[1], (row + 1) * dims[1]))])

# -- Ssend / ssend and the any/some waits -------------------------------------------------------------


def ssend_pair():
    req = W.Irecv(buf := np.zeros(2), source=left, tag=90)
    if SIZE == 1:
        sreq = W.Issend(np.arange(2.0), dest=RANK, tag=90)
        req.Wait()
        sreq.Wait()
    else:
        W.Ssend(np.arange(2.0) + RANK, dest=right, tag=90)
        req.Wait()
    return buf


check("Ssend", ssend_pair, np.arange(2.0) + (left if SIZE > 1 else 0))


def waitany_lower():
    reqs = [W.irecv(source=left, tag=91), W.irecv(source=left, tag=92)]
    sends = [W.isend("b", dest=right, tag=92), W.isend("a", dest=right, tag=91)]
    got = sorted([MPI.Request.waitany(reqs), MPI.Request.waitany(reqs)])
    MPI.Request.waitall(sends)
    return got


check("Request.waitany", waitany_lower, [(0, "a"), (1, "b")])


def waitsome_testany():
    bufs = [np.zeros(1) for _ in range(2)]
    reqs = [W.Irecv(bufs[k], source=left, tag=93 + k) for k in range(2)]
    sends = [W.Isend(np.array([RANK + k + 0.5]), dest=right, tag=93 + k) for k in range(2)]
    seen = set()
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:
        idx = MPI.Request.Waitsome(reqs)
        seen.update(idx or [])
    MPI.Request.Waitall(sends)
    idx_flag = MPI.Request.Testany(reqs)  # all done: (UNDEFINED, True)
    return [sorted(seen), bufs, idx_flag]


check("Request.Waitsome/Testany", waitsome_testany,
      [[0, 1], [np.array([left + k + 0.5]) for k in range(2)], (MPI.UNDEFINED, True)])
check("end", W.Barrier, None)
done()
