"""Point-to-point: lowercase (pickled) and uppercase (buffer) send/recv, sendrecv, probe, the
nonblocking forms with every way of completing a Request, Status, PROC_NULL, ANY_SOURCE/ANY_TAG
and the message specs. Works on any number of ranks (one rank talks to itself)."""

import time

from harness import MPI, RANK, SIZE, check, done, np, value

W = MPI.COMM_WORLD
right, left = (RANK + 1) % SIZE, (RANK - 1) % SIZE
DTYPES = ["f8", "f4", "i4", "i8", "i2", "u1", "c16", "?"]


def payload(r):
    return {"from": r, "list": [r, r * 2.5, "x" * r], "tuple": (r, None), "big": 2**80 + r}


# -- lowercase -----------------------------------------------------------------------------------
def ring_send_recv():
    # even ranks send first, odd ranks receive first: no deadlock whatever the eager limit
    if SIZE == 1:
        req = W.isend(payload(RANK), dest=RANK, tag=11)
        got = W.recv(source=RANK, tag=11)
        req.wait()
        return got
    if RANK % 2 == 0:
        W.send(payload(RANK), dest=right, tag=11)
        got = W.recv(source=left, tag=11)
    else:
        got = W.recv(source=left, tag=11)
        W.send(payload(RANK), dest=right, tag=11)
    return got


if SIZE % 2 == 0 or SIZE == 1:
    check("send/recv ring", ring_send_recv, payload(left))
check("sendrecv ring", lambda: W.sendrecv(("hi", RANK), dest=right, sendtag=5,
                                          source=left, recvtag=5), ("hi", left))
check("sendrecv default tags", lambda: W.sendrecv([RANK], dest=right, source=left), [left])


def recv_with_status():
    st = MPI.Status()
    req = W.isend("status me", dest=right, tag=42)
    got = W.recv(source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG, status=st)
    req.wait()
    return [got, st.Get_source(), st.Get_tag(), st.source, st.tag], [st.Get_error(), st.error]


W.Barrier()  # wildcard receives below must only see the messages of their own check
got_status = recv_with_status()
value("recv ANY_SOURCE/ANY_TAG + Status", got_status[0], ["status me", left, 42, left, 42])
value("recv Status.Get_error/.error", got_status[1], [0, 0])
W.Barrier()
check("fresh Status", lambda: (lambda s: (s.source, s.tag, s.error))(MPI.Status()))


def gather_by_any_source():
    if RANK != 0:
        W.send((RANK, RANK * RANK), dest=0, tag=100 + RANK)
        return None
    got = []
    st = MPI.Status()
    for _ in range(SIZE - 1):
        obj = W.recv(source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG, status=st)
        got.append((st.source, st.tag, obj))
    return sorted(got)


check("ANY_SOURCE fan-in", gather_by_any_source,
      [(r, 100 + r, (r, r * r)) for r in range(1, SIZE)] if RANK == 0 else None)
W.Barrier()


def isend_irecv_wait():
    sreq = W.isend(payload(RANK), dest=right, tag=7)
    rreq = W.irecv(source=left, tag=7)
    got = rreq.wait()
    done_reqs.extend([sreq.wait() is None and sreq, rreq])
    return [got, type(sreq).__name__]


done_reqs = []
check("isend/irecv wait", isend_irecv_wait, [payload(left), "Request"])
check("completed requests == REQUEST_NULL", lambda: [r == MPI.REQUEST_NULL for r in done_reqs],
      [True, True])


def isend_irecv_test():
    rreq = W.irecv(source=left, tag=8)
    sreq = W.isend(["t", RANK], dest=right, tag=8)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        flag, msg = rreq.test()
        if flag:
            break
    while not sreq.test()[0]:
        pass
    return [flag, msg]


check("irecv test loop", isend_irecv_test, [True, ["t", left]])


def waitall_lower():
    reqs = [W.isend((RANK, k), dest=right, tag=20 + k) for k in range(3)]
    reqs += [W.irecv(source=left, tag=20 + k) for k in range(3)]
    return MPI.Request.waitall(reqs)


check("Request.waitall", waitall_lower, [None] * 3 + [(left, k) for k in range(3)])


def testall_lower():
    reqs = [W.isend(RANK, dest=right, tag=30), W.irecv(source=left, tag=30)]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        flag, objs = MPI.Request.testall(reqs)
        if flag:
            return [flag, objs]
    return "timed out"


check("Request.testall", testall_lower, [True, [None, left]])


def probe_then_recv():
    st = MPI.Status()
    req = W.isend("probed", dest=right, tag=21)
    found = W.probe(source=left, tag=21, status=st)
    got = W.recv(source=st.source, tag=st.tag)
    req.wait()
    return [found, st.source, st.tag, got]


check("probe", probe_then_recv, [True, left, 21, "probed"])


