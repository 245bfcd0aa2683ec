# Communicators: point-to-point and collective calls, in buffer (uppercase) and pickled
# (lowercase) forms. Every blocking call = its nonblocking MPI form + the one wait loop.

import warnings as _warnings
import weakref as _weakref
from functools import reduce as _functools_reduce

cdef enum:
    COMM_PREDEFINED = 1

cdef bint _finalized_flag = False
cdef int _tag_ub = 32767
cdef object _derived = _weakref.WeakSet()   # communicators users made; stale after a reset


cdef class Comm:
    """A communicator: a group of ranks that can talk to each other."""
    cdef MPI_Comm ob_mpi
    cdef int flags
    cdef bint stale
    cdef bint from_world     # made (directly or not) from COMM_WORLD: stale after a reset
    cdef object __weakref__
    # instrumentation (instrument.pxi)
    cdef long long coll_seq  # collectives called on it so far (the current one included)
    cdef int serial          # creation number: its name is comm#<serial> unless Set_name
    cdef object label        # the name given with Set_name
    cdef object world_ranks  # tuple: rank here -> COMM_WORLD rank (made when first needed)
    cdef MPI_Comm shadow     # private dup for the checking mode's signature reductions
    cdef int trace_gen
    cdef int trace_label

    def __cinit__(self, Comm comm=None):
        self.ob_mpi = MPI_COMM_NULL
        self.flags = 0
        self.stale = False
        self.from_world = False
        self.coll_seq = 0
        self.serial = 0
        self.label = None
        self.world_ranks = None
        self.shadow = MPI_COMM_NULL
        self.trace_gen = 0
        self.trace_label = -1
        if comm is not None:
            self.ob_mpi = comm.ob_mpi
            self.from_world = comm.from_world
            self.serial = comm.serial       # the same communicator: the same trace name
            self.label = comm.label

    def __repr__(self):
        if self.ob_mpi == MPI_COMM_NULL:
            return f"<mpikernel.MPI.{type(self).__name__} NULL>"
        return f"<mpikernel.MPI.{type(self).__name__} {self.Get_name() or hex(self.handle)}>"

    def __eq__(self, other):
        if not isinstance(other, Comm):
            return NotImplemented
        return self.ob_mpi == (<Comm>other).ob_mpi

    def __hash__(self):
        return hash(self.handle)

    def __bool__(self):
        return self.ob_mpi != MPI_COMM_NULL

    @property
    def handle(self):
        return <intptr_t>self.ob_mpi

    # -- basics ------------------------------------------------------------------------------

    def Get_rank(self):
        cdef int rank = MPI_PROC_NULL
        check_comm(self)
        CHKERR(MPI_Comm_rank(self.ob_mpi, &rank))
        return rank

    def Get_size(self):
        cdef int size = 0
        check_comm(self)
        CHKERR(MPI_Comm_size(self.ob_mpi, &size))
        return size

    property rank:
        """This process's rank in the communicator."""
        def __get__(self):
            cdef int rank = MPI_PROC_NULL
            check_comm(self)
            CHKERR(MPI_Comm_rank(self.ob_mpi, &rank))
            return rank

    property size:
        """The number of processes in the communicator."""
        def __get__(self):
            cdef int size = 0
            check_comm(self)
            CHKERR(MPI_Comm_size(self.ob_mpi, &size))
            return size

    def Get_name(self):
        cdef char name[MPI_MAX_OBJECT_NAME + 1]
        cdef int n = 0
        check_comm(self)
        CHKERR(MPI_Comm_get_name(self.ob_mpi, name, &n))
        return name[:n].decode("utf-8", "replace")

    def Set_name(self, name):
        check_comm(self)
        b = str(name).encode()
        CHKERR(MPI_Comm_set_name(self.ob_mpi, b))
        self.label = str(name)

    name = property(Get_name, Set_name)

    def Is_inter(self):
        cdef int flag = 0
        check_comm(self)
        CHKERR(MPI_Comm_test_inter(self.ob_mpi, &flag))
        return bool(flag)

    def Is_intra(self):
        return not self.Is_inter()

    is_inter = property(Is_inter)
    is_intra = property(Is_intra)

    def Get_topology(self):
        cdef int topo = MPI_UNDEFINED
        check_comm(self)
        CHKERR(MPI_Topo_test(self.ob_mpi, &topo))
        return topo

    topology = property(Get_topology)

    def Compare(self, Comm comm):
        cdef int result = MPI_UNEQUAL
        check_comm(self)
        check_comm(comm)
        CHKERR(MPI_Comm_compare(self.ob_mpi, comm.ob_mpi, &result))
        return result

    def Get_attr(self, int keyval):
        """The attribute's value: an int for MPI's keyvals (TAG_UB, ...), what Set_attr set
        for Create_keyval's (attr.pxi), None if not set."""
        return _get_attr(self, keyval)

    def Abort(self, int errorcode=0):
        """Terminate all processes of the job (never returns)."""
        check_comm(self)
        CHKERR(MPI_Abort(self.ob_mpi, errorcode))

    # -- making and freeing communicators --------------------------------------------------

    def Dup(self):
        """A new communicator with the same ranks (collective)."""
        cdef MPI_Request req = MPI_REQUEST_NULL
        check_comm(self)
        cdef long long ev = _coll_hook(None, b"Dup", self, -1, 0, -1, 0, None)
        # MPI writes the new handle when the idup completes: into memory that outlives an
        # interrupted wait (abandon keeps it), never into this C frame
        holder = new_bytearray(sizeof(MPI_Comm))
        cdef MPI_Comm *newcomm = <MPI_Comm *>PyByteArray_AS_STRING(holder)
        newcomm[0] = MPI_COMM_NULL
        CHKERR(MPI_Comm_idup(self.ob_mpi, newcomm, &req))
        wait_requests(1, &req, MPI_STATUS_IGNORE, b"Dup", MPI_PROC_NULL, 0, 0, self, False, holder)
        if ev >= 0:
            _ev_close(ev, self, NULL)
        return _new_comm(type(self), newcomm[0], self)

    def Clone(self):
        return self.Dup()

    def Split(self, int color=0, int key=0):
        """Ranks with the same color form a new communicator, ordered by key (collective)."""
        cdef MPI_Comm newcomm = MPI_COMM_NULL
        check_comm(self)
        cdef long long ev = _coll_hook(None, b"Split", self, -1, 0, -1, 0, None)
        with nogil:
            ierr = MPI_Comm_split(self.ob_mpi, color, key, &newcomm)
        CHKERR(ierr)
        if ev >= 0:
            _ev_close(ev, self, NULL)
        if newcomm == MPI_COMM_NULL:
            _next_comm_serial()     # keep the numbering the same on every rank
            return COMM_NULL
        return _new_comm(Intracomm, newcomm, self)

    def Free(self):
        check_comm(self)
        if self.flags & COMM_PREDEFINED:
            usage_error(MPI_ERR_COMM, f"cannot free the predefined communicator {self.Get_name()}")
        CHKERR(MPI_Comm_free(&self.ob_mpi))
        if self.shadow != MPI_COMM_NULL:
            MPI_Comm_free(&self.shadow)
        _derived.discard(self)

    # -- point to point, buffers -----------------------------------------------------------

    def Send(self, buf, long long dest, long long tag=0):
        """Send a buffer (blocks until it may be reused; interruptible)."""
        _wait_call(self._isend(buf, dest, tag, SEND_STD, b"Send"), b"Send", dest, tag, self)

    def Ssend(self, buf, long long dest, long long tag=0):
        """Synchronous send: completes once the receive has started (interruptible)."""
        _wait_call(self._isend(buf, dest, tag, SEND_SYNC, b"Ssend"), b"Ssend", dest, tag, self)

    def Bsend(self, buf, long long dest, long long tag=0):
        """Buffered send: copied into the buffer given to MPI.Attach_buffer."""
        _wait_call(self._isend(buf, dest, tag, SEND_BUFFERED, b"Bsend"), b"Bsend", dest, tag,
                   self)

    def Rsend(self, buf, long long dest, long long tag=0):
        """Ready send: the matching receive must already be posted (MPI's rule)."""
        _wait_call(self._isend(buf, dest, tag, SEND_READY, b"Rsend"), b"Rsend", dest, tag, self)

    def Recv(self, buf, long long source=MPI_ANY_SOURCE, long long tag=MPI_ANY_TAG, Status status=None):
        """Receive into a buffer (interruptible)."""
        cdef Request r
        if MPIK_INSTRUMENTED and _instr_flags & INSTR_CHECK:
            self._recv_checked(buf, source, tag, status)
            return
        r = self._irecv(buf, source, tag, b"Recv")
        _wait_call(r, b"Recv", source, tag, self)
        fill_status(status, &r.status)

    cdef int _recv_checked(self, buf, long long source, long long tag, Status status) except -1:
        """Recv in the checking mode: a too-small buffer is an error naming both sizes."""
        cdef MPI_Status st
        check_comm(self)
        check_source(self, source, b"Recv")
        check_recv_tag(tag, b"Recv")
        cdef _Buf m = msg_simple(buf, True, 1, b"Recv")
        cdef Request r
        if source == MPI_PROC_NULL:
            r = self._irecv(m, source, tag, b"Recv")
            _wait_call(r, b"Recv", source, tag, self)
            fill_status(status, &r.status)
            return 0
        cdef long long ev = _p2p_hook(None, K_RECV, b"Recv", self, source, tag,
                                      _data_bytes(m))
        _checked_recv(self, m, source, tag, &st, ev)
        if ev >= 0:
            _ev_close(ev, self, &st)
        fill_status(status, &st)
        return 0

    def Isend(self, buf, long long dest, long long tag=0):
        return _nb_return(self._isend(buf, dest, tag, SEND_STD, b"Isend"))

    def Issend(self, buf, long long dest, long long tag=0):
        return _nb_return(self._isend(buf, dest, tag, SEND_SYNC, b"Issend"))

    def Ibsend(self, buf, long long dest, long long tag=0):
        return _nb_return(self._isend(buf, dest, tag, SEND_BUFFERED, b"Ibsend"))

    def Irsend(self, buf, long long dest, long long tag=0):
        return _nb_return(self._isend(buf, dest, tag, SEND_READY, b"Irsend"))

    def Send_init(self, buf, long long dest, long long tag=0):
        """A persistent standard send (MPI.Prequest): Start() it as often as needed."""
        return _p2p_init(self, buf, dest, tag, SEND_STD)

    def Ssend_init(self, buf, long long dest, long long tag=0):
        return _p2p_init(self, buf, dest, tag, SEND_SYNC)

    def Bsend_init(self, buf, long long dest, long long tag=0):
        return _p2p_init(self, buf, dest, tag, SEND_BUFFERED)

    def Rsend_init(self, buf, long long dest, long long tag=0):
        return _p2p_init(self, buf, dest, tag, SEND_READY)

    def Recv_init(self, buf, long long source=MPI_ANY_SOURCE, long long tag=MPI_ANY_TAG):
        """A persistent receive (MPI.Prequest) into `buf`."""
        return _p2p_init(self, buf, source, tag, RECV_INIT)

    cdef Request _isend(self, buf, long long dest, long long tag, int mode, const char *call):
        cdef const char *what = _mode_name(mode)
        check_comm(self)
        check_dest(self, dest, what)
        check_send_tag(tag, what)
        cdef _Buf m = msg_simple(buf, False, 1, what)
        cdef Request r = Request.__new__(Request)
        _p2p_hook(r, K_SEND, call, self, dest, tag, _data_bytes(m))
        CHKERR(_isend_mode(mode, m.addr, m.count, m.dtype, <int>dest, <int>tag, self.ob_mpi,
                           &r.ob_mpi))
        r.keep = m
        return r

    def Irecv(self, buf, long long source=MPI_ANY_SOURCE, long long tag=MPI_ANY_TAG):
        return _nb_return(self._irecv(buf, source, tag, b"Irecv"))

    cdef Request _irecv(self, buf, long long source, long long tag, const char *call):
        check_comm(self)
        check_source(self, source, b"Recv")
        check_recv_tag(tag, b"Recv")
        cdef _Buf m = buf if type(buf) is _Buf else msg_simple(buf, True, 1, b"Recv")
        cdef Request r = Request.__new__(Request)
        _p2p_hook(r, K_RECV, call, self, source, tag, _data_bytes(m))
        CHKERR(MPI_Irecv(m.addr, m.count, m.dtype, source, tag, self.ob_mpi, &r.ob_mpi))
        r.keep = m
        r.is_recv = True
        r.comm = self           # for diagnostics: what a Wait on it waits for
        r.source = <int>source
        r.tag = <int>tag
        return r

    def Sendrecv(self, sendbuf, long long dest, long long sendtag=0, recvbuf=None,
                 long long source=MPI_ANY_SOURCE, long long recvtag=MPI_ANY_TAG, Status status=None):
        """Send and receive at once (no deadlock when two ranks exchange)."""
        self._sendrecv(sendbuf, dest, sendtag, recvbuf, source, recvtag, status, b"Sendrecv")

    cdef int _sendrecv(self, sendbuf, long long dest, long long sendtag, recvbuf,
                       long long source, long long recvtag, Status status,
                       const char *call) except -1:
        cdef MPI_Request reqs[2]
        cdef MPI_Status sts[2]
        check_comm(self)
        check_dest(self, dest, b"Sendrecv")
        check_send_tag(sendtag, b"Sendrecv")
        check_source(self, source, b"Sendrecv")
        check_recv_tag(recvtag, b"Sendrecv")
        cdef _Buf r = recvbuf if type(recvbuf) is _Buf else msg_simple(recvbuf, True, 1, call)
        cdef _Buf s = sendbuf if type(sendbuf) is _Buf else msg_simple(sendbuf, False, 1, call)
        reqs[0] = reqs[1] = MPI_REQUEST_NULL
        cdef long long ev = _call_hook(call, K_SENDRECV, self)
        if ev >= 0:
            _ev_sendrecv(ev, self, dest, sendtag, _data_bytes(s), source, recvtag,
                         _data_bytes(r))
        CHKERR(MPI_Irecv(r.addr, r.count, r.dtype, source, recvtag, self.ob_mpi, &reqs[0]))
        CHKERR(MPI_Isend(s.addr, s.count, s.dtype, dest, sendtag, self.ob_mpi, &reqs[1]))
        wait_requests(2, reqs, sts, call, dest, sendtag, 0, self, False, (r, s))
        if source == MPI_PROC_NULL:
            null_recv_status(&sts[0])
        if ev >= 0:
            _ev_close(ev, self, &sts[0])
        fill_status(status, &sts[0])
        return 0

    def Sendrecv_replace(self, buf, long long dest, long long sendtag=0, long long source=MPI_ANY_SOURCE,
                         long long recvtag=MPI_ANY_TAG, Status status=None):
        """Send buf and receive into it (any message spec; the data sent is copied first)."""
        check_comm(self)
        cdef _Buf m = msg_simple(buf, True, 1, b"Sendrecv_replace")
        self._sendrecv(_sent_copy(m), dest, sendtag, m, source, recvtag, status,
                       b"Sendrecv_replace")

    def Isendrecv(self, sendbuf, long long dest, long long sendtag=0, recvbuf=None,
                  long long source=MPI_ANY_SOURCE, long long recvtag=MPI_ANY_TAG):
        """Nonblocking Sendrecv: one Request (its status is the receive's)."""
        check_comm(self)
        cdef _Buf r = msg_simple(recvbuf, True, 1, b"Isendrecv")
        return _nb_return(self._isendrecv(msg_simple(sendbuf, False, 1, b"Isendrecv"), dest,
                                          sendtag, r, source, recvtag, b"Isendrecv"))

    def Isendrecv_replace(self, buf, long long dest, long long sendtag=0,
                          long long source=MPI_ANY_SOURCE, long long recvtag=MPI_ANY_TAG):
        check_comm(self)
        cdef _Buf m = msg_simple(buf, True, 1, b"Isendrecv_replace")
        return _nb_return(self._isendrecv(_sent_copy(m), dest, sendtag, m, source, recvtag,
                                          b"Isendrecv_replace"))

    cdef Request _isendrecv(self, _Buf s, long long dest, long long sendtag, _Buf r,
                            long long source, long long recvtag, const char *call):
        """The receive in ob_mpi (its status is the call's), the send in `more`."""
        check_dest(self, dest, call)
        check_send_tag(sendtag, call)
        check_source(self, source, call)
        check_recv_tag(recvtag, call)
        cdef Request q = Request.__new__(Request)
        q._alloc_more(1)
        CHKERR(MPI_Irecv(r.addr, r.count, r.dtype, <int>source, <int>recvtag, self.ob_mpi,
                         &q.ob_mpi))
        CHKERR(MPI_Isend(s.addr, s.count, s.dtype, <int>dest, <int>sendtag, self.ob_mpi,
                         &q.more[0]))
        q.keep = (r, s)
        q.is_recv = True
        q.comm = self
        q.source = <int>source
        q.tag = <int>recvtag
        return q

    def Probe(self, long long source=MPI_ANY_SOURCE, long long tag=MPI_ANY_TAG, Status status=None):
        """Wait until a matching message can be received (interruptible); do not receive it."""
        cdef ProbeCtx p
        check_comm(self)
        check_source(self, source, b"Probe")
        check_recv_tag(tag, b"Probe")
        p.source = source
        p.tag = tag
        p.comm = self.ob_mpi
        p.matched = 0
        cdef long long ev = _p2p_hook(None, K_PROBE, b"Probe", self, source, tag, 0)
        wait_until(poll_probe, &p, b"Probe", source, tag, 0, self)
        if ev >= 0:
            _ev_close(ev, self, &p.status)
        fill_status(status, &p.status)
        return True

    def Iprobe(self, long long source=MPI_ANY_SOURCE, long long tag=MPI_ANY_TAG, Status status=None):
        cdef int flag = 0
        cdef MPI_Status st
        check_comm(self)
        check_source(self, source, b"Iprobe")
        check_recv_tag(tag, b"Iprobe")
        CHKERR(MPI_Iprobe(source, tag, self.ob_mpi, &flag, &st))
        if MPIK_INSTRUMENTED and _instr_flags:
            _ev_test(b"Iprobe", K_PROBE, self, flag, &st, None)
        if flag:
            fill_status(status, &st)
        return bool(flag)

    def Mprobe(self, long long source=MPI_ANY_SOURCE, long long tag=MPI_ANY_TAG,
               Status status=None):
        """Wait for a matching message and take it (interruptible): an MPI.Message."""
        return _mprobe(self, source, tag, status, True, b"Mprobe")

    def Improbe(self, long long source=MPI_ANY_SOURCE, long long tag=MPI_ANY_TAG,
                Status status=None):
        """Take a matching message if there is one now (an MPI.Message), else None."""
        return _mprobe(self, source, tag, status, False, b"Improbe")

    probe = Probe
    iprobe = Iprobe
    mprobe = Mprobe
    improbe = Improbe

    # -- point to point, Python objects ----------------------------------------------------

    def send(self, obj, long long dest, long long tag=0):
        """Send a Python object (pickled; large arrays out of band)."""
        _wait_call(_isend_obj(self, obj, dest, tag, SEND_STD, b"send"), b"send", dest, tag, self)

    def ssend(self, obj, long long dest, long long tag=0):
        _wait_call(_isend_obj(self, obj, dest, tag, SEND_SYNC, b"ssend"), b"ssend", dest, tag,
                   self)

    def bsend(self, obj, long long dest, long long tag=0):
        """Buffered send of a Python object (its pickle goes through the attached buffer)."""
        _wait_call(_isend_obj(self, obj, dest, tag, SEND_BUFFERED, b"bsend"), b"bsend", dest,
                   tag, self)

    def isend(self, obj, long long dest, long long tag=0):
        return _nb_return(_isend_obj(self, obj, dest, tag, SEND_STD, b"isend"))

    def issend(self, obj, long long dest, long long tag=0):
        return _nb_return(_isend_obj(self, obj, dest, tag, SEND_SYNC, b"issend"))

    def ibsend(self, obj, long long dest, long long tag=0):
        return _nb_return(_isend_obj(self, obj, dest, tag, SEND_BUFFERED, b"ibsend"))

    def recv(self, buf=None, long long source=MPI_ANY_SOURCE, long long tag=MPI_ANY_TAG, Status status=None):
        """Receive a Python object (interruptible). `buf` is ignored (mpi4py deprecates it)."""
        if buf is not None:
            _warnings.warn("the 'buf' argument is deprecated", UserWarning, stacklevel=2)
        return _recv_obj(self, source, tag, status, b"recv", True)

    def irecv(self, buf=None, long long source=MPI_ANY_SOURCE, long long tag=MPI_ANY_TAG):
        """Post a receive of a Python object now (as mpi4py: into `buf`, a buffer or a size in
        bytes, or 32 KiB); out-of-band parts are received when the first message is in."""
        check_comm(self)
        check_source(self, source, b"irecv")
        check_recv_tag(tag, b"irecv")
        cdef Request r = Request.__new__(Request)
        r.is_recv = True
        if source == MPI_PROC_NULL:     # an active request all the same, as in MPI
            buf = 0
        if buf is None or isinstance(buf, int):
            buf = new_bytearray(IRECV_BUFSZ if buf is None else _as_count(buf, b"irecv"))
        cdef _Buf m = _export(buf, True, b"irecv")
        r.comm = self
        r.source = <int>source
        r.tag = <int>tag
        _p2p_hook(r, K_RECV, b"irecv", self, source, tag, 0)
        CHKERR(MPI_Irecv(m.addr, <int>m.nbytes, MPI_BYTE, <int>source, <int>tag, self.ob_mpi,
                         &r.ob_mpi))
        r.keep = m
        r.data = buf
        r.state = RQ_RECV_DATA
        return _nb_return(r)

    def sendrecv(self, sendobj, long long dest, long long sendtag=0, recvbuf=None,
                 long long source=MPI_ANY_SOURCE, long long recvtag=MPI_ANY_TAG, Status status=None):
        check_comm(self)
        check_source(self, source, b"sendrecv")
        check_recv_tag(recvtag, b"sendrecv")
        cdef long long ev = _call_hook(b"sendrecv", K_SENDRECV, self)
        cdef Request r = _isend_obj(self, sendobj, dest, sendtag, SEND_STD, NULL)
        if ev >= 0:
            _ev_sendrecv(ev, self, dest, sendtag, _request_bytes(r), source, recvtag, 0)
            if status is None:
                status = Status()
        try:
            obj = _recv_obj(self, source, recvtag, status, b"sendrecv", False)
        except BaseException:
            r._abandon()
            raise
        _wait_req(r, b"sendrecv", dest, sendtag, self)
        if ev >= 0:
            _ev_close(ev, self, &status.ob_mpi)
        return obj

    # -- collectives, buffers ----------------------------------------------------------------

    def Barrier(self):
        """Wait until every rank has called Barrier (interruptible)."""
        _wait_call(self._ibarrier(b"Barrier"), b"Barrier", MPI_PROC_NULL, 0, self)

    def Ibarrier(self):
        return _nb_return(self._ibarrier(b"Ibarrier"))

    cdef Request _ibarrier(self, const char *call):
        check_comm(self)
        cdef Request r = Request.__new__(Request)
        _coll_hook(r, call, self, -1, 0, -1, 0, None)
        CHKERR(MPI_Ibarrier(self.ob_mpi, &r.ob_mpi))
        return r

    def barrier(self):
        _wait_call(self._ibarrier(b"barrier"), b"barrier", MPI_PROC_NULL, 0, self)

    def Bcast(self, buf, long long root=0):
        _wait_call(self._ibcast(buf, root, b"Bcast"), b"Bcast", root, 0, self)

    def Ibcast(self, buf, long long root=0):
        return _nb_return(self._ibcast(buf, root, b"Ibcast"))

    cdef Request _ibcast(self, buf, long long root, const char *call):
        check_comm(self)
        check_root(self, root, b"Bcast")
        cdef _Buf m = msg_simple(buf, _rank(self) != root, 1, b"Bcast")
        cdef Request r = Request.__new__(Request)
        _coll_hook(r, call, self, root, _buf_bytes(m), _buf_bytes(m), <int>m.extent, None)
        CHKERR(MPI_Ibcast(m.addr, m.count, m.dtype, root, self.ob_mpi, &r.ob_mpi))
        r.keep = m
        return r

    def Scatter(self, sendbuf, recvbuf, long long root=0):
        _coll_wait(self, COLL_SCATTER, sendbuf, recvbuf, root, None, b"Scatter")

    def Iscatter(self, sendbuf, recvbuf, long long root=0):
        return _nb_return(_start_coll(self, COLL_SCATTER,
                                      sendbuf, recvbuf, root, None, b"Iscatter"))

    def Scatterv(self, sendbuf, recvbuf, long long root=0):
        _coll_wait(self, COLL_SCATTER | COLL_V, sendbuf, recvbuf, root, None, b"Scatterv")

    def Iscatterv(self, sendbuf, recvbuf, long long root=0):
        return _nb_return(_start_coll(self, COLL_SCATTER | COLL_V,
                                      sendbuf, recvbuf, root, None, b"Iscatterv"))

    def Gather(self, sendbuf, recvbuf, long long root=0):
        _coll_wait(self, COLL_GATHER, sendbuf, recvbuf, root, None, b"Gather")

    def Igather(self, sendbuf, recvbuf, long long root=0):
        return _nb_return(_start_coll(self, COLL_GATHER, sendbuf, recvbuf, root, None, b"Igather"))

    def Gatherv(self, sendbuf, recvbuf, long long root=0):
        _coll_wait(self, COLL_GATHER | COLL_V, sendbuf, recvbuf, root, None, b"Gatherv")

    def Igatherv(self, sendbuf, recvbuf, long long root=0):
        return _nb_return(_start_coll(self, COLL_GATHER | COLL_V,
                                      sendbuf, recvbuf, root, None, b"Igatherv"))

    def Allgather(self, sendbuf, recvbuf):
        _coll_wait(self, COLL_ALLGATHER, sendbuf, recvbuf, -1, None, b"Allgather")

    def Iallgather(self, sendbuf, recvbuf):
        return _nb_return(_start_coll(self, COLL_ALLGATHER,
                                      sendbuf, recvbuf, -1, None, b"Iallgather"))

    def Allgatherv(self, sendbuf, recvbuf):
        _coll_wait(self, COLL_ALLGATHER | COLL_V, sendbuf, recvbuf, -1, None, b"Allgatherv")

    def Iallgatherv(self, sendbuf, recvbuf):
        return _nb_return(_start_coll(self, COLL_ALLGATHER | COLL_V,
                                      sendbuf, recvbuf, -1, None, b"Iallgatherv"))

    def Alltoall(self, sendbuf, recvbuf):
        _coll_wait(self, COLL_ALLTOALL, sendbuf, recvbuf, -1, None, b"Alltoall")

    def Ialltoall(self, sendbuf, recvbuf):
        return _nb_return(_start_coll(self, COLL_ALLTOALL,
                                      sendbuf, recvbuf, -1, None, b"Ialltoall"))

    def Alltoallv(self, sendbuf, recvbuf):
        _coll_wait(self, COLL_ALLTOALL | COLL_V, sendbuf, recvbuf, -1, None, b"Alltoallv")

    def Ialltoallv(self, sendbuf, recvbuf):
        return _nb_return(_start_coll(self, COLL_ALLTOALL | COLL_V,
                                      sendbuf, recvbuf, -1, None, b"Ialltoallv"))

    def Reduce(self, sendbuf, recvbuf, Op op=SUM, long long root=0):
        _coll_wait(self, COLL_REDUCE, sendbuf, recvbuf, root, op, b"Reduce")

    def Ireduce(self, sendbuf, recvbuf, Op op=SUM, long long root=0):
        return _nb_return(_start_coll(self, COLL_REDUCE, sendbuf, recvbuf, root, op, b"Ireduce"))

    def Allreduce(self, sendbuf, recvbuf, Op op=SUM):
        _coll_wait(self, COLL_ALLREDUCE, sendbuf, recvbuf, -1, op, b"Allreduce")

    def Iallreduce(self, sendbuf, recvbuf, Op op=SUM):
        return _nb_return(_start_coll(self, COLL_ALLREDUCE,
                                      sendbuf, recvbuf, -1, op, b"Iallreduce"))

    def Scan(self, sendbuf, recvbuf, Op op=SUM):
        _coll_wait(self, COLL_SCAN, sendbuf, recvbuf, -1, op, b"Scan")

    def Iscan(self, sendbuf, recvbuf, Op op=SUM):
        return _nb_return(_start_coll(self, COLL_SCAN, sendbuf, recvbuf, -1, op, b"Iscan"))

    def Exscan(self, sendbuf, recvbuf, Op op=SUM):
        _coll_wait(self, COLL_EXSCAN, sendbuf, recvbuf, -1, op, b"Exscan")

    def Iexscan(self, sendbuf, recvbuf, Op op=SUM):
        return _nb_return(_start_coll(self, COLL_EXSCAN, sendbuf, recvbuf, -1, op, b"Iexscan"))

    # -- persistent collectives (MPI 4; pcoll.pxi): an inactive Prequest, Start() to run -----

    def Barrier_init(self, info=INFO_NULL):
        return _barrier_init(self, info)

    def Bcast_init(self, buf, long long root=0, info=INFO_NULL):
        return _bcast_init(self, buf, root, info)

    def Scatter_init(self, sendbuf, recvbuf, long long root=0, info=INFO_NULL):
        return _coll_init(self, COLL_SCATTER, sendbuf, recvbuf, root, None, info, b"Scatter_init")

    def Scatterv_init(self, sendbuf, recvbuf, long long root=0, info=INFO_NULL):
        return _coll_init(self, COLL_SCATTER | COLL_V, sendbuf, recvbuf, root, None, info,
                          b"Scatterv_init")

    def Gather_init(self, sendbuf, recvbuf, long long root=0, info=INFO_NULL):
        return _coll_init(self, COLL_GATHER, sendbuf, recvbuf, root, None, info, b"Gather_init")

    def Gatherv_init(self, sendbuf, recvbuf, long long root=0, info=INFO_NULL):
        return _coll_init(self, COLL_GATHER | COLL_V, sendbuf, recvbuf, root, None, info,
                          b"Gatherv_init")

    def Allgather_init(self, sendbuf, recvbuf, info=INFO_NULL):
        return _coll_init(self, COLL_ALLGATHER, sendbuf, recvbuf, -1, None, info,
                          b"Allgather_init")

    def Allgatherv_init(self, sendbuf, recvbuf, info=INFO_NULL):
        return _coll_init(self, COLL_ALLGATHER | COLL_V, sendbuf, recvbuf, -1, None, info,
                          b"Allgatherv_init")

    def Alltoall_init(self, sendbuf, recvbuf, info=INFO_NULL):
        return _coll_init(self, COLL_ALLTOALL, sendbuf, recvbuf, -1, None, info, b"Alltoall_init")

    def Alltoallv_init(self, sendbuf, recvbuf, info=INFO_NULL):
        return _coll_init(self, COLL_ALLTOALL | COLL_V, sendbuf, recvbuf, -1, None, info,
                          b"Alltoallv_init")

    def Reduce_init(self, sendbuf, recvbuf, Op op=SUM, long long root=0, info=INFO_NULL):
        return _coll_init(self, COLL_REDUCE, sendbuf, recvbuf, root, op, info, b"Reduce_init")

    def Allreduce_init(self, sendbuf, recvbuf, Op op=SUM, info=INFO_NULL):
        return _coll_init(self, COLL_ALLREDUCE, sendbuf, recvbuf, -1, op, info, b"Allreduce_init")

    def Reduce_scatter_block_init(self, sendbuf, recvbuf, Op op=SUM, info=INFO_NULL):
        return _reduce_scatter_block(self, sendbuf, recvbuf, op, info, 2,
                                     b"Reduce_scatter_block_init")

    def Scan_init(self, sendbuf, recvbuf, Op op=SUM, info=INFO_NULL):
        return _coll_init(self, COLL_SCAN, sendbuf, recvbuf, -1, op, info, b"Scan_init")

    def Exscan_init(self, sendbuf, recvbuf, Op op=SUM, info=INFO_NULL):
        return _coll_init(self, COLL_EXSCAN, sendbuf, recvbuf, -1, op, info, b"Exscan_init")

    def Reduce_scatter(self, sendbuf, recvbuf, recvcounts=None, Op op=SUM):
        _reduce_scatter(self, sendbuf, recvbuf, recvcounts, op, None, 0, b"Reduce_scatter")

    def Ireduce_scatter(self, sendbuf, recvbuf, recvcounts=None, Op op=SUM):
        return _nb_return(<Request>_reduce_scatter(self, sendbuf, recvbuf, recvcounts, op, None, 1,
                                          b"Ireduce_scatter"))

    def Reduce_scatter_init(self, sendbuf, recvbuf, recvcounts=None, Op op=SUM, info=INFO_NULL):
        return _reduce_scatter(self, sendbuf, recvbuf, recvcounts, op, info, 2,
                               b"Reduce_scatter_init")

    def Reduce_scatter_block(self, sendbuf, recvbuf, Op op=SUM):
        _reduce_scatter_block(self, sendbuf, recvbuf, op, None, 0, b"Reduce_scatter_block")

    def Ireduce_scatter_block(self, sendbuf, recvbuf, Op op=SUM):
        return _nb_return(<Request>_reduce_scatter_block(self, sendbuf, recvbuf, op, None, 1,
                                                         b"Ireduce_scatter_block"))

    # -- collectives, Python objects ---------------------------------------------------------

    def bcast(self, obj, long long root=0):
        """Broadcast a Python object from root; every rank returns it."""
        cdef long long ev = _coll_hook(None, b"bcast", self, root, 0, -1, 0, None)
        if ev < 0:
            return _bcast_obj(self, obj, root)
        return _coll_done(ev, self, _bcast_obj(self, obj, root))

    def scatter(self, sendobj, long long root=0):
        """Root's sequence of `size` objects: rank i receives item i."""
        cdef long long ev = _coll_hook(None, b"scatter", self, root, 0, -1, 0, None)
        if ev < 0:
            return _scatter_obj(self, sendobj, root)
        return _coll_done(ev, self, _scatter_obj(self, sendobj, root))

    def gather(self, sendobj, long long root=0):
        """Root receives a list of every rank's object (others get None)."""
        cdef long long ev = _coll_hook(None, b"gather", self, root, 0, -1, 0, None)
        if ev < 0:
            return _gather_obj(self, sendobj, root, False)
        return _coll_done(ev, self, _gather_obj(self, sendobj, root, False))

    def allgather(self, sendobj):
        cdef long long ev = _coll_hook(None, b"allgather", self, -1, 0, -1, 0, None)
        if ev < 0:
            return _gather_obj(self, sendobj, 0, True)
        return _coll_done(ev, self, _gather_obj(self, sendobj, 0, True))

    def alltoall(self, sendobj):
        cdef long long ev = _coll_hook(None, b"alltoall", self, -1, 0, -1, 0, None)
        if ev < 0:
            return _alltoall_obj(self, sendobj)
        return _coll_done(ev, self, _alltoall_obj(self, sendobj))

    def reduce(self, sendobj, op=SUM, long long root=0):
        """Combine every rank's object with op; the result on root (others get None)."""
        check_comm(self)
        check_root(self, root, b"reduce")
        cdef long long ev = _coll_hook(None, b"reduce", self, root, 0, -1, 0, op)
        if ev < 0:
            return _reduce_obj(self, sendobj, op, root, False)
        return _coll_done(ev, self, _reduce_obj(self, sendobj, op, root, False))

    def allreduce(self, sendobj, op=SUM):
        """Combine every rank's object with op; every rank gets the result."""
        check_comm(self)
        cdef long long ev = _coll_hook(None, b"allreduce", self, -1, 0, -1, 0, op)
        if ev < 0:
            return _reduce_obj(self, sendobj, op, 0, True)
        return _coll_done(ev, self, _reduce_obj(self, sendobj, op, 0, True))

    def scan(self, sendobj, op=SUM):
        check_comm(self)
        cdef long long ev = _coll_hook(None, b"scan", self, -1, 0, -1, 0, op)
        items = _gather_obj(self, sendobj, 0, True)
        result = _functools_reduce(_op_func(op), items[:_rank(self) + 1])
        return result if ev < 0 else _coll_done(ev, self, result)

    def exscan(self, sendobj, op=SUM):
        check_comm(self)
        cdef long long ev = _coll_hook(None, b"exscan", self, -1, 0, -1, 0, op)
        items = _gather_obj(self, sendobj, 0, True)
        cdef int rank = _rank(self)
        result = None if rank == 0 else _functools_reduce(_op_func(op), items[:rank])
        return result if ev < 0 else _coll_done(ev, self, result)

    # --- groups, names, attributes, info, errhandlers (issue 18) -------------------------
    # (the machinery lives in group.pxi, attr.pxi, info.pxi, errhandler.pxi, intercomm.pxi)

    def Get_group(self):
        """The group of this communicator's processes (the local group of an intercomm)."""
        cdef MPI_Group g = MPI_GROUP_NULL
        check_comm(self)
        CHKERR(MPI_Comm_group(self.ob_mpi, &g))
        return _new_group(g, self.from_world)

    group = property(Get_group)

    def Create(self, Group group):
        """A communicator of the processes in group (collective over this communicator;
        COMM_NULL where the process is not in group)."""
        cdef MPI_Comm newcomm = MPI_COMM_NULL
        check_comm(self)
        check_group(group, b"Create")
        with nogil:
            ierr = MPI_Comm_create(self.ob_mpi, group.ob_mpi, &newcomm)
        CHKERR(ierr)
        return _made_comm(type(self) if self.Is_inter() else Intracomm, newcomm, self)

    def Create_group(self, Group group, int tag=0):
        """Like Create, but collective over the processes of group only."""
        cdef MPI_Comm newcomm = MPI_COMM_NULL
        check_comm(self)
        check_group(group, b"Create_group")
        check_send_tag(tag, b"Create_group")
        with nogil:
            ierr = MPI_Comm_create_group(self.ob_mpi, group.ob_mpi, tag, &newcomm)
        CHKERR(ierr)
        return _made_comm(Intracomm, newcomm, self)

    def Split_type(self, int split_type, int key=0, Info info=INFO_NULL):
        """Ranks that share a resource (COMM_TYPE_SHARED: memory, one node) form a new
        communicator, ordered by key; UNDEFINED gives COMM_NULL (collective)."""
        cdef MPI_Comm newcomm = MPI_COMM_NULL
        check_comm(self)
        cdef MPI_Info cinfo = _info_arg(info)
        with nogil:
            ierr = MPI_Comm_split_type(self.ob_mpi, split_type, key, cinfo, &newcomm)
        CHKERR(ierr)
        return _made_comm(Intracomm, newcomm, self)

    def Dup_with_info(self, Info info):
        """Dup, with these hints instead of this communicator's."""
        cdef MPI_Comm newcomm = MPI_COMM_NULL
        check_comm(self)
        cdef MPI_Info cinfo = _info_arg(info)
        with nogil:
            ierr = MPI_Comm_dup_with_info(self.ob_mpi, cinfo, &newcomm)
        CHKERR(ierr)
        return _new_comm(type(self), newcomm, self)

    def Idup(self, Info info=None):
        """Start a Dup: (the new communicator, a Request); use the communicator after the
        request completes."""
        check_comm(self)
        cdef MPI_Info cinfo = _info_arg(info)
        cdef Comm c = type(self).__new__(type(self))
        c.from_world = self.from_world
        c.serial = _next_comm_serial()
        cdef Request r = Request.__new__(Request)
        if cinfo == MPI_INFO_NULL:
            CHKERR(MPI_Comm_idup(self.ob_mpi, &c.ob_mpi, &r.ob_mpi))
        else:
            CHKERR(MPI_Comm_idup_with_info(self.ob_mpi, cinfo, &c.ob_mpi, &r.ob_mpi))
        r.keep = c          # MPI writes c's handle when the request completes
        if c.from_world:
            _derived.add(c)
        return (c, r)

    def Get_info(self):
        cdef Info info = Info.__new__(Info)
        check_comm(self)
        CHKERR(MPI_Comm_get_info(self.ob_mpi, &info.ob_mpi))
        return info

    def Set_info(self, Info info):
        check_comm(self)
        CHKERR(MPI_Comm_set_info(self.ob_mpi, _info_arg(info)))

    info = property(Get_info, Set_info)

    @classmethod
    def Create_keyval(cls, copy_fn=None, delete_fn=None, bint nopython=False):
        """A new attribute key (see attr.pxi for what copy_fn/delete_fn may be)."""
        return _create_keyval(copy_fn, delete_fn, nopython)

    @classmethod
    def Free_keyval(cls, int keyval):
        """Free a keyval of Create_keyval; returns KEYVAL_INVALID (assign it back)."""
        _free_keyval(keyval)
        return MPI_KEYVAL_INVALID

    def Set_attr(self, int keyval, attrval):
        _set_attr(self, keyval, attrval)

    def Delete_attr(self, int keyval):
        _delete_attr(self, keyval)

    def Get_errhandler(self):
        cdef Errhandler e = Errhandler.__new__(Errhandler)
        check_comm(self)
        CHKERR(MPI_Comm_get_errhandler(self.ob_mpi, &e.ob_mpi))
        return e

    def Set_errhandler(self, Errhandler errhandler):
        """ERRORS_RETURN (this module's default: errors raise MPI.Exception), ERRORS_ARE_FATAL
        or ERRORS_ABORT (MPI ends the job)."""
        check_comm(self)
        CHKERR(MPI_Comm_set_errhandler(self.ob_mpi, _errhandler_arg(errhandler,
                                                                    b"Set_errhandler").ob_mpi))

    @classmethod
    def Create_errhandler(cls, errhandler_fn):
        """An error handler calling errhandler_fn(comm, errorcode) (32 at most at a time)."""
        return _create_comm_errhandler(errhandler_fn)

    def Call_errhandler(self, int errorcode):
        """Invoke this communicator's error handler with errorcode."""
        check_comm(self)
        CHKERR(MPI_Comm_call_errhandler(self.ob_mpi, errorcode))

    def py2f(self):
        return MPI_Comm_c2f(self.ob_mpi)

    @classmethod
    def f2py(cls, arg):
        return _comm_of_handle(cls, MPI_Comm_f2c(arg))

    @classmethod
    def fromhandle(cls, handle):
        return _comm_of_handle(cls, <MPI_Comm><intptr_t>handle)

    def free(self):
        """Free it unless it is null or predefined (mpi4py's lowercase free)."""
        if self.ob_mpi != MPI_COMM_NULL and not self.flags & COMM_PREDEFINED:
            self.Free()

    def toint(self):
        """The handle as an int (the Fortran handle, which round-trips through fromint)."""
        return MPI_Comm_c2f(self.ob_mpi)

    @classmethod
    def fromint(cls, arg):
        return _comm_of_handle(cls, MPI_Comm_f2c(arg))

    @property
    def is_topo(self):
        return self.Get_topology() != MPI_UNDEFINED

    @classmethod
    def Get_parent(cls):
        """The intercommunicator to the processes that spawned this one (COMM_NULL if none)."""
        cdef MPI_Comm parent = MPI_COMM_NULL
        _check_alive()
        CHKERR(MPI_Comm_get_parent(&parent))
        return _comm_of_handle(Intercomm, parent)

    def Idup_with_info(self, Info info):
        return self.Idup(info)

    def __reduce__(self):
        """COMM_NULL/SELF/WORLD (and copies of them) pickle by name; others cannot."""
        return _reduce_predefined(self, {COMM_NULL: "COMM_NULL", COMM_SELF: "COMM_SELF",
                                         COMM_WORLD: "COMM_WORLD"}, "communicator")


