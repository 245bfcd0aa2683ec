"""Bad input: every mistake must raise a Python exception (never crash, never hang). Each check
is local to its rank (messages to itself, PROC_NULL, COMM_SELF, or argument errors MPI reports
before communicating), so a check that wrongly succeeds cannot leave a peer waiting."""

import socket
import threading

from harness import MPI, RANK, SIZE, check, done, np, raises, value

W = MPI.COMM_WORLD
TAG_UB = W.Get_attr(MPI.TAG_UB)
NULL = MPI.PROC_NULL


def to_self(obj, comm=W, tag=99):
    """Send obj to this rank and receive it back: pickling errors surface in isend."""
    req = comm.isend(obj, dest=comm.rank, tag=tag)
    got = comm.recv(source=comm.rank, tag=tag)
    req.wait()
    return got


# -- ranks and roots out of range -------------------------------------------------------------------
raises("send dest=-5", lambda: W.send("x", dest=-5))
raises("send dest=size", lambda: W.send("x", dest=SIZE))
raises("isend dest=size+3", lambda: W.isend("x", dest=SIZE + 3))
raises("recv source=size", lambda: W.recv(source=SIZE))
raises("recv source=-7", lambda: W.recv(source=-7))
raises("Send dest=-5", lambda: W.Send(np.zeros(3), dest=-5))
raises("Send dest=size", lambda: W.Send(np.zeros(3), dest=SIZE))
raises("Isend dest=size", lambda: W.Isend(np.zeros(3), dest=SIZE))
raises("Recv source=size", lambda: W.Recv(np.zeros(3), source=SIZE))
raises("Irecv source=-9", lambda: W.Irecv(np.zeros(3), source=-9))
raises("Sendrecv dest=size", lambda: W.Sendrecv(np.zeros(1), dest=SIZE, recvbuf=np.zeros(1),
                                                source=NULL))
raises("bcast root=size", lambda: W.bcast("x", root=SIZE))
raises("Bcast root=size", lambda: W.Bcast(np.zeros(2), root=SIZE))
raises("Reduce root=size+4", lambda: W.Reduce(np.zeros(2), np.zeros(2), op=MPI.SUM, root=SIZE + 4))
raises("self send dest=1", lambda: MPI.COMM_SELF.send("x", dest=1))

# -- tags out of range --------------------------------------------------------------------------------
raises("send tag=-5", lambda: W.send("x", dest=NULL if SIZE > 1 else 0, tag=-5))
raises("Send tag=-5", lambda: W.Send(np.zeros(3), dest=RANK, tag=-5))
raises("Send tag=TAG_UB+1", lambda: W.Send(np.zeros(3), dest=RANK, tag=TAG_UB + 1))
raises("Isend tag=-2", lambda: W.Isend(np.zeros(3), dest=RANK, tag=-2))
raises("Recv tag=-5", lambda: W.Recv(np.zeros(3), source=RANK, tag=-5))

# -- buffers of the wrong kind --------------------------------------------------------------------------
# Real messages to this rank, not PROC_NULL: mpi4py skips checking the buffer for PROC_NULL.


def into_pending(recv_call, tag, payload=None):
    """A message is waiting for us; recv_call(tag) receives it into a bad buffer. If that
    wrongly succeeds nothing is left over; if it raises, the message is drained."""
    payload = np.arange(2.0) if payload is None else payload
    req = W.Isend(payload, dest=RANK, tag=tag)
    try:
        return recv_call(tag)
    finally:
        if W.Iprobe(source=RANK, tag=tag):
            W.Recv(bytearray(payload.nbytes), source=RANK, tag=tag)
        req.Wait()


def into_preposted(send_call, tag):
    """A receive is posted; send_call(tag) sends from a bad buffer. If that wrongly succeeds
    the receive completes; if it raises, the receive is cancelled."""
    buf = bytearray(4096)
    req = W.Irecv(buf, source=RANK, tag=tag)
    try:
        out = send_call(tag)
        return out
    finally:
        if not req.Test():
            req.Cancel()
            req.Wait()


def irecv_into(buf, tag):
    req = W.Irecv(buf, source=RANK, tag=tag)
    return req.Wait()


readonly = np.zeros(2)
readonly.flags.writeable = False
raises("Send str", lambda: into_preposted(lambda t: W.Send("abc", dest=RANK, tag=t), 200))
raises("Send int", lambda: into_preposted(lambda t: W.Send(123, dest=RANK, tag=t), 201))
raises("Send dict", lambda: into_preposted(lambda t: W.Send({"a": 1}, dest=RANK, tag=t), 202))
raises("Recv str", lambda: into_pending(lambda t: W.Recv("abcdefghijklmnop", source=RANK, tag=t),
                                        203))
raises("Recv bytes (read-only)", lambda: into_pending(lambda t: W.Recv(bytes(16), source=RANK,
                                                                       tag=t), 204))
raises("Recv read-only ndarray", lambda: into_pending(lambda t: W.Recv(readonly, source=RANK,
                                                                       tag=t), 205))
raises("Irecv read-only ndarray", lambda: into_pending(lambda t: irecv_into(readonly, t), 206))
raises("Sendrecv into read-only", lambda: W.Sendrecv(np.zeros(2), dest=RANK, sendtag=207,
                                                      recvbuf=readonly, source=RANK, recvtag=207))
raises("Allreduce into read-only", lambda: MPI.COMM_SELF.Allreduce(np.zeros(2), readonly))
raises("Bcast from a read-only root buffer is fine", lambda: MPI.COMM_SELF.Bcast(readonly, root=0))
raises("Send [buf, 'double']", lambda: into_preposted(
    lambda t: W.Send([np.zeros(3), "double"], dest=RANK, tag=t), 208))
