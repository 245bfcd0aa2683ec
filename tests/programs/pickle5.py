"""Pickled messages that carry large buffers (numpy arrays, bytearray >= 64 KiB travel out of band
in mpikernel: a header message plus one MPI message per buffer). The hard cases for such a
protocol: receives by tag in another order than the sends, ANY_SOURCE/ANY_TAG with several
senders, probe before recv, nonblocking receives completed in reverse order, many buffers in one
object, layouts that cannot go out of band (non-contiguous, Fortran order, object dtype), and
every collective. Needs at least 2 ranks; rank 0 and 1 do the point-to-point part."""

from harness import IMPL, MPI, RANK, SIZE, check, done, np

W = MPI.COMM_WORLD
K = 64 * 1024  # float64 elements: 512 KiB per array, well over any out-of-band threshold


def big(seed, n=K, dtype="f8"):
    return (np.arange(n) * 3 + seed).astype(dtype)


def summary(obj):
    """What arrived, compactly: type, dtype, shape, order, writable, checksum."""
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return ("object-array", obj.shape, [summary(x) for x in obj.ravel()[:3]])
        flat = obj.ravel(order="K")
        checksum = float(flat.astype("f8").sum()) if obj.dtype.fields is None else \
            float(sum(obj[f].astype("f8").sum() for f in obj.dtype.names))
        return ("ndarray", obj.dtype.str, obj.shape, bool(obj.flags.f_contiguous and obj.ndim > 1),
                bool(obj.flags.writeable), checksum)
    if isinstance(obj, (bytes, bytearray)):
        return (type(obj).__name__, len(obj), sum(obj[::997]))
    if isinstance(obj, dict):
        return {k: summary(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)([summary(v) for v in obj])
    return obj


OBJECTS = {
    "dict of arrays": lambda s: {"a": big(s), "b": big(s + 1, dtype="i4"), "meta": [s, "x"]},
    "many buffers": lambda s: [big(s + i, n=8 * 1024) for i in range(40)],
    "fortran order": lambda s: np.asfortranarray(big(s).reshape(256, 256)),
    "non-contiguous view": lambda s: big(s, n=2 * K)[::2],
    "bytearray 1 MiB": lambda s: bytearray(big(s, dtype="u1", n=1 << 20)),
    "bytes 1 MiB": lambda s: bytes(big(s, dtype="u1", n=1 << 20)),
    "object array": lambda s: np.array([big(s, n=K // 4), "text", None], dtype=object),
    "structured": lambda s: np.array([(i, i * 0.5) for i in range(K // 4)],
                                     dtype=[("i", "i8"), ("x", "f8")]),
    "0-d and empty": lambda s: (np.array(float(s)), np.zeros((0, 3)), big(s)),
}

if RANK == 0:
    for i, (name, make) in enumerate(OBJECTS.items()):
        W.send(make(i), dest=1, tag=100 + i)
elif RANK == 1:
    for i, (name, make) in enumerate(OBJECTS.items()):
        check(f"p2p {name}", lambda i=i: summary(W.recv(source=0, tag=100 + i)),
              summary(make(i)))

# -- receive by tag in the opposite order of the sends ------------------------------------------
if RANK == 0:  # nonblocking sends: blocking ones would deadlock on large messages here
    MPI.Request.waitall([W.isend({"first": big(1)}, dest=1, tag=1),
                         W.isend({"second": big(2)}, dest=1, tag=2),
                         W.isend(big(3), dest=1, tag=3)])
elif RANK == 1:
    check("recv tag 3 first", lambda: summary(W.recv(source=0, tag=3)), summary(big(3)))
    check("then tag 2", lambda: summary(W.recv(source=0, tag=2)), summary({"second": big(2)}))
    check("then tag 1", lambda: summary(W.recv(source=0, tag=1)), summary({"first": big(1)}))
W.Barrier()

# -- nonblocking receives of two big messages, completed in reverse order ------------------------
if RANK == 0:
    reqs = [W.isend(big(10 + t), dest=1, tag=20 + t) for t in range(2)]
    MPI.Request.waitall(reqs)
elif RANK == 1:
    # mpi4py needs a receive buffer for messages over 32 KiB; mpikernel sizes it itself
    space = (lambda: bytearray(1 << 21)) if IMPL == "mpi4py" else (lambda: None)
    r0 = W.irecv(space(), source=0, tag=20)
    r1 = W.irecv(space(), source=0, tag=21)
    check("irecv pair, wait second first", lambda: [summary(r1.wait()), summary(r0.wait())],
          [summary(big(11)), summary(big(10))])
W.Barrier()

# -- probe, then receive what the probe saw -------------------------------------------------------
if RANK == 0:
    W.send(big(30), dest=1, tag=30)
elif RANK == 1:
    def probe_then_recv():
        st = MPI.Status()
        W.probe(source=0, tag=30, status=st)
        return [st.source, st.tag, summary(W.recv(source=st.source, tag=st.tag))]

    check("probe then recv", probe_then_recv, [0, 30, summary(big(30))])
W.Barrier()

# -- every other rank sends two big messages to rank 0, received with ANY_SOURCE/ANY_TAG ------------
if RANK != 0:
    reqs = [W.isend((RANK, t, big(RANK * 10 + t)), dest=0, tag=40 + t) for t in range(2)]
    MPI.Request.waitall(reqs)
else:
    def fan_in():
        st = MPI.Status()
        got = []
        for _ in range(2 * (SIZE - 1)):
            r, t, arr = W.recv(source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG, status=st)
            # the envelope, the header and the out-of-band data must all belong together
            got.append((st.source == r, st.tag == 40 + t,
                        bool((arr == big(r * 10 + t)).all())))
        return sorted(set(got))

    check("ANY_SOURCE/ANY_TAG fan-in of big messages", fan_in, [(True, True, True)])
W.Barrier()

# -- collectives over big objects --------------------------------------------------------------------
check("bcast big", lambda: summary(W.bcast({"x": big(50)} if RANK == 0 else None, root=0)),
      summary({"x": big(50)}))
check("scatter big", lambda: summary(W.scatter([big(60 + r) for r in range(SIZE)]
                                               if RANK == SIZE - 1 else None, root=SIZE - 1)),
      summary(big(60 + RANK)))
check("gather big", lambda: summary(W.gather(big(70 + RANK), root=0)),
      summary([big(70 + r) for r in range(SIZE)]) if RANK == 0 else None)
check("allgather big", lambda: summary(W.allgather(big(80 + RANK))),
      summary([big(80 + r) for r in range(SIZE)]))
check("alltoall big", lambda: summary(W.alltoall([big(RANK * 100 + j) for j in range(SIZE)])),
      summary([big(j * 100 + RANK) for j in range(SIZE)]))
check("sendrecv big", lambda: summary(W.sendrecv(big(90 + RANK), dest=(RANK + 1) % SIZE,
                                                 source=(RANK - 1) % SIZE)),
      summary(big(90 + (RANK - 1) % SIZE)))
check("allreduce SUM of big arrays", lambda: summary(W.allreduce(big(RANK))),
      summary(sum(big(r) for r in range(SIZE))))
check("reduce SUM of big arrays to last", lambda: summary(W.reduce(big(RANK, dtype="i8"),
                                                                  op=MPI.SUM, root=SIZE - 1)),
      summary(sum(big(r, dtype="i8") for r in range(SIZE))) if RANK == SIZE - 1 else None)


def received_arrays_are_independent():
    got = W.allgather(big(RANK, n=K))
    got[0][:] = -1  # writing one received array must not change another
    return [bool((got[r] == big(r)).all()) for r in range(1, SIZE)] + [bool(got[0][0] == -1)]


check("received arrays are separate and writable", received_arrays_are_independent,
      [True] * SIZE)
check("end", W.barrier, None)
done()