cdef class Intracomm(Comm):
    """A communicator within one group of processes (like COMM_WORLD)."""

    def Create_cart(self, dims, periods=None, bint reorder=False):
        """A Cartesian grid of the ranks: dims[i] ranks along axis i (collective)."""
        cdef int ndims = len(dims), i, ierr
        cdef long long ev = -1
        cdef int *cdims = <int *>malloc((ndims or 1) * sizeof(int))
        cdef int *cper = <int *>malloc((ndims or 1) * sizeof(int))
        cdef MPI_Comm newcomm = MPI_COMM_NULL
        if periods is None:
            periods = [False] * ndims
        if isinstance(periods, bool):
            periods = [periods] * ndims
        try:
            if len(periods) != ndims:
                raise ValueError(f"Create_cart: periods has {len(periods)} entries for {ndims} dims")
            for i in range(ndims):
                cdims[i] = dims[i]
                cper[i] = 1 if periods[i] else 0
            check_comm(self)
            ev = _coll_hook(None, b"Create_cart", self, -1, 0, -1, 0, None)
            ierr = MPI_Cart_create(self.ob_mpi, ndims, cdims, cper, reorder, &newcomm)
            CHKERR(ierr)
            if ev >= 0:
                _ev_close(ev, self, NULL)
        finally:
            free(cdims)
            free(cper)
        if newcomm == MPI_COMM_NULL:
            _next_comm_serial()     # keep the numbering the same on every rank
            return COMM_NULL
        return _new_comm(Cartcomm, newcomm, self)

    # --- intercommunicators and topologies (issue 18) ------------------------------------

    def __init__(self, Comm comm=None):
        if comm is not None and comm.ob_mpi != MPI_COMM_NULL and comm.Is_inter():
            raise TypeError("MPI.Intracomm(comm): comm is an intercommunicator")
        _check_topo_class(self, comm)

    @classmethod
    def Create_from_group(cls, Group group, stringtag="org.mpi4py", Info info=INFO_NULL,
                          Errhandler errhandler=None):
        """A communicator of group's processes, without a parent communicator (MPI 4)."""
        cdef MPI_Comm newcomm = MPI_COMM_NULL
        if not MPIK_HAVE_MPI4:
            raise NotImplementedError("Intracomm.Create_from_group needs an MPI 4 library")
        check_group(group, b"Create_from_group")
        tag = str(stringtag).encode()
        cdef const char *ctag = tag
        cdef MPI_Errhandler eh = MPI_ERRORS_RETURN if errhandler is None else errhandler.ob_mpi
        cdef MPI_Info cinfo = _info_arg(info)
        with nogil:
            ierr = MPI_Comm_create_from_group(group.ob_mpi, ctag, cinfo, eh, &newcomm)
        CHKERR(ierr)
        return _made_comm(Intracomm, newcomm, COMM_WORLD)

    def Create_intercomm(self, int local_leader, Intracomm peer_comm, int remote_leader,
                         int tag=0):
        """An intercommunicator between this group and another: the two leaders (ranks here
        and in peer_comm) meet over peer_comm with tag (collective over both groups)."""
        cdef MPI_Comm newcomm = MPI_COMM_NULL
        check_comm(self)
        if not 0 <= local_leader < _size(self):
            _bad_rank(self, local_leader, b"Create_intercomm", b"local leader", False)
        check_send_tag(tag, b"Create_intercomm")
        cdef MPI_Comm peer = MPI_COMM_NULL
        if _rank(self) == local_leader:
            if peer_comm is None:
                raise TypeError("Create_intercomm: the local leader needs peer_comm, the "
                                "communicator it shares with the remote leader")
            check_comm(peer_comm)
            check_dest(peer_comm, remote_leader, b"Create_intercomm")
        if peer_comm is not None:
            peer = peer_comm.ob_mpi
        with nogil:
            ierr = MPI_Intercomm_create(self.ob_mpi, local_leader, peer, remote_leader, tag,
                                        &newcomm)
        CHKERR(ierr)
        return _new_comm(Intercomm, newcomm, self)

    def Create_graph(self, index, edges, bint reorder=False):
        """A graph topology: node i's neighbours are edges[index[i-1]:index[i]] (collective)."""
        cdef MPI_Comm newcomm = MPI_COMM_NULL
        check_comm(self)
        cdef _IntArray idx = _graph_index(index, edges, b"Create_graph")
        cdef _IntArray edg = _IntArray(edges, b"Create_graph", b"edges")
        with nogil:
            ierr = MPI_Graph_create(self.ob_mpi, idx.n, idx.p, edg.p, reorder, &newcomm)
        CHKERR(ierr)
        return _made_comm(Graphcomm, newcomm, self)

    def Create_dist_graph_adjacent(self, sources, destinations, sourceweights=None,
                                   destweights=None, Info info=INFO_NULL, bint reorder=False):
        """A distributed graph: each rank names who sends to it and whom it sends to."""
        cdef MPI_Comm newcomm = MPI_COMM_NULL
        check_comm(self)
        cdef _IntArray src = _IntArray(sources if sources is not None else (),
                                       b"Create_dist_graph_adjacent", b"sources")
        cdef _IntArray dst = _IntArray(destinations if destinations is not None else (),
                                       b"Create_dist_graph_adjacent", b"destinations")
        cdef _IntArray sw = _weights(sourceweights, src.n, b"sourceweights")
        cdef _IntArray dw = _weights(destweights, dst.n, b"destweights")
        cdef MPI_Info cinfo = _info_arg(info)
        cdef int *csw = _weights_ptr(sw, src.n)
        cdef int *cdw = _weights_ptr(dw, dst.n)
        with nogil:
            ierr = MPI_Dist_graph_create_adjacent(self.ob_mpi, src.n, src.p, csw, dst.n, dst.p,
                                                  cdw, cinfo, reorder, &newcomm)
        CHKERR(ierr)
        return _made_comm(Distgraphcomm, newcomm, self)

    def Create_dist_graph(self, sources, degrees, destinations, weights=None,
                          Info info=INFO_NULL, bint reorder=False):
        """A distributed graph from any rank's edges: sources[i] sends to the next degrees[i]
        entries of destinations (collective)."""
        cdef MPI_Comm newcomm = MPI_COMM_NULL
        check_comm(self)
        cdef _IntArray src = _IntArray(sources, b"Create_dist_graph", b"sources")
        cdef _IntArray deg = _IntArray(degrees, b"Create_dist_graph", b"degrees")
        cdef _IntArray dst = _IntArray(destinations, b"Create_dist_graph", b"destinations")
        if deg.n != src.n:
            raise ValueError(f"Create_dist_graph: {deg.n} degrees for {src.n} sources")
        if sum(deg.tolist()) != dst.n:
            raise ValueError(f"Create_dist_graph: the degrees add up to {sum(deg.tolist())}, "
                             f"but {dst.n} destinations were given")
        cdef _IntArray w = _weights(weights, dst.n, b"weights")
        cdef MPI_Info cinfo = _info_arg(info)
        cdef int *cw = _weights_ptr(w, dst.n)
        with nogil:
            ierr = MPI_Dist_graph_create(self.ob_mpi, src.n, src.p, deg.p, dst.p, cw, cinfo,
                                         reorder, &newcomm)
        CHKERR(ierr)
        return _made_comm(Distgraphcomm, newcomm, self)

    def Cart_map(self, dims, periods=None):
        """The rank this process would get in Create_cart(dims, periods, reorder=True)."""
        cdef int rank = MPI_UNDEFINED
        check_comm(self)
        cdef _IntArray d = _IntArray(dims, b"Cart_map", b"dims")
        if periods is None or isinstance(periods, bool):
            periods = [bool(periods)] * d.n
        cdef _IntArray p = _IntArray([1 if x else 0 for x in periods], b"Cart_map", b"periods")
        if p.n != d.n:
            raise ValueError(f"Cart_map: periods has {p.n} entries for {d.n} dims")
        CHKERR(MPI_Cart_map(self.ob_mpi, d.n, d.p, p.p, &rank))
        return rank

    def Graph_map(self, index, edges):
        cdef int rank = MPI_UNDEFINED
        check_comm(self)
        cdef _IntArray idx = _graph_index(index, edges, b"Graph_map")
        cdef _IntArray edg = _IntArray(edges, b"Graph_map", b"edges")
        CHKERR(MPI_Graph_map(self.ob_mpi, idx.n, idx.p, edg.p, &rank))
        return rank