raises("Send 5-item message spec", lambda: into_preposted(
    lambda t: W.Send([np.zeros(3), 3, 0, MPI.DOUBLE, 9], dest=RANK, tag=t), 209))

# -- datatype that does not fit the buffer -----------------------------------------------------------
raises("Send float32 x3 as DOUBLE", lambda: into_preposted(
    lambda t: W.Send([np.zeros(3, "f4"), MPI.DOUBLE], dest=RANK, tag=t), 210))
raises("Recv float32 x3 as DOUBLE", lambda: into_pending(
    lambda t: W.Recv([np.zeros(3, "f4"), MPI.DOUBLE], source=RANK, tag=t), 211))
raises("Bcast bytearray(5) as INT", lambda: MPI.COMM_SELF.Bcast([bytearray(5), MPI.INT], root=0))
# mpikernel-only expectations (mpi4py does not check these): a count past the end of the buffer
# lets MPI read or write outside it. The messages here are small, so nothing overflows if the
# check is missing.
raises("Recv count 100 into 2 doubles", lambda: into_pending(
    lambda t: W.Recv([np.zeros(2), 100, MPI.DOUBLE], source=RANK, tag=t), 212))
raises("Send count 100 from 2 doubles", lambda: into_preposted(
    lambda t: W.Send([np.zeros(2), 100, MPI.DOUBLE], dest=RANK, tag=t), 213))
raises("Allreduce recvbuf smaller than sendbuf", lambda: MPI.COMM_SELF.Allreduce(
    np.zeros(8), np.zeros(2)))

# -- objects pickle cannot send --------------------------------------------------------------------------
sock = socket.socket()
raises("send lambda", lambda: to_self(lambda x: x))
raises("send socket", lambda: to_self(sock))
raises("send lock", lambda: to_self(threading.Lock()))
raises("send generator", lambda: to_self(x for x in range(3)))
raises("bcast lambda (COMM_SELF)", lambda: MPI.COMM_SELF.bcast(lambda: 1, root=0))
raises("allgather socket (COMM_SELF)", lambda: MPI.COMM_SELF.allgather(sock))
raises("sendrecv lambda to PROC_NULL-free self", lambda: MPI.COMM_SELF.sendrecv(lambda: 2, dest=0,
                                                                               source=0))
sock.close()
check("after pickling errors, self messages work", lambda: to_self({"ok": [1, 2]}), {"ok": [1, 2]})

# -- freed and null communicators ------------------------------------------------------------------------
freed = W.Dup()
freed.Free()
raises("freed barrier", lambda: freed.barrier())
raises("freed Barrier", lambda: freed.Barrier())
raises("freed Get_rank", lambda: freed.Get_rank())
raises("freed send", lambda: freed.send(1, dest=0))
raises("freed allreduce", lambda: freed.allreduce(1))
raises("freed sendrecv", lambda: freed.sendrecv(1, dest=0, source=0))
raises("freed Allreduce", lambda: freed.Allreduce(np.ones(1), np.zeros(1)))
raises("freed Free again", lambda: freed.Free())
raises("freed Dup", lambda: freed.Dup())
raises("COMM_NULL Get_size", lambda: MPI.COMM_NULL.Get_size())
raises("COMM_NULL bcast", lambda: MPI.COMM_NULL.bcast(1, root=0))

# -- argument types ---------------------------------------------------------------------------------------
raises("send dest='0'", lambda: W.send(1, dest="0"))
raises("Send buf=None dest=None", lambda: W.Send(np.zeros(1), dest=None))
raises("Recv source='a'", lambda: W.Recv(np.zeros(1), source="a"))
raises("Create_cart dims too many ranks", lambda: W.Create_cart([SIZE + 1, 2]))
raises("Compute_dims impossible", lambda: MPI.Compute_dims(SIZE, [SIZE + 1]))
raises("Get_processor_name(1)", lambda: MPI.Get_processor_name(1))

# -- MPI.Exception itself --------------------------------------------------------------------------------


def exception_api():
    try:
        W.Send(np.zeros(1), dest=SIZE + 10)
    except MPI.Exception as exc:
        cls = exc.Get_error_class()
        return [isinstance(exc, RuntimeError), cls == MPI.ERR_RANK,
                exc.Get_error_code() == exc.error_code, exc.error_class == cls,
                MPI.Get_error_class(exc.Get_error_code()) == cls,
                len(str(exc)) > 10]
    return "did not raise"


def exception_error_string():
    try:
        W.Send(np.zeros(1), dest=SIZE + 10)
    except MPI.Exception as exc:
        return exc.Get_error_string() == MPI.Get_error_string(exc.Get_error_code())
    return "did not raise"


check("MPI.Exception API", exception_api, [True] * 6)
check("MPI.Exception.Get_error_string is MPI's string", exception_error_string, True)
check("MPI.Exception(ERR_TAG)", lambda: (lambda e: (e.Get_error_class(), isinstance(e, Exception)))(
    MPI.Exception(MPI.ERR_TAG)), (MPI.ERR_TAG, True))
check("MPI.Exception is RuntimeError", lambda: issubclass(MPI.Exception, RuntimeError), True)
check("Get_error_string(ERR_TRUNCATE)", lambda: len(MPI.Get_error_string(MPI.ERR_TRUNCATE)) > 5,
      True)

# -- after all that, the world still works ---------------------------------------------------------------
check("world alive: allreduce", lambda: W.allreduce(RANK), SIZE * (SIZE - 1) // 2)
check("world alive: Allreduce", lambda: (lambda b: (W.Allreduce(np.ones(2), b), b)[1])(np.zeros(2)),
      np.full(2, float(SIZE)))
value("processes alive", True, True)
done()
