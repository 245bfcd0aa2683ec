"""User-defined and predefined reductions, compared with mpi4py: Op.Create on numpy arrays and
raw bytes in Reduce/Allreduce/Scan/Exscan/Reduce_scatter_block and Reduce_local, a
non-commutative op, the lowercase (pickled-object) path, Op queries, pickling and bad input
(tests/binding/test_binding_ops.py)."""

import pickle

from harness import MPI, RANK, SIZE, check, done, np, raises

W = MPI.COMM_WORLD


def add(inbuf, inoutbuf, datatype):
    """x + y for objects (datatype None, the lowercase path), in place for buffers."""
    if datatype is None:
        return inbuf + inoutbuf
    code = datatype.tocode()
    a = np.frombuffer(inbuf, dtype=code)
    b = np.frombuffer(inoutbuf, dtype=code)
    b += a


def compose(inbuf, inoutbuf, datatype):
    """(a, b) o (c, d) = (a*c, a*d + b) on pairs of doubles: associative, not commutative."""
    x = np.frombuffer(inbuf, dtype="d").reshape(-1, 2)
    y = np.frombuffer(inoutbuf, dtype="d").reshape(-1, 2)
    y[:, 1] = x[:, 0] * y[:, 1] + x[:, 1]
    y[:, 0] = x[:, 0] * y[:, 0]


def bytewise_max(inbuf, inoutbuf, datatype):
    for k in range(len(inoutbuf)):
        inoutbuf[k] = max(inbuf[k], inoutbuf[k])


ADD = MPI.Op.Create(add, commute=True)
COMPOSE = MPI.Op.Create(compose, commute=False)
BMAX = MPI.Op.Create(bytewise_max, True)
mine = np.arange(4, dtype="d") + RANK


def coll(name, *args):
    out = np.zeros(4)
    getattr(W, name)(mine, out, *args)
    return out


check("Allreduce with a user op", lambda: coll("Allreduce", ADD))
check("Reduce with a user op", lambda: coll("Reduce", ADD, 0)[:RANK == 0 and 4 or 0])
check("Scan with a user op", lambda: coll("Scan", ADD))
check("Exscan with a user op (rank 0's result is undefined)", lambda: coll("Exscan", ADD)[:RANK and 4])


def reduce_scatter_block():
    send = np.arange(2 * SIZE, dtype="i") * (RANK + 1)
    out = np.zeros(2, "i")
    W.Reduce_scatter_block(send, out, ADD)
    return out


check("Reduce_scatter_block with a user op", reduce_scatter_block)


def scan_not_commutative():
    pair = np.array([RANK + 2.0, RANK + 1.0, 1.0, RANK * 3.0])
    out = np.zeros(4)
    W.Scan(pair, out, COMPOSE)
    return out


check("Scan with a non-commutative op (order kept)", scan_not_commutative)


def allreduce_bytes():
    out = bytearray(3)
    W.Allreduce([bytearray([RANK, 7, 2 * RANK]), MPI.BYTE], [out, MPI.BYTE], BMAX)
    return bytes(out)


check("Allreduce of raw bytes with a user op", allreduce_bytes)


def reduce_local():
    a, b = np.arange(3.0), np.ones(3)
    ADD.Reduce_local(a, b)
    x, y = bytearray([1, 9, 3]), bytearray([4, 2, 6])
    BMAX.Reduce_local([x, MPI.BYTE], [y, MPI.BYTE])
    p, q = np.arange(4, dtype="i"), np.full(4, 2, "i")
    MPI.PROD.Reduce_local(p, q)
    return b, bytes(y), q


check("Reduce_local: user and predefined", reduce_local)
check("lowercase allreduce with a user op", lambda: W.allreduce(RANK + 1, op=ADD))
check("lowercase allreduce of lists with a user op", lambda: W.allreduce([RANK], op=ADD))
check("lowercase predefined ops", lambda: [W.allreduce(v, op=o) for v, o in (
    (RANK + 1, MPI.PROD), (RANK, MPI.MAX), (RANK, MPI.MIN), (RANK % 2, MPI.LAND),
    (RANK + 1, MPI.BAND), (RANK, MPI.BOR), (RANK, MPI.BXOR), (RANK, MPI.LXOR),
    ((RANK % 2, RANK), MPI.MAXLOC), ((RANK % 2, RANK), MPI.MINLOC), ((-RANK, RANK), MPI.MINLOC))])
check("lowercase scan/exscan with a user op", lambda: (W.scan(RANK, op=ADD), W.exscan(RANK, op=ADD)))
check("op(x, y) calls f(x, y, None)", lambda: (ADD(2, 3), MPI.SUM(2, 3), MPI.MAXLOC((1, 2), (1, 0))))
check("queries", lambda: (ADD.Is_commutative(), COMPOSE.is_commutative, ADD.is_predefined,
                          MPI.SUM.is_predefined, MPI.SUM.Is_commutative(), MPI.OP_NULL.is_predefined,
                          bool(MPI.OP_NULL), bool(ADD), MPI.Op(MPI.SUM) == MPI.SUM))
check("py2f/f2py", lambda: (MPI.Op.f2py(MPI.MAX.py2f()) == MPI.MAX, MPI.Op.f2py(ADD.py2f()) == MPI.Op.f2py(ADD.py2f())))
check("pickling: predefined by name, user op by function", lambda: (
    pickle.loads(pickle.dumps(MPI.MAX)) is MPI.MAX,
    pickle.loads(pickle.dumps(MPI.Op(MPI.MIN))) == MPI.MIN,
    pickle.loads(pickle.dumps(ADD))(4, 5),
    pickle.loads(pickle.dumps(COMPOSE)).Is_commutative()))


def create_free_many():
    ops = [MPI.Op.Create(add) for _ in range(20)]
    for op in ops:
        op.Free()
    return [bool(op) for op in ops[:2]]


check("Create/Free many", create_free_many)
raises("Reduce_local: counts differ", lambda: ADD.Reduce_local(np.zeros(3), np.zeros(4)))
raises("Reduce_local: datatypes differ", lambda: MPI.SUM.Reduce_local(np.zeros(2, "i"), np.zeros(2, "d")))
raises("Free of a predefined op", MPI.SUM.Free)
raises("Op.Create of something not callable", lambda: MPI.Op.Create(42))
raises("a read-only receive buffer", lambda: W.Allreduce(mine, bytes(32), ADD))
raises("pickling an Op made from a handle", lambda: MPI.Op.f2py(ADD.py2f()).__reduce__())
check("end", W.Barrier, None)
for op in (ADD, COMPOSE, BMAX):
    op.Free()
done()