# -- helpers ----------------------------------------------------------------------------------

cdef Comm _new_comm(type cls, MPI_Comm handle, Comm parent):
    cdef Comm c = cls.__new__(cls)
    c.ob_mpi = handle
    c.from_world = parent.from_world
    c.serial = _next_comm_serial()
    MPI_Comm_set_errhandler(handle, MPI_ERRORS_RETURN)
    if c.from_world:
        _derived.add(c)
    if (_instr_flags & INSTR_CHECK or cls is Intercomm) and handle != MPI_COMM_NULL:
        # now, while every member is here (see _shadow_of); an intercomm's rooted collectives
        # are point-to-point on it (intercomm.pxi, _inter_p2p)
        _shadow_of(c, b"Dup")
    return c


cdef int _comm_unusable(Comm c) except -1:
    if _finalized_flag:
        return usage_error(MPI_ERR_OTHER, "MPI has been finalized: no MPI call is possible "
                           "after MPI.Finalize() (restart the program or the engines)")
    if c.stale:
        return usage_error(MPI_ERR_COMM, "this communicator was made before an interrupt reset "
                           "COMM_WORLD, so it may hold unfinished operations; create it again "
                           "(e.g. comm.Split(...) or comm.Dup())")
    return usage_error(MPI_ERR_COMM, "this communicator is not usable: it is COMM_NULL or was "
                       "freed (Free() was called, or this rank is not part of it)")


