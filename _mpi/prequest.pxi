# Persistent requests (Comm.Send_init, Recv_init, ...): made once, then Start -> Wait ->
# Start again. The MPI handle lives in `persistent`; while an operation runs it is also the
# Request's ob_mpi, so every Wait/Test/Waitall goes through the same wait loop as any request.


cdef class Prequest(Request):
    """A persistent request: ``Start()`` it, complete it with ``Wait``/``Test``, start it again;
    ``Free()`` it when done. True until freed (inactive or not), as in mpi4py."""
    cdef MPI_Request persistent
    cdef object buffer          # the message's _Buf, kept for every start

    def __cinit__(self, Request request=None):
        self.persistent = MPI_REQUEST_NULL
        if request is not None:     # Request.__cinit__ ran with Request's methods: redo it
            self._set_handle(request._handle())

    def __bool__(self):
        return self.persistent != MPI_REQUEST_NULL

    cdef MPI_Request _handle(self):
        return self.persistent

    cdef void _set_handle(self, MPI_Request handle):
        self.persistent = handle      # inactive until Start (a copy cannot know better)
        self.ob_mpi = MPI_REQUEST_NULL
        self.state = RQ_DONE

    cdef bint _active(self):
        return self.ob_mpi != MPI_REQUEST_NULL

    def Start(self):
        """Start the operation (again). Raises MPI.Exception (ERR_REQUEST) if it is active."""
        _prequest_check(self, b"Start")
        CHKERR(MPI_Start(&self.persistent))
        self._started()

    @staticmethod
    def Startall(requests):
        """Start every one of `requests` (all checked first: none starts if one is active)."""
        cdef list reqs = list(requests)
        cdef Py_ssize_t i, n = len(reqs)
        cdef MPI_Request *handles = <MPI_Request *>malloc((n if n else 1) * sizeof(MPI_Request))
        if handles == NULL:
            raise MemoryError()
        try:
            for i in range(n):
                _prequest_check(<Prequest?>reqs[i], b"Startall")
                handles[i] = (<Prequest>reqs[i]).persistent
            CHKERR(MPI_Startall(<int>n, handles))
        finally:
            free(handles)
        for r in reqs:
            (<Prequest>r)._started()

    start = Start
    startall = Startall

    cdef void _started(self):
        self.ob_mpi = self.persistent
        self.state = RQ_PLAIN
        self.keep = self.buffer

    def Free(self):
        """Free the persistent request (an active one completes first, as MPI says)."""
        if self.persistent != MPI_REQUEST_NULL:
            CHKERR(MPI_Request_free(&self.persistent))
        self.ob_mpi = MPI_REQUEST_NULL
        self.buffer = None
        self._finish()


cdef int _prequest_check(Prequest p, const char *call) except -1:
    """A Start that MPI would reject or that would corrupt the request: say why first."""
    cdef int flag = 0
    if p.persistent == MPI_REQUEST_NULL:
        usage_error(MPI_ERR_REQUEST, f"{call.decode()}: the persistent request was freed")
    if p.ob_mpi != MPI_REQUEST_NULL:
        usage_error(MPI_ERR_REQUEST, f"{call.decode()}: the persistent request is already "
                    "active (started twice?): complete it with Wait/Test before starting it again")
    CHKERR(MPI_Request_get_status(p.persistent, &flag, MPI_STATUS_IGNORE))
    if not flag:
        usage_error(MPI_ERR_REQUEST, f"{call.decode()}: the persistent request is still pending "
                    "from an interrupted wait; make a new one")
    return 0


cdef Prequest _p2p_init(Comm comm, buf, long long peer, long long tag, int mode):
    """Comm.Send_init/Ssend_init/Bsend_init/Rsend_init/Recv_init: the message is read now and
    kept; the MPI call is made once."""
    cdef const char *what = _mode_name(mode)
    check_comm(comm)
    if mode == RECV_INIT:
        check_source(comm, peer, what)
        check_recv_tag(tag, what)
    else:
        check_dest(comm, peer, what)
        check_send_tag(tag, what)
    cdef _Buf m = msg_simple(buf, mode == RECV_INIT, 1, what)
    cdef Prequest q = Prequest.__new__(Prequest)
    CHKERR(_init_mode(mode, m.addr, m.count, m.dtype, <int>peer, <int>tag, comm.ob_mpi,
                      &q.persistent))
    q.buffer = m
    q.state = RQ_DONE           # inactive until Start
    if mode == RECV_INIT:
        q.is_recv = True
        q.comm = comm
        q.source = <int>peer
        q.tag = <int>tag
    return q