def iprobe_before_and_after():
    nothing = W.iprobe(source=left, tag=22)  # nobody sent tag 22 yet
    W.barrier()
    req = W.isend("later", dest=right, tag=22)
    deadline = time.monotonic() + 10
    st = MPI.Status()
    while not W.iprobe(source=MPI.ANY_SOURCE, tag=22, status=st):
        if time.monotonic() > deadline:
            return "timed out"
    got = W.recv(source=left, tag=22)
    req.wait()
    return [nothing, st.source, got]


check("iprobe", iprobe_before_and_after, [False, left, "later"])


def proc_null_lower():
    st = MPI.Status()
    a = W.send("void", dest=MPI.PROC_NULL)
    b = W.recv(source=MPI.PROC_NULL, status=st)
    c = W.sendrecv("void", dest=MPI.PROC_NULL, source=MPI.PROC_NULL)
    d = W.isend("void", dest=MPI.PROC_NULL).wait()
    e = W.irecv(source=MPI.PROC_NULL).wait()
    return [a, b, c, d, e, st.source, st.tag]


check("PROC_NULL lowercase", proc_null_lower, [None] * 5 + [MPI.PROC_NULL, MPI.ANY_TAG])


def issend_lower():
    req = W.issend("sync", dest=right, tag=9)
    got = W.recv(source=left, tag=9)
    req.wait()
    return got


check("issend", issend_lower, "sync")

# -- uppercase ---------------------------------------------------------------------------------
for dt in DTYPES:
    def sendrecv_dtype(dt=dt):
        send = (np.arange(10) * (RANK + 1)).astype(dt)
        recv = np.zeros(10, dtype=dt)
        W.Sendrecv(send, dest=right, sendtag=1, recvbuf=recv, source=left, recvtag=1)
        return recv

    check(f"Sendrecv {dt}", sendrecv_dtype, (np.arange(10) * (left + 1)).astype(dt))


def Send_Recv_pairs():
    send = np.arange(6, dtype="f8") + 100 * RANK
    recv = np.empty(6, dtype="f8")
    st = MPI.Status()
    if SIZE == 1:
        req = W.Isend(send, dest=0, tag=3)
        W.Recv(recv, source=0, tag=3, status=st)
        req.Wait()
    elif RANK % 2 == 0:
        W.Send(send, dest=right, tag=3)
        W.Recv(recv, source=left, tag=3, status=st)
    else:
        W.Recv(recv, source=left, tag=3, status=st)
        W.Send(send, dest=right, tag=3)
    return [recv, st.Get_source(), st.Get_tag(), st.Get_count(MPI.DOUBLE), st.Get_count(),
            st.count, st.source, st.tag, st.Get_elements(MPI.DOUBLE)]


if SIZE % 2 == 0 or SIZE == 1:
    check("Send/Recv + Status", Send_Recv_pairs,
          [np.arange(6, dtype="f8") + 100 * left, left, 3, 6, 48, 48, left, 3, 6])


def Recv_bytearray():
    req = W.Isend(bytearray(b"hello from %d" % RANK), dest=right, tag=4)
    buf = bytearray(len(b"hello from %d" % left))
    W.Recv(buf, source=left, tag=4)
    req.Wait()
    return buf


check("Send/Recv bytearray", Recv_bytearray, bytearray(b"hello from %d" % left))


def specs():
    out = []
    a = np.arange(8, dtype="f8") + RANK
    b = np.zeros(8, dtype="f8")
    W.Sendrecv([a, MPI.DOUBLE], dest=right, recvbuf=[b, MPI.DOUBLE], source=left)
    out.append(b.copy())
    i = np.arange(8, dtype="i4") * (RANK + 1)
    j = np.full(8, -1, dtype="i4")
    W.Sendrecv([i, 3, MPI.INT], dest=right, recvbuf=[j, 5, MPI.INT], source=left)
    out.append(j.copy())
    b[:] = 0
    W.Sendrecv([a, (3, 2), MPI.DOUBLE], dest=right, recvbuf=[b, (3, 4), MPI.DOUBLE], source=left)
    out.append(b.copy())
    c = bytearray(4)
    W.Sendrecv([bytearray(b"abcd"), MPI.BYTE], dest=right, recvbuf=[c, MPI.BYTE], source=left)
    out.append(c)
    k = np.zeros(4, dtype="i8")
    W.Sendrecv([np.arange(4, dtype="i8") + RANK, MPI.INT64_T], dest=right,
               recvbuf=[k, MPI.INT64_T], source=left)
    out.append(k)
    return out


check("message specs", specs, [
    np.arange(8, dtype="f8") + left,
    np.array([0, 1, 2, -1, -1, -1, -1, -1], dtype="i4") * np.array([left + 1] * 3 + [1] * 5, "i4"),
    np.array([0, 0, 0, 0, 2 + left, 3 + left, 4 + left, 0], dtype="f8"),
    bytearray(b"abcd"),
    np.arange(4, dtype="i8") + left,
])