cdef inline int check_comm(Comm c) except -1:
    if c.ob_mpi == MPI_COMM_NULL or _finalized_flag:
        return _comm_unusable(c)
    return 0


cdef inline int _rank(Comm c) except? -1:
    cdef int rank = 0
    CHKERR(MPI_Comm_rank(c.ob_mpi, &rank))
    return rank


cdef inline int _size(Comm c) except? -1:
    cdef int size = 0
    CHKERR(MPI_Comm_size(c.ob_mpi, &size))
    return size


cdef int _peers(Comm c) noexcept:
    """How many ranks point-to-point on c addresses: the remote group's on an intercommunicator."""
    cdef int inter = 0, size = 0
    MPI_Comm_test_inter(c.ob_mpi, &inter)
    if inter:
        MPI_Comm_remote_size(c.ob_mpi, &size)
    else:
        MPI_Comm_size(c.ob_mpi, &size)
    return size


cdef int _bad_rank(Comm c, long long rank, const char *what, const char *role, bint any_ok) except -1:
    cdef int size = _peers(c)
    extra = " or ANY_SOURCE" if any_ok else ""
    return usage_error(
        MPI_ERR_RANK,
        f"{what.decode()}: invalid {role.decode()} rank {rank}: this communicator has ranks "
        f"0..{size - 1} (or PROC_NULL{extra})",
    )


