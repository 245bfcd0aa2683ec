"""Messages longer than the receive buffer must raise MPI.Exception (ERR_TRUNCATE), and the
process must go on working. A program of its own: under Open MPI, mpi4py crashes in a later
receive when truncations follow other MPI errors in the same process (seen with Open MPI 5.0.11),
so errors.py would lose its reference run. Not tested: `irecv(bytearray(10))` of a longer
pickled message (mpi4py raises ERR_TRUNCATE, mpikernel returns the object; with Open MPI,
mpi4py's process then crashes in its next pickle operation)."""

from harness import MPI, RANK, SIZE, check, done, np, raises

W = MPI.COMM_WORLD


def to_self(obj, tag=99):
    req = W.isend(obj, dest=RANK, tag=tag)
    got = W.recv(source=RANK, tag=tag)
    req.wait()
    return got


def truncated_Recv():
    req = W.Isend(np.arange(10.0), dest=RANK, tag=3)
    try:
        W.Recv(np.zeros(5), source=RANK, tag=3)
    finally:
        req.Wait()


raises("Recv truncation", truncated_Recv)


def truncated_Bcast_self():
    # one rank: root and receiver are the same buffer, so a count mismatch cannot happen; use
    # a self message with a datatype count instead
    req = W.Isend([np.arange(4, dtype="i4"), MPI.INT], dest=RANK, tag=5)
    try:
        W.Recv([np.zeros(2, "i4"), MPI.INT], source=RANK, tag=5)
    finally:
        req.Wait()


raises("Recv [buf, INT] truncation", truncated_Bcast_self)

check("self messages work after truncations", lambda: to_self({"ok": [1, 2]}), {"ok": [1, 2]})
check("world alive: allreduce", lambda: W.allreduce(RANK), SIZE * (SIZE - 1) // 2)
done()