def Isend_Irecv_Wait_Test():
    recv = np.zeros(5, dtype="i8")
    rreq = W.Irecv(recv, source=left, tag=50)
    sreq = W.Isend(np.arange(5, dtype="i8") * RANK, dest=right, tag=50)
    st = MPI.Status()
    deadline = time.monotonic() + 10
    while not rreq.Test(st):
        if time.monotonic() > deadline:
            return "timed out"
    sreq.Wait()
    tested_reqs.extend([sreq, rreq])
    return [recv, st.Get_source(), st.Get_tag(), st.Get_count(MPI.INT64_T)]


tested_reqs = []
check("Isend/Irecv Test(status)", Isend_Irecv_Wait_Test,
      [np.arange(5, dtype="i8") * left, left, 50, 5])
check("Wait/Test-completed requests == REQUEST_NULL",
      lambda: [r == MPI.REQUEST_NULL for r in tested_reqs], [True, True])


def Waitall_statuses():
    bufs = [np.zeros(3, dtype="f4") for _ in range(2)]
    reqs = [W.Irecv(bufs[k], source=left, tag=60 + k) for k in range(2)]
    reqs += [W.Isend(np.full(3, RANK + k, dtype="f4"), dest=right, tag=60 + k) for k in range(2)]
    statuses = [MPI.Status() for _ in reqs]
    r = MPI.Request.Waitall(reqs, statuses)
    return [r, bufs], [(s.source, s.tag) for s in statuses[:2]]


waitall_got = Waitall_statuses()
value("Request.Waitall", waitall_got[0], [True, [np.full(3, left + k, dtype="f4") for k in range(2)]])
value("Request.Waitall fills statuses", waitall_got[1], [(left, 60), (left, 61)])


def Waitany_twice():
    bufs = [np.zeros(2, dtype="i4") for _ in range(2)]
    rreqs = [W.Irecv(bufs[k], source=left, tag=70 + k) for k in range(2)]
    sreqs = [W.Isend(np.array([RANK, k], dtype="i4"), dest=right, tag=70 + k) for k in (1, 0)]
    seen = sorted([MPI.Request.Waitany(rreqs), MPI.Request.Waitany(rreqs)])
    after = MPI.Request.Waitany(rreqs)  # all null now
    MPI.Request.Waitall(sreqs)
    return [seen, after == MPI.UNDEFINED, bufs]


check("Request.Waitany", Waitany_twice,
      [[0, 1], True, [np.array([left, k], dtype="i4") for k in range(2)]])


def Testall_loop():
    buf = np.zeros(4, dtype="u1")
    reqs = [W.Irecv(buf, source=left, tag=80), W.Isend(np.full(4, RANK, "u1"), dest=right, tag=80)]
    deadline = time.monotonic() + 10
    first = None
    while True:
        flag = MPI.Request.Testall(reqs)
        first = flag if first is None else first
        if flag or time.monotonic() > deadline:
            break
    return [flag, buf]


check("Request.Testall", Testall_loop, [True, np.full(4, left, "u1")])


def Probe_sized_recv():
    n = 3 + RANK
    req = W.Isend(np.arange(n, dtype="i4"), dest=right, tag=90)
    st = MPI.Status()
    W.Probe(source=left, tag=90, status=st)
    count = st.Get_count(MPI.INT)
    buf = np.empty(count, dtype="i4")
    W.Recv(buf, source=left, tag=90)
    req.Wait()
    flag_none = W.Iprobe(source=left, tag=91)
    return [count, buf, flag_none]


check("Probe + Get_count sizes the buffer", Probe_sized_recv,
      [3 + left, np.arange(3 + left, dtype="i4"), False])


def proc_null_upper():
    buf = np.full(3, 7.0)
    st = MPI.Status()
    W.Send(np.zeros(3), dest=MPI.PROC_NULL)
    W.Recv(buf, source=MPI.PROC_NULL, status=st)
    W.Sendrecv(np.zeros(3), dest=MPI.PROC_NULL, recvbuf=buf, source=MPI.PROC_NULL)
    return [buf, st.source, st.tag, st.Get_count(MPI.DOUBLE)]


check("PROC_NULL uppercase", proc_null_upper, [np.full(3, 7.0), MPI.PROC_NULL, MPI.ANY_TAG, 0])


def Sendrecv_replace():
    buf = np.arange(4, dtype="f8") * RANK
    W.Sendrecv_replace(buf, dest=right, source=left)
    return buf


check("Sendrecv_replace", Sendrecv_replace, np.arange(4, dtype="f8") * left)


def big_message():
    # 4 MiB: past every eager limit, so the rendezvous path of the wait loop is used
    send = np.arange(512 * 1024, dtype="f8") + RANK
    recv = np.empty_like(send)
    W.Sendrecv(send, dest=right, recvbuf=recv, source=left)
    ok_upper = bool((recv == np.arange(512 * 1024, dtype="f8") + left).all())
    got = W.sendrecv(send, dest=right, source=left)
    ok_lower = bool((got == recv).all())
    return [ok_upper, ok_lower, got.dtype.str, got.shape]


check("4 MiB messages", big_message, [True, True, "<f8", (512 * 1024,)])
check("end barrier", W.Barrier, None)
done()