cdef inline int check_dest(Comm c, long long dest, const char *what) except -1:
    cdef int size = 0
    if dest >= 0:
        MPI_Comm_size(c.ob_mpi, &size)
        if dest < size or dest < _peers(c):     # _peers: an intercomm's remote group
            return 0
    elif dest == MPI_PROC_NULL:
        return 0
    return _bad_rank(c, dest, what, b"destination", False)


cdef inline int check_source(Comm c, long long source, const char *what) except -1:
    cdef int size = 0
    if source >= 0:
        MPI_Comm_size(c.ob_mpi, &size)
        if source < size or source < _peers(c):
            return 0
    elif source == MPI_ANY_SOURCE or source == MPI_PROC_NULL:
        return 0
    return _bad_rank(c, source, what, b"source", True)


cdef inline int check_root(Comm c, long long root, const char *what) except -1:
    cdef int size = 0
    MPI_Comm_size(c.ob_mpi, &size)
    if 0 <= root < size:
        return 0
    return usage_error(MPI_ERR_ROOT, f"{what.decode()}: invalid root {root}: this communicator "
                       f"has ranks 0..{size - 1}")


cdef inline int check_send_tag(long long tag, const char *what) except -1:
    if 0 <= tag <= _tag_ub:
        return 0
    return usage_error(MPI_ERR_TAG, f"{what.decode()}: invalid tag {tag}: tags go from 0 to "
                       f"{_tag_ub} (MPI.TAG_UB)")


