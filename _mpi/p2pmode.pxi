# The send modes of point-to-point (standard, synchronous, buffered, ready), as one switch over
# the nonblocking and the persistent MPI calls, and the buffer that buffered mode copies into
# (MPI.Attach_buffer / Detach_buffer). Every blocking form is its nonblocking call plus the wait
# loop, so Bsend/Rsend are interruptible like Send.

cdef enum:
    SEND_STD = 0
    SEND_SYNC = 1
    SEND_BUFFERED = 2
    SEND_READY = 3
    RECV_INIT = 4       # persistent receive (Recv_init)

BSEND_OVERHEAD = MPI_BSEND_OVERHEAD


cdef inline int _isend_mode(int mode, void *addr, int count, MPI_Datatype t, int dest, int tag,
                            MPI_Comm comm, MPI_Request *req) noexcept nogil:
    """MPI_Isend / Issend / Ibsend / Irsend by `mode`; returns the error code."""
    if mode == SEND_SYNC:
        return MPI_Issend(addr, count, t, dest, tag, comm, req)
    if mode == SEND_BUFFERED:
        return MPI_Ibsend(addr, count, t, dest, tag, comm, req)
    if mode == SEND_READY:
        return MPI_Irsend(addr, count, t, dest, tag, comm, req)
    return MPI_Isend(addr, count, t, dest, tag, comm, req)


cdef inline int _init_mode(int mode, void *addr, int count, MPI_Datatype t, int peer, int tag,
                           MPI_Comm comm, MPI_Request *req) noexcept nogil:
    """MPI_Send_init / Ssend_init / Bsend_init / Rsend_init / Recv_init by `mode`."""
    if mode == SEND_SYNC:
        return MPI_Ssend_init(addr, count, t, peer, tag, comm, req)
    if mode == SEND_BUFFERED:
        return MPI_Bsend_init(addr, count, t, peer, tag, comm, req)
    if mode == SEND_READY:
        return MPI_Rsend_init(addr, count, t, peer, tag, comm, req)
    if mode == RECV_INIT:
        return MPI_Recv_init(addr, count, t, peer, tag, comm, req)
    return MPI_Send_init(addr, count, t, peer, tag, comm, req)


cdef const char *_mode_name(int mode) noexcept:
    """The blocking call's name for error messages."""
    if mode == SEND_SYNC:
        return b"Ssend"
    if mode == SEND_BUFFERED:
        return b"Bsend"
    if mode == SEND_READY:
        return b"Rsend"
    return b"Recv" if mode == RECV_INIT else b"Send"


cdef _Buf _attached = None      # the buffer given to MPI_Buffer_attach, kept alive until detached


def Attach_buffer(buf):
    """Give MPI a buffer for buffered-mode sends (Bsend, ibsend, ...): size it with
    MPI.BSEND_OVERHEAD added per message. MPI writes into it until Detach_buffer."""
    global _attached
    cdef _Buf b = _export(buf, True, b"Attach_buffer")
    if b.nbytes > 0x7fffffff:
        raise OverflowError("Attach_buffer: MPI takes at most 2**31-1 bytes here")
    CHKERR(MPI_Buffer_attach(b.addr, <int>b.nbytes))
    _attached = b


def Detach_buffer():
    """Take the attached buffer back (None if there was none). MPI first delivers what is
    buffered in it; that wait happens inside MPI, not in the interruptible wait loop."""
    global _attached
    cdef void *addr = NULL
    cdef int size = 0
    with nogil:
        ierr = MPI_Buffer_detach(&addr, &size)
    CHKERR(ierr)
    b, _attached = _attached, None
    return None if b is None else b.obj
