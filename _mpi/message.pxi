# Matched probes: Comm.Mprobe/Improbe (and lowercase mprobe/improbe) take a message out of the
# matching queue as an MPI.Message, which only Message.Recv/Irecv/recv/irecv can receive, once.
# Two threads (or a traced cell and the user) probing the same source cannot steal each other's
# message this way. A probe on MPI.PROC_NULL gives MESSAGE_NO_PROC, whose receive is empty.


cdef class Message:
    """A matched message (from ``Comm.Mprobe``/``Improbe``): receive it once with ``Recv``,
    ``Irecv``, ``recv`` or ``irecv``. False once received (it is then MESSAGE_NULL)."""
    cdef MPI_Message ob_mpi
    cdef Comm comm              # for a lowercase receive's out-of-band parts
    cdef MPI_Status status      # the probe's: size of the pickle for recv/irecv

    def __cinit__(self, Message message=None):
        self.ob_mpi = MPI_MESSAGE_NULL
        memset(&self.status, 0, sizeof(MPI_Status))
        if message is not None:
            self.ob_mpi = message.ob_mpi
            self.comm = message.comm
            memcpy(&self.status, &message.status, sizeof(MPI_Status))

    def __bool__(self):
        return self.ob_mpi != MPI_MESSAGE_NULL

    def __eq__(self, other):
        if not isinstance(other, Message):
            return NotImplemented
        return self.ob_mpi == (<Message>other).ob_mpi

    def __hash__(self):
        return hash(<intptr_t>self.ob_mpi)

    @property
    def handle(self):
        return <intptr_t>self.ob_mpi

    @classmethod
    def fromhandle(cls, handle):
        cdef Message m = Message.__new__(Message)
        m.ob_mpi = <MPI_Message><intptr_t>handle
        return m

    def py2f(self):
        return MPI_Message_c2f(self.ob_mpi)

    @classmethod
    def f2py(cls, arg):
        cdef Message m = Message.__new__(Message)
        m.ob_mpi = MPI_Message_f2c(arg)
        return m

    def toint(self):
        return MPI_Message_c2f(self.ob_mpi)

    @classmethod
    def fromint(cls, arg):
        return cls.f2py(arg)

    def free(self):
        """Do nothing (as mpi4py: a matched message is released by receiving it)."""

    @classmethod
    def Probe(cls, Comm comm, long long source=MPI_ANY_SOURCE, long long tag=MPI_ANY_TAG,
              Status status=None):
        return _mprobe(comm, source, tag, status, True, b"Mprobe")

    @classmethod
    def Iprobe(cls, Comm comm, long long source=MPI_ANY_SOURCE, long long tag=MPI_ANY_TAG,
               Status status=None):
        return _mprobe(comm, source, tag, status, False, b"Improbe")

    probe = Probe
    iprobe = Iprobe

    def Recv(self, buf, Status status=None):
        """Receive the message into a buffer (interruptible)."""
        cdef Request r = self._post(buf, b"Message.Recv")
        _wait_req(r, b"Message.Recv", r.source, r.tag, self.comm)
        fill_status(status, &r.status)

    def Irecv(self, buf):
        return _nb_return(self._post(buf, b"Message.Irecv"))

    def recv(self, Status status=None):
        """Receive the message as a Python object (interruptible)."""
        cdef Request r = self._post_obj(b"Message.recv")
        _wait_list([r], 0, b"Message.recv", r.source, r.tag, self.comm)
        fill_status(status, &r.status)
        return r._take_result()

    def irecv(self):
        return _nb_return(self._post_obj(b"Message.irecv"))

    cdef Request _post(self, buf, const char *call):
        """MPI_Imrecv of a buffer message; the Message becomes MESSAGE_NULL."""
        self._check(call)
        cdef _Buf m = msg_simple(buf if self.ob_mpi != MPI_MESSAGE_NO_PROC else None, True, 1,
                                 call)
        cdef Request r = self._request()
        CHKERR(MPI_Imrecv(m.addr, m.count, m.dtype, &self.ob_mpi, &r.ob_mpi))
        self._received()
        r.keep = m
        return r

    cdef Request _post_obj(self, const char *call):
        """MPI_Imrecv of a pickle of the probed size; its out-of-band parts follow when it is
        in (Request._take_pickle)."""
        cdef int count = 0
        self._check(call)
        if self.ob_mpi != MPI_MESSAGE_NO_PROC:
            CHKERR(MPI_Get_count(&self.status, MPI_BYTE, &count))
        cdef Request r = self._request()
        r.data = new_bytearray(count)
        CHKERR(MPI_Imrecv(PyByteArray_AS_STRING(r.data), count, MPI_BYTE, &self.ob_mpi,
                          &r.ob_mpi))
        self._received()
        r.state = RQ_RECV_DATA
        return r

    cdef void _received(self):
        """After MPI_Imrecv: MPI leaves MESSAGE_NO_PROC as it is; a copy of it becomes
        MESSAGE_NULL like any received message, the module's constant stays NO_PROC."""
        self.ob_mpi = MPI_MESSAGE_NO_PROC if self is MESSAGE_NO_PROC else MPI_MESSAGE_NULL

    cdef Request _request(self):
        cdef Request r = Request.__new__(Request)
        r.is_recv = True
        r.comm = self.comm
        r.source = self.status.MPI_SOURCE
        r.tag = self.status.MPI_TAG
        return r

    cdef int _check(self, const char *call) except -1:
        if self.ob_mpi == MPI_MESSAGE_NULL:
            usage_error(MPI_ERR_REQUEST, f"{call.decode()}: the message was received already "
                        "(or is MESSAGE_NULL); a matched message is received once")
        if self.comm is not None:
            check_comm(self.comm)
        return 0


cdef object _mprobe(Comm comm, long long source, long long tag, Status status, bint wait,
                    const char *call):
    """Mprobe (wait: in the wait loop) / Improbe (None when nothing matches now)."""
    cdef ProbeCtx p
    cdef int flag = 0
    check_comm(comm)
    check_source(comm, source, call)
    check_recv_tag(tag, call)
    p.source = source
    p.tag = tag
    p.comm = comm.ob_mpi
    p.matched = 1
    p.message = MPI_MESSAGE_NULL
    cdef long long ev
    if wait:
        ev = _p2p_hook(None, K_PROBE, call, comm, source, tag, 0)
        wait_until(poll_probe, &p, call, source, tag, 0, comm)
        if ev >= 0:
            _ev_close(ev, comm, &p.status)
    else:
        CHKERR(MPI_Improbe(source, tag, comm.ob_mpi, &flag, &p.message, &p.status))
        if not flag:
            return None
    cdef Message m = Message.__new__(Message)
    m.ob_mpi = p.message
    m.comm = comm
    p.status.MPI_ERROR = MPI_SUCCESS
    memcpy(&m.status, &p.status, sizeof(MPI_Status))
    fill_status(status, &p.status)
    return m


cdef Message _message_const(MPI_Message handle):
    cdef Message m = Message.__new__(Message)
    m.ob_mpi = handle
    return m


MESSAGE_NULL = _message_const(MPI_MESSAGE_NULL)
MESSAGE_NO_PROC = _message_const(MPI_MESSAGE_NO_PROC)