cdef inline int check_recv_tag(long long tag, const char *what) except -1:
    if (0 <= tag <= _tag_ub) or tag == MPI_ANY_TAG:
        return 0
    return usage_error(MPI_ERR_TAG, f"{what.decode()}: invalid tag {tag}: tags go from 0 to "
                       f"{_tag_ub}, or ANY_TAG")


cdef inline int _wait_req(Request r, const char *call, int peer, int tag, Comm comm) except -1:
    """Wait for one Request in the wait loop (the body of every blocking call)."""
    cdef long long nbytes = 0
    if type(r.keep) is _Buf:
        nbytes = _data_bytes(<_Buf>r.keep)
    if r._plain():
        if r.ob_mpi == MPI_REQUEST_NULL and r.n_more == 0:
            r._finish()
            return 0
        if r.n_more == 0:
            wait_requests(1, &r.ob_mpi, &r.status, call, peer, tag, nbytes, comm, r.is_recv, r.keep)
        else:
            _wait_list([r], 0, call, peer, tag, comm, nbytes)
        r._finish()
        return 0
    _wait_list([r], 0, call, peer, tag, comm, nbytes)
    return 0


cdef _Buf _sent_copy(_Buf m):
    """What a *_replace call sends: a copy of the buffer it then receives into."""
    cdef _Buf s = _Buf.__new__(_Buf)
    s.obj = bytes((<char *>m.addr)[:m.count * m.extent])
    s.addr = PyBytes_AS_STRING(s.obj)
    s.count = m.count
    s.dtype = m.dtype
    s.extent = m.extent
    return s


# -- lowercase implementations ---------------------------------------------------------------

cdef inline object _buffer_address(object view, list keep, char **addr):
    cdef _Buf b = _export(view, False, b"send")
    keep.append(b)
    addr[0] = <char *>b.addr
    return b


cdef Request _isend_obj(Comm comm, object obj, long long dest, long long tag, int mode,
                        const char *call):
    """The lowercase send: the pickle, then each out-of-band buffer in chunks. call: the
    name to trace it under (NULL: not traced, part of a traced sendrecv)."""
    check_comm(comm)
    check_dest(comm, dest, b"send")
    check_send_tag(tag, b"send")
    data, bufs = pickle_dumps(obj, True)
    cdef Request r = Request.__new__(Request)
    cdef int nc = 0, k = 0
    cdef char *base
    cdef list keep
    if MPIK_INSTRUMENTED and _instr_flags and call != NULL:
        _p2p_open(r, K_SEND, call, comm, dest, tag, _pickled_bytes(data, bufs))
    CHKERR(_isend_mode(mode, PyBytes_AS_STRING(data), <int>PyBytes_GET_SIZE(data), MPI_BYTE,
                       <int>dest, <int>tag, comm.ob_mpi, &r.ob_mpi))
    if bufs is None:
        r.keep = data
        return r
    keep = [data]
    for v in bufs:
        nc += n_chunks(v.nbytes)
    r._alloc_more(nc)
    for v in bufs:
        _buffer_address(v, keep, &base)
        k += post_chunks(CHUNK_SEND, base, v.nbytes, dest, tag, comm.ob_mpi, &r.more[k])
    r.keep = keep
    return r


cdef object _recv_obj(Comm comm, long long source, long long tag, Status status,
                      const char *call, bint hook):
    """The lowercase receive: matched probe, the pickle, then its out-of-band buffers.
    hook: trace it as `call` (False inside a traced sendrecv)."""
    cdef ProbeCtx p
    cdef int count = 0
    cdef MPI_Request req = MPI_REQUEST_NULL
    cdef Request more
    check_comm(comm)
    check_source(comm, source, b"recv")
    check_recv_tag(tag, b"recv")
    cdef long long ev = _p2p_hook(None, K_RECV, call, comm, source, tag, 0) if hook else -1
    if source == MPI_PROC_NULL:
        if status is not None:
            status.ob_mpi.MPI_SOURCE = MPI_PROC_NULL
            status.ob_mpi.MPI_TAG = MPI_ANY_TAG
        if ev >= 0:
            _ev_close(ev, comm, NULL)
        return None
    p.source = source
    p.tag = tag
    p.comm = comm.ob_mpi
    p.matched = 1
    p.message = MPI_MESSAGE_NULL
    wait_until(poll_probe, &p, call, source, tag, 0, comm)
    p.status.MPI_ERROR = MPI_SUCCESS
    CHKERR(MPI_Get_count(&p.status, MPI_BYTE, &count))
    data = new_bytes(count)
    CHKERR(MPI_Imrecv(PyBytes_AS_STRING(data), count, MPI_BYTE, &p.message, &req))
    wait_requests(1, &req, MPI_STATUS_IGNORE, call, p.status.MPI_SOURCE, p.status.MPI_TAG,
                  count, comm, False, data)
    fill_status(status, &p.status)
    payload, sizes = pickle_split(data)
    if ev >= 0:
        _ev_close(ev, comm, &p.status)
        if sizes is not None:
            _ev_add_bytes(ev, sum(sizes))
    if sizes is None:
        return pickle_loads(payload, None)
    # out-of-band buffers follow from the same source with the same tag
    more = Request.__new__(Request)
    more.comm = comm
    more.status = p.status
    more._unpack(data)
    _wait_list([more], 0, call, p.status.MPI_SOURCE, p.status.MPI_TAG, comm)
    if ev >= 0:
        _ev_close(ev, comm, NULL)    # the end time, now with the out-of-band buffers
    return more.result


cdef object _bcast_obj(Comm comm, object obj, long long root):
    """Root pickles; a 256-byte first broadcast carries the size and, for small objects, the
    pickle itself (one collective instead of two); large buffers follow out of band."""
    cdef int64_t head[32]
    cdef int rank, k, nc
    cdef Py_ssize_t n = 0
    cdef Request r
    check_comm(comm)
    check_root(comm, root, b"bcast")
    rank = _rank(comm)
    data = bufs = None
    if rank == root:
        data, bufs = pickle_dumps(obj)
        n = len(data)
        head[0] = n
        if n <= 30 * 8:
            memcpy(&head[2], PyBytes_AS_STRING(data), n)
    r = Request.__new__(Request)
    CHKERR(MPI_Ibcast(head, sizeof(head), MPI_BYTE, root, comm.ob_mpi, &r.ob_mpi))
    _wait_req(r, b"bcast", root, 0, comm)
    n = head[0]
    if rank != root:
        data = new_bytes(n)
        if n <= 30 * 8:
            memcpy(PyBytes_AS_STRING(data), &head[2], n)
    if n > 30 * 8:
        r = Request.__new__(Request)
        CHKERR(MPI_Ibcast(PyBytes_AS_STRING(data), <int>n, MPI_BYTE, root, comm.ob_mpi, &r.ob_mpi))
        r.keep = data
        _wait_req(r, b"bcast", root, 0, comm)
    if rank == root:
        views = bufs
    else:
        payload, sizes = pickle_split(data)
        if sizes is None:
            return pickle_loads(payload, None)
        views = [new_bytearray(s) for s in sizes]
    if not views:
        return obj
    keep = []
    nc = 0
    for v in views:
        nc += n_chunks(memoryview(v).nbytes)
    r = Request.__new__(Request)
    r._alloc_more(nc)
    k = 0
    for v in views:
        b = _export(v, rank != root, b"bcast")
        keep.append(b)
        k += post_chunks(CHUNK_BCAST, <char *>(<_Buf>b).addr, (<_Buf>b).nbytes, <int>root, 0,
                         comm.ob_mpi, &r.more[k])
    r.keep = keep
    r.is_recv = False
    _wait_req(r, b"bcast", root, 0, comm)
    if rank == root:
        return obj
    return pickle_loads(payload, views)


cdef object _plain_dumps(object obj):
    try:
        return _dumps(obj, PICKLE_PROTOCOL)
    except (_pickle_module.PicklingError, TypeError, AttributeError) as exc:
        raise type(exc)(
            f"cannot send a {type(obj).__name__} object: it cannot be pickled ({exc}). "
            "Send plain data (numbers, strings, lists, dicts, numpy arrays) instead."
        ) from exc


cdef object _int_buffer(Py_ssize_t n):
    """A writable array of n C ints (for counts and displacements)."""
    return new_bytearray(n * sizeof(int))


cdef object _scatter_obj(Comm comm, object sendobj, long long root):
    check_comm(comm)
    check_root(comm, root, b"scatter")
    cdef int rank = _rank(comm), size = _size(comm), i
    cdef int mycount = 0
    cdef int *counts = NULL
    cdef int *displs = NULL
    cdef Request r
    packed = None
    cbuf = dbuf = None
    if rank == root:
        items = list(sendobj) if sendobj is not None else [None] * size   # None: as mpi4py
        if len(items) != size:
            raise ValueError(f"scatter: root must pass a sequence of exactly {size} objects "
                             f"(one per rank), got {len(items)}")
        pickles = [_plain_dumps(x) for x in items]
        packed = b"".join(pickles)
        cbuf = _int_buffer(size)
        dbuf = _int_buffer(size)
        counts = <int *>PyByteArray_AS_STRING(cbuf)
        displs = <int *>PyByteArray_AS_STRING(dbuf)
        off = 0
        for i in range(size):
            counts[i] = len(pickles[i])
            displs[i] = off
            off += counts[i]
    r = Request.__new__(Request)
    CHKERR(MPI_Iscatter(counts, 1, MPI_INT, &mycount, 1, MPI_INT, root, comm.ob_mpi, &r.ob_mpi))
    _wait_req(r, b"scatter", root, 0, comm)
    mine = new_bytes(mycount)
    r = Request.__new__(Request)
    CHKERR(MPI_Iscatterv(PyBytes_AS_STRING(packed) if packed is not None else NULL, counts,
                         displs, MPI_BYTE, PyBytes_AS_STRING(mine), mycount, MPI_BYTE, root,
                         comm.ob_mpi, &r.ob_mpi))
    r.keep = (packed, cbuf, dbuf, mine)
    _wait_req(r, b"scatter", root, 0, comm)
    return _loads(mine)


cdef object _gather_obj(Comm comm, object sendobj, long long root, bint to_all):
    check_comm(comm)
    if not to_all:
        check_root(comm, root, b"gather")
    cdef int rank = _rank(comm), size = _size(comm), i
    cdef bint receiving = to_all or rank == root
    cdef int mycount
    cdef int *counts = NULL
    cdef int *displs = NULL
    cdef Request r
    cdef Py_ssize_t total = 0
    mine = _plain_dumps(sendobj)
    mycount = <int>len(mine)
    cbuf = dbuf = out = None
    if receiving:
        cbuf = _int_buffer(size)
        dbuf = _int_buffer(size)
        counts = <int *>PyByteArray_AS_STRING(cbuf)
        displs = <int *>PyByteArray_AS_STRING(dbuf)
    r = Request.__new__(Request)
    if to_all:
        CHKERR(MPI_Iallgather(&mycount, 1, MPI_INT, counts, 1, MPI_INT, comm.ob_mpi, &r.ob_mpi))
    else:
        CHKERR(MPI_Igather(&mycount, 1, MPI_INT, counts, 1, MPI_INT, root, comm.ob_mpi, &r.ob_mpi))
    _wait_req(r, b"allgather" if to_all else b"gather", MPI_PROC_NULL if to_all else root, 0, comm)
    if receiving:
        for i in range(size):
            displs[i] = <int>total
            total += counts[i]
        if total > 0x7fffffff:
            raise OverflowError("gather: the pickled objects add up to more than 2 GiB; "
                                "gather numpy arrays with Gatherv instead")
        out = new_bytes(total)
    r = Request.__new__(Request)
    if to_all:
        CHKERR(MPI_Iallgatherv(PyBytes_AS_STRING(mine), mycount, MPI_BYTE, PyBytes_AS_STRING(out),
                               counts, displs, MPI_BYTE, comm.ob_mpi, &r.ob_mpi))
    else:
        CHKERR(MPI_Igatherv(PyBytes_AS_STRING(mine), mycount, MPI_BYTE,
                            PyBytes_AS_STRING(out) if out is not None else NULL,
                            counts, displs, MPI_BYTE, root, comm.ob_mpi, &r.ob_mpi))
    r.keep = (mine, out, cbuf, dbuf)
    _wait_req(r, b"allgather" if to_all else b"gather", MPI_PROC_NULL if to_all else root, 0, comm)
    if not receiving:
        return None
    view = memoryview(out)
    return [_loads(view[displs[i]:displs[i] + counts[i]]) for i in range(size)]


cdef object _alltoall_obj(Comm comm, object sendobj):
    check_comm(comm)
    cdef int size = _peers(comm), i     # an intercomm: one object per remote rank
    cdef Request r
    cdef int *sc
    cdef int *sd
    cdef int *rc
    cdef int *rd
    cdef Py_ssize_t total = 0, off = 0
    items = list(sendobj) if sendobj is not None else [None] * size   # None: as mpi4py
    if len(items) != size:
        raise ValueError(f"alltoall: pass a sequence of exactly {size} objects (one per rank), "
                         f"got {len(items)}")
    pickles = [_plain_dumps(x) for x in items]
    packed = b"".join(pickles)
    bufs = [_int_buffer(size) for i in range(4)]
    sc = <int *>PyByteArray_AS_STRING(bufs[0])
    sd = <int *>PyByteArray_AS_STRING(bufs[1])
    rc = <int *>PyByteArray_AS_STRING(bufs[2])
    rd = <int *>PyByteArray_AS_STRING(bufs[3])
    for i in range(size):
        sc[i] = len(pickles[i])
        sd[i] = <int>off
        off += sc[i]
    r = Request.__new__(Request)
    CHKERR(MPI_Ialltoall(sc, 1, MPI_INT, rc, 1, MPI_INT, comm.ob_mpi, &r.ob_mpi))
    _wait_req(r, b"alltoall", MPI_PROC_NULL, 0, comm)
    for i in range(size):
        rd[i] = <int>total
        total += rc[i]
    out = new_bytes(total)
    r = Request.__new__(Request)
    CHKERR(MPI_Ialltoallv(PyBytes_AS_STRING(packed), sc, sd, MPI_BYTE, PyBytes_AS_STRING(out),
                          rc, rd, MPI_BYTE, comm.ob_mpi, &r.ob_mpi))
    r.keep = (packed, out, bufs)
    _wait_req(r, b"alltoall", MPI_PROC_NULL, 0, comm)
    view = memoryview(out)
    return [_loads(view[rd[i]:rd[i] + rc[i]]) for i in range(size)]


cdef object _op_func(object op):
    if isinstance(op, Op):
        f = (<Op>op).ob_func
        if f is None:
            raise ValueError(f"{op!r} cannot reduce Python objects")
        return f
    if callable(op):
        return op
    raise TypeError(f"op must be an MPI.Op (e.g. MPI.SUM) or a function f(x, y), got {op!r}")


cdef object _reduce_obj(Comm comm, object sendobj, object op, long long root, bint to_all):
    cdef mpik_fastval mine, result
    cdef Request r
    if isinstance(op, Op) and (<Op>op).fast != MPI_OP_NULL:
        fastval_of(sendobj, &mine)
        r = Request.__new__(Request)
        CHKERR(MPI_Iallreduce(&mine, &result, 1, _fastval_type, (<Op>op).fast, comm.ob_mpi,
                              &r.ob_mpi))
        _wait_req(r, b"allreduce" if to_all else b"reduce", MPI_PROC_NULL if to_all else root, 0, comm)
        if result.kind != MPIK_SLOW:
            if not to_all and _rank(comm) != root:
                return None
            return result.i if result.kind == MPIK_INT else result.f
    func = _op_func(op)
    items = _gather_obj(comm, sendobj, root, to_all)
    if items is None:
        return None
    return _functools_reduce(func, items)


# -- instrumentation helpers that need the buffer types (see instrument.pxi) -------------------

cdef inline long long _buf_bytes(_Buf b) noexcept:
    """Bytes this rank sends or receives with b (whole buffer for v-variants)."""
    if b.counts != NULL:
        return b.nbytes
    return _data_bytes(b)


cdef long long _pickled_bytes(object data, object bufs) except -1:
    cdef long long n = PyBytes_GET_SIZE(data)
    if bufs is not None:
        for v in bufs:
            n += v.nbytes
    return n


cdef long long _request_bytes(Request r) noexcept:
    """Bytes a lowercase isend's request carries (the pickle and its out-of-band buffers)."""
    cdef long long n = 0
    try:
        keep = r.keep
        if type(keep) is bytes:
            return PyBytes_GET_SIZE(keep)
        if type(keep) is list:
            for b in <list>keep:
                n += PyBytes_GET_SIZE(b) if type(b) is bytes else (<_Buf?>b).nbytes
    except BaseException:
        pass
    return n


cdef object _coll_done(long long ev, Comm comm, object result):
    """A traced lowercase collective returned: close its event, pass its result on."""
    _ev_close(ev, comm, NULL)
    return result
