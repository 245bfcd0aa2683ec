# Communicators: point-to-point and collective calls, in buffer (uppercase) and pickled
# (lowercase) forms. Every blocking call = its nonblocking MPI form + the one wait loop.

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
    cdef object __weakref__

    def __cinit__(self, Comm comm=None):
        self.ob_mpi = MPI_COMM_NULL
        self.flags = 0
        self.stale = False
        if comm is not None:
            self.ob_mpi = comm.ob_mpi

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
        cdef void *value = NULL
        cdef int flag = 0
        check_comm(self)
        CHKERR(MPI_Comm_get_attr(self.ob_mpi, keyval, &value, &flag))
        if not flag:
            return None
        return (<int *>value)[0]

    def Abort(self, int errorcode=0):
        """Terminate all processes of the job (never returns)."""
        check_comm(self)
        CHKERR(MPI_Abort(self.ob_mpi, errorcode))

    # -- making and freeing communicators --------------------------------------------------

    def Dup(self):
        """A new communicator with the same ranks (collective)."""
        cdef MPI_Request req = MPI_REQUEST_NULL
        cdef MPI_Comm newcomm = MPI_COMM_NULL
        check_comm(self)
        CHKERR(MPI_Comm_idup(self.ob_mpi, &newcomm, &req))
        wait_requests(1, &req, MPI_STATUS_IGNORE, b"Dup", MPI_PROC_NULL, 0, 0, self, False, None)
        return _new_comm(type(self), newcomm)

    def Clone(self):
        return self.Dup()

    def Split(self, int color=0, int key=0):
        """Ranks with the same color form a new communicator, ordered by key (collective)."""
        cdef MPI_Comm newcomm = MPI_COMM_NULL
        check_comm(self)
        with nogil:
            ierr = MPI_Comm_split(self.ob_mpi, color, key, &newcomm)
        CHKERR(ierr)
        if newcomm == MPI_COMM_NULL:
            return COMM_NULL
        return _new_comm(Intracomm, newcomm)

    def Free(self):
        check_comm(self)
        if self.flags & COMM_PREDEFINED:
            usage_error(MPI_ERR_COMM, f"cannot free the predefined communicator {self.Get_name()}")
        CHKERR(MPI_Comm_free(&self.ob_mpi))
        _derived.discard(self)

    # -- point to point, buffers -----------------------------------------------------------

    def Send(self, buf, long long dest, long long tag=0):
        """Send a buffer (blocks until it may be reused; interruptible)."""
        cdef Request r = self.Isend(buf, dest, tag)
        _wait_req(r, b"Send", dest, tag, self)

    def Ssend(self, buf, long long dest, long long tag=0):
        cdef Request r = self.Issend(buf, dest, tag)
        _wait_req(r, b"Ssend", dest, tag, self)

    def Recv(self, buf, long long source=MPI_ANY_SOURCE, long long tag=MPI_ANY_TAG, Status status=None):
        """Receive into a buffer (interruptible)."""
        cdef Request r = self.Irecv(buf, source, tag)
        _wait_req(r, b"Recv", source, tag, self)
        fill_status(status, &r.status)

    def Isend(self, buf, long long dest, long long tag=0):
        check_comm(self)
        check_dest(self, dest, b"Send")
        check_send_tag(tag, b"Send")
        cdef _Buf m = msg_simple(buf, False, 1, b"Send")
        cdef Request r = Request.__new__(Request)
        CHKERR(MPI_Isend(m.addr, m.count, m.dtype, dest, tag, self.ob_mpi, &r.ob_mpi))
        r.keep = m
        return r

    def Issend(self, buf, long long dest, long long tag=0):
        check_comm(self)
        check_dest(self, dest, b"Ssend")
        check_send_tag(tag, b"Ssend")
        cdef _Buf m = msg_simple(buf, False, 1, b"Ssend")
        cdef Request r = Request.__new__(Request)
        CHKERR(MPI_Issend(m.addr, m.count, m.dtype, dest, tag, self.ob_mpi, &r.ob_mpi))
        r.keep = m
        return r

    def Irecv(self, buf, long long source=MPI_ANY_SOURCE, long long tag=MPI_ANY_TAG):
        check_comm(self)
        check_source(self, source, b"Recv")
        check_recv_tag(tag, b"Recv")
        cdef _Buf m = msg_simple(buf, True, 1, b"Recv")
        cdef Request r = Request.__new__(Request)
        CHKERR(MPI_Irecv(m.addr, m.count, m.dtype, source, tag, self.ob_mpi, &r.ob_mpi))
        r.keep = m
        r.is_recv = True
        return r

    def Sendrecv(self, sendbuf, long long dest, long long sendtag=0, recvbuf=None,
                 long long source=MPI_ANY_SOURCE, long long recvtag=MPI_ANY_TAG, Status status=None):
        """Send and receive at once (no deadlock when two ranks exchange)."""
        cdef MPI_Request reqs[2]
        cdef MPI_Status sts[2]
        check_comm(self)
        check_dest(self, dest, b"Sendrecv")
        check_send_tag(sendtag, b"Sendrecv")
        check_source(self, source, b"Sendrecv")
        check_recv_tag(recvtag, b"Sendrecv")
        cdef _Buf r = msg_simple(recvbuf, True, 1, b"Sendrecv")
        cdef _Buf s = msg_simple(sendbuf, False, 1, b"Sendrecv")
        reqs[0] = reqs[1] = MPI_REQUEST_NULL
        CHKERR(MPI_Irecv(r.addr, r.count, r.dtype, source, recvtag, self.ob_mpi, &reqs[0]))
        CHKERR(MPI_Isend(s.addr, s.count, s.dtype, dest, sendtag, self.ob_mpi, &reqs[1]))
        wait_requests(2, reqs, sts, b"Sendrecv", dest, sendtag, 0, self, False, (r, s))
        fill_status(status, &sts[0])

    def Sendrecv_replace(self, buf, long long dest, long long sendtag=0, long long source=MPI_ANY_SOURCE,
                         long long recvtag=MPI_ANY_TAG, Status status=None):
        cdef _Buf m = msg_simple(buf, True, 1, b"Sendrecv_replace")
        copy = bytes((<char *>m.addr)[:m.count * m.extent])
        cdef Datatype t = Datatype()
        t.ob_mpi = m.dtype
        self.Sendrecv([copy, m.count, t], dest, sendtag, [buf, m.count, t], source, recvtag, status)

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
        wait_until(poll_probe, &p, b"Probe", source, tag, 0, self)
        fill_status(status, &p.status)
        return True

    def Iprobe(self, long long source=MPI_ANY_SOURCE, long long tag=MPI_ANY_TAG, Status status=None):
        cdef int flag = 0
        cdef MPI_Status st
        check_comm(self)
        check_source(self, source, b"Iprobe")
        check_recv_tag(tag, b"Iprobe")
        CHKERR(MPI_Iprobe(source, tag, self.ob_mpi, &flag, &st))
        if flag:
            fill_status(status, &st)
        return bool(flag)

    probe = Probe
    iprobe = Iprobe

    # -- point to point, Python objects ----------------------------------------------------

    def send(self, obj, long long dest, long long tag=0):
        """Send a Python object (pickled; large arrays out of band)."""
        cdef Request r = _isend_obj(self, obj, dest, tag, False)
        _wait_req(r, b"send", dest, tag, self)

    def ssend(self, obj, long long dest, long long tag=0):
        cdef Request r = _isend_obj(self, obj, dest, tag, True)
        _wait_req(r, b"ssend", dest, tag, self)

    def isend(self, obj, long long dest, long long tag=0):
        return _isend_obj(self, obj, dest, tag, False)

    def issend(self, obj, long long dest, long long tag=0):
        return _isend_obj(self, obj, dest, tag, True)

    def recv(self, buf=None, long long source=MPI_ANY_SOURCE, long long tag=MPI_ANY_TAG, Status status=None):
        """Receive a Python object (interruptible)."""
        return _recv_obj(self, source, tag, status)

    def irecv(self, buf=None, long long source=MPI_ANY_SOURCE, long long tag=MPI_ANY_TAG):
        check_comm(self)
        check_source(self, source, b"irecv")
        check_recv_tag(tag, b"irecv")
        cdef Request r = Request.__new__(Request)
        r.is_recv = True
        if source == MPI_PROC_NULL:
            r.status.MPI_SOURCE = MPI_PROC_NULL
            r._finish()
            return r
        r.state = RQ_RECV_PROBE
        r.comm = self
        r.source = source
        r.tag = tag
        return r

    def sendrecv(self, sendobj, long long dest, long long sendtag=0, recvbuf=None,
                 long long source=MPI_ANY_SOURCE, long long recvtag=MPI_ANY_TAG, Status status=None):
        check_comm(self)
        check_source(self, source, b"sendrecv")
        check_recv_tag(recvtag, b"sendrecv")
        cdef Request r = _isend_obj(self, sendobj, dest, sendtag, False)
        try:
            obj = _recv_obj(self, source, recvtag, status)
        except BaseException:
            r._abandon()
            raise
        _wait_req(r, b"sendrecv", dest, sendtag, self)
        return obj

    # -- collectives, buffers ----------------------------------------------------------------

    def Barrier(self):
        """Wait until every rank has called Barrier (interruptible)."""
        _wait_req(self.Ibarrier(), b"Barrier", MPI_PROC_NULL, 0, self)

    def Ibarrier(self):
        check_comm(self)
        cdef Request r = Request.__new__(Request)
        CHKERR(MPI_Ibarrier(self.ob_mpi, &r.ob_mpi))
        return r

    def barrier(self):
        _wait_req(self.Ibarrier(), b"barrier", MPI_PROC_NULL, 0, self)

    def Bcast(self, buf, long long root=0):
        _wait_req(self.Ibcast(buf, root), b"Bcast", root, 0, self)

    def Ibcast(self, buf, long long root=0):
        check_comm(self)
        check_root(self, root, b"Bcast")
        cdef _Buf m = msg_simple(buf, _rank(self) != root, 1, b"Bcast")
        cdef Request r = Request.__new__(Request)
        CHKERR(MPI_Ibcast(m.addr, m.count, m.dtype, root, self.ob_mpi, &r.ob_mpi))
        r.keep = m
        return r

    def Scatter(self, sendbuf, recvbuf, long long root=0):
        _wait_req(self.Iscatter(sendbuf, recvbuf, root), b"Scatter", root, 0, self)

    def Iscatter(self, sendbuf, recvbuf, long long root=0):
        check_comm(self)
        check_root(self, root, b"Scatter")
        cdef int size = _size(self)
        cdef _Buf s, r
        if _rank(self) == root:
            s = msg_simple(sendbuf, False, size, b"Scatter")
            r = msg_in_place() if is_in_place(recvbuf) else msg_simple(recvbuf, True, 1, b"Scatter")
        else:
            s = msg_simple(None, False, 1, b"Scatter")
            r = msg_simple(recvbuf, True, 1, b"Scatter")
        cdef Request q = Request.__new__(Request)
        CHKERR(MPI_Iscatter(s.addr, s.count, s.dtype, r.addr, r.count, r.dtype, root,
                            self.ob_mpi, &q.ob_mpi))
        q.keep = (s, r)
        return q

    def Scatterv(self, sendbuf, recvbuf, long long root=0):
        _wait_req(self.Iscatterv(sendbuf, recvbuf, root), b"Scatterv", root, 0, self)

    def Iscatterv(self, sendbuf, recvbuf, long long root=0):
        check_comm(self)
        check_root(self, root, b"Scatterv")
        cdef int size = _size(self)
        cdef _Buf s, r
        if _rank(self) == root:
            s = msg_vector(sendbuf, False, size, b"Scatterv")
            r = msg_in_place() if is_in_place(recvbuf) else msg_simple(recvbuf, True, 1, b"Scatterv")
        else:
            s = msg_simple(None, False, 1, b"Scatterv")
            r = msg_simple(recvbuf, True, 1, b"Scatterv")
        cdef Request q = Request.__new__(Request)
        CHKERR(MPI_Iscatterv(s.addr, s.counts, s.displs, s.dtype, r.addr, r.count, r.dtype,
                             root, self.ob_mpi, &q.ob_mpi))
        q.keep = (s, r)
        return q

    def Gather(self, sendbuf, recvbuf, long long root=0):
        _wait_req(self.Igather(sendbuf, recvbuf, root), b"Gather", root, 0, self)

    def Igather(self, sendbuf, recvbuf, long long root=0):
        check_comm(self)
        check_root(self, root, b"Gather")
        cdef int size = _size(self)
        cdef _Buf s, r
        if _rank(self) == root:
            r = msg_simple(recvbuf, True, size, b"Gather")
            s = msg_in_place() if is_in_place(sendbuf) else msg_simple(sendbuf, False, 1, b"Gather")
        else:
            s = msg_simple(sendbuf, False, 1, b"Gather")
            r = msg_simple(None, True, 1, b"Gather")
        cdef Request q = Request.__new__(Request)
        CHKERR(MPI_Igather(s.addr, s.count, s.dtype, r.addr, r.count, r.dtype, root,
                           self.ob_mpi, &q.ob_mpi))
        q.keep = (s, r)
        return q

    def Gatherv(self, sendbuf, recvbuf, long long root=0):
        _wait_req(self.Igatherv(sendbuf, recvbuf, root), b"Gatherv", root, 0, self)

    def Igatherv(self, sendbuf, recvbuf, long long root=0):
        check_comm(self)
        check_root(self, root, b"Gatherv")
        cdef int size = _size(self)
        cdef _Buf s, r
        if _rank(self) == root:
            r = msg_vector(recvbuf, True, size, b"Gatherv")
            s = msg_in_place() if is_in_place(sendbuf) else msg_simple(sendbuf, False, 1, b"Gatherv")
        else:
            s = msg_simple(sendbuf, False, 1, b"Gatherv")
            r = msg_simple(None, True, 1, b"Gatherv")
        cdef Request q = Request.__new__(Request)
        CHKERR(MPI_Igatherv(s.addr, s.count, s.dtype, r.addr, r.counts, r.displs, r.dtype,
                            root, self.ob_mpi, &q.ob_mpi))
        q.keep = (s, r)
        return q

    def Allgather(self, sendbuf, recvbuf):
        _wait_req(self.Iallgather(sendbuf, recvbuf), b"Allgather", MPI_PROC_NULL, 0, self)

    def Iallgather(self, sendbuf, recvbuf):
        check_comm(self)
        cdef int size = _size(self)
        cdef _Buf r = msg_simple(recvbuf, True, size, b"Allgather")
        cdef _Buf s = msg_in_place() if is_in_place(sendbuf) else msg_simple(sendbuf, False, 1, b"Allgather")
        cdef Request q = Request.__new__(Request)
        CHKERR(MPI_Iallgather(s.addr, s.count, s.dtype, r.addr, r.count, r.dtype,
                              self.ob_mpi, &q.ob_mpi))
        q.keep = (s, r)
        return q

    def Allgatherv(self, sendbuf, recvbuf):
        _wait_req(self.Iallgatherv(sendbuf, recvbuf), b"Allgatherv", MPI_PROC_NULL, 0, self)

    def Iallgatherv(self, sendbuf, recvbuf):
        check_comm(self)
        cdef int size = _size(self)
        cdef _Buf r = msg_vector(recvbuf, True, size, b"Allgatherv")
        cdef _Buf s = msg_in_place() if is_in_place(sendbuf) else msg_simple(sendbuf, False, 1, b"Allgatherv")
        cdef Request q = Request.__new__(Request)
        CHKERR(MPI_Iallgatherv(s.addr, s.count, s.dtype, r.addr, r.counts, r.displs, r.dtype,
                               self.ob_mpi, &q.ob_mpi))
        q.keep = (s, r)
        return q

    def Alltoall(self, sendbuf, recvbuf):
        _wait_req(self.Ialltoall(sendbuf, recvbuf), b"Alltoall", MPI_PROC_NULL, 0, self)

    def Ialltoall(self, sendbuf, recvbuf):
        check_comm(self)
        cdef int size = _size(self)
        cdef _Buf r = msg_simple(recvbuf, True, size, b"Alltoall")
        cdef _Buf s = msg_in_place() if is_in_place(sendbuf) else msg_simple(sendbuf, False, size, b"Alltoall")
        cdef Request q = Request.__new__(Request)
        CHKERR(MPI_Ialltoall(s.addr, s.count, s.dtype, r.addr, r.count, r.dtype,
                             self.ob_mpi, &q.ob_mpi))
        q.keep = (s, r)
        return q

    def Alltoallv(self, sendbuf, recvbuf):
        _wait_req(self.Ialltoallv(sendbuf, recvbuf), b"Alltoallv", MPI_PROC_NULL, 0, self)

    def Ialltoallv(self, sendbuf, recvbuf):
        check_comm(self)
        cdef int size = _size(self)
        cdef _Buf r = msg_vector(recvbuf, True, size, b"Alltoallv")
        cdef _Buf s
        if is_in_place(sendbuf):
            s = msg_in_place()
        else:
            s = msg_vector(sendbuf, False, size, b"Alltoallv")
        cdef Request q = Request.__new__(Request)
        CHKERR(MPI_Ialltoallv(s.addr, s.counts, s.displs, s.dtype, r.addr, r.counts, r.displs,
                              r.dtype, self.ob_mpi, &q.ob_mpi))
        q.keep = (s, r)
        return q

    def Reduce(self, sendbuf, recvbuf, Op op=SUM, long long root=0):
        _wait_req(self.Ireduce(sendbuf, recvbuf, op, root), b"Reduce", root, 0, self)

    def Ireduce(self, sendbuf, recvbuf, Op op=SUM, long long root=0):
        check_comm(self)
        check_root(self, root, b"Reduce")
        cdef bint at_root = _rank(self) == root
        cdef _Buf s, r
        s, r = _reduction_bufs(sendbuf, recvbuf if at_root else None, op, b"Reduce", at_root)
        cdef Request q = Request.__new__(Request)
        CHKERR(MPI_Ireduce(s.addr, r.addr, _red_count(s, r), _red_type(s, r), op.ob_mpi, root,
                           self.ob_mpi, &q.ob_mpi))
        q.keep = (s, r)
        return q

    def Allreduce(self, sendbuf, recvbuf, Op op=SUM):
        _wait_req(self.Iallreduce(sendbuf, recvbuf, op), b"Allreduce", MPI_PROC_NULL, 0, self)

    def Iallreduce(self, sendbuf, recvbuf, Op op=SUM):
        check_comm(self)
        cdef _Buf s, r
        s, r = _reduction_bufs(sendbuf, recvbuf, op, b"Allreduce", True)
        cdef Request q = Request.__new__(Request)
        CHKERR(MPI_Iallreduce(s.addr, r.addr, _red_count(s, r), _red_type(s, r), op.ob_mpi,
                              self.ob_mpi, &q.ob_mpi))
        q.keep = (s, r)
        return q

    def Scan(self, sendbuf, recvbuf, Op op=SUM):
        _wait_req(self.Iscan(sendbuf, recvbuf, op), b"Scan", MPI_PROC_NULL, 0, self)

    def Iscan(self, sendbuf, recvbuf, Op op=SUM):
        check_comm(self)
        cdef _Buf s, r
        s, r = _reduction_bufs(sendbuf, recvbuf, op, b"Scan", True)
        cdef Request q = Request.__new__(Request)
        CHKERR(MPI_Iscan(s.addr, r.addr, _red_count(s, r), _red_type(s, r), op.ob_mpi,
                         self.ob_mpi, &q.ob_mpi))
        q.keep = (s, r)
        return q

    def Exscan(self, sendbuf, recvbuf, Op op=SUM):
        _wait_req(self.Iexscan(sendbuf, recvbuf, op), b"Exscan", MPI_PROC_NULL, 0, self)

    def Iexscan(self, sendbuf, recvbuf, Op op=SUM):
        check_comm(self)
        cdef _Buf s, r
        s, r = _reduction_bufs(sendbuf, recvbuf, op, b"Exscan", True)
        cdef Request q = Request.__new__(Request)
        CHKERR(MPI_Iexscan(s.addr, r.addr, _red_count(s, r), _red_type(s, r), op.ob_mpi,
                           self.ob_mpi, &q.ob_mpi))
        q.keep = (s, r)
        return q

    def Reduce_scatter_block(self, sendbuf, recvbuf, Op op=SUM):
        check_comm(self)
        cdef int size = _size(self)
        cdef _Buf r = msg_simple(recvbuf, True, 1, b"Reduce_scatter_block")
        cdef _Buf s
        if is_in_place(sendbuf):
            s = msg_in_place()
        else:
            s = msg_simple(sendbuf, False, size, b"Reduce_scatter_block")
        _check_reducible(r, op, b"Reduce_scatter_block")
        cdef Request q = Request.__new__(Request)
        CHKERR(MPI_Ireduce_scatter_block(s.addr, r.addr, r.count, r.dtype, op.ob_mpi,
                                         self.ob_mpi, &q.ob_mpi))
        q.keep = (s, r)
        _wait_req(q, b"Reduce_scatter_block", MPI_PROC_NULL, 0, self)

    # -- collectives, Python objects ---------------------------------------------------------

    def bcast(self, obj, long long root=0):
        """Broadcast a Python object from root; every rank returns it."""
        return _bcast_obj(self, obj, root)

    def scatter(self, sendobj, long long root=0):
        """Root's sequence of `size` objects: rank i receives item i."""
        return _scatter_obj(self, sendobj, root)

    def gather(self, sendobj, long long root=0):
        """Root receives a list of every rank's object (others get None)."""
        return _gather_obj(self, sendobj, root, False)

    def allgather(self, sendobj):
        return _gather_obj(self, sendobj, 0, True)

    def alltoall(self, sendobj):
        return _alltoall_obj(self, sendobj)

    def reduce(self, sendobj, op=SUM, long long root=0):
        """Combine every rank's object with op; the result on root (others get None)."""
        check_comm(self)
        check_root(self, root, b"reduce")
        return _reduce_obj(self, sendobj, op, root, False)

    def allreduce(self, sendobj, op=SUM):
        """Combine every rank's object with op; every rank gets the result."""
        check_comm(self)
        return _reduce_obj(self, sendobj, op, 0, True)

    def scan(self, sendobj, op=SUM):
        check_comm(self)
        items = _gather_obj(self, sendobj, 0, True)
        return _functools_reduce(_op_func(op), items[:_rank(self) + 1])

    def exscan(self, sendobj, op=SUM):
        check_comm(self)
        items = _gather_obj(self, sendobj, 0, True)
        cdef int rank = _rank(self)
        if rank == 0:
            return None
        return _functools_reduce(_op_func(op), items[:rank])


cdef class Intracomm(Comm):
    """A communicator within one group of processes (like COMM_WORLD)."""

    def Create_cart(self, dims, periods=None, bint reorder=False):
        """A Cartesian grid of the ranks: dims[i] ranks along axis i (collective)."""
        cdef int ndims = len(dims), i, ierr
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
            ierr = MPI_Cart_create(self.ob_mpi, ndims, cdims, cper, reorder, &newcomm)
            CHKERR(ierr)
        finally:
            free(cdims)
            free(cper)
        if newcomm == MPI_COMM_NULL:
            return COMM_NULL
        return _new_comm(Cartcomm, newcomm)


cdef class Cartcomm(Intracomm):
    """A communicator with a Cartesian topology (see Intracomm.Create_cart)."""

    def Get_dim(self):
        cdef int ndim = 0
        check_comm(self)
        CHKERR(MPI_Cartdim_get(self.ob_mpi, &ndim))
        return ndim

    dim = ndim = property(Get_dim)

    def Get_topo(self):
        """(dims, periods, coords) of this process."""
        cdef int n = self.Get_dim(), i
        cdef int *d = <int *>malloc(3 * (n or 1) * sizeof(int))
        try:
            CHKERR(MPI_Cart_get(self.ob_mpi, n, d, d + n, d + 2 * n))
            return ([d[i] for i in range(n)], [d[n + i] for i in range(n)],
                    [d[2 * n + i] for i in range(n)])
        finally:
            free(d)

    topo = property(Get_topo)
    dims = property(lambda self: self.Get_topo()[0])
    periods = property(lambda self: self.Get_topo()[1])
    coords = property(lambda self: self.Get_topo()[2])

    def Get_cart_rank(self, coords):
        cdef int n = self.Get_dim(), i, rank = MPI_PROC_NULL
        cdef int *c = <int *>malloc((n or 1) * sizeof(int))
        try:
            if len(coords) != n:
                raise ValueError(f"Get_cart_rank: {len(coords)} coordinates for a {n}-d grid")
            for i in range(n):
                c[i] = coords[i]
            CHKERR(MPI_Cart_rank(self.ob_mpi, c, &rank))
        finally:
            free(c)
        return rank

    def Get_coords(self, int rank):
        cdef int n = self.Get_dim(), i
        cdef int *c = <int *>malloc((n or 1) * sizeof(int))
        try:
            check_dest(self, rank, b"Get_coords")
            CHKERR(MPI_Cart_coords(self.ob_mpi, rank, n, c))
            return [c[i] for i in range(n)]
        finally:
            free(c)

    def Shift(self, int direction, int disp):
        """(source, dest) ranks for a shift by disp along an axis (PROC_NULL at open edges)."""
        cdef int source = MPI_PROC_NULL, dest = MPI_PROC_NULL
        check_comm(self)
        if direction < 0 or direction >= self.Get_dim():
            usage_error(MPI_ERR_ARG, f"Shift: direction {direction} is not an axis of this "
                        f"{self.Get_dim()}-d grid")
        CHKERR(MPI_Cart_shift(self.ob_mpi, direction, disp, &source, &dest))
        return (source, dest)

    def Sub(self, remain_dims):
        cdef int n = self.Get_dim(), i
        cdef int *r = <int *>malloc((n or 1) * sizeof(int))
        cdef MPI_Comm newcomm = MPI_COMM_NULL
        try:
            for i in range(n):
                r[i] = 1 if remain_dims[i] else 0
            CHKERR(MPI_Cart_sub(self.ob_mpi, r, &newcomm))
        finally:
            free(r)
        return _new_comm(Cartcomm, newcomm)


def Compute_dims(int nnodes, dims):
    """Balanced grid dimensions for nnodes processes (dims: an int count or a list with 0s)."""
    cdef int n, i
    if isinstance(dims, int):
        dims = [0] * dims
    dims = list(dims)
    n = len(dims)
    cdef int *d = <int *>malloc((n or 1) * sizeof(int))
    try:
        for i in range(n):
            d[i] = dims[i]
        CHKERR(MPI_Dims_create(nnodes, n, d))
        return [d[i] for i in range(n)]
    finally:
        free(d)


# -- helpers ----------------------------------------------------------------------------------

cdef Comm _new_comm(type cls, MPI_Comm handle):
    cdef Comm c = cls.__new__(cls)
    c.ob_mpi = handle
    MPI_Comm_set_errhandler(handle, MPI_ERRORS_RETURN)
    _derived.add(c)
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


cdef int _bad_rank(Comm c, long long rank, const char *what, const char *role, bint any_ok) except -1:
    cdef int size = _size(c)
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
        if dest < size:
            return 0
    elif dest == MPI_PROC_NULL:
        return 0
    return _bad_rank(c, dest, what, b"destination", False)


cdef inline int check_source(Comm c, long long source, const char *what) except -1:
    cdef int size = 0
    if source >= 0:
        MPI_Comm_size(c.ob_mpi, &size)
        if source < size:
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
    cdef Py_ssize_t nbytes = 0
    if r._plain():
        if r.ob_mpi == MPI_REQUEST_NULL and r.n_more == 0:
            r._finish()
            return 0
        if r.n_more == 0:
            wait_requests(1, &r.ob_mpi, &r.status, call, peer, tag, 0, comm, r.is_recv, r.keep)
        else:
            _wait_list([r], 0)
        r._finish()
        return 0
    _wait_list([r], 0)
    return 0


cdef tuple _reduction_bufs(sendbuf, recvbuf, Op op, const char *what, bint need_recv):
    cdef _Buf s, r
    if op.ob_mpi == MPI_OP_NULL:
        raise NotImplementedError(
            f"{what.decode()}: buffer reductions need a predefined MPI.Op (MPI.SUM, MPI.MAX, ...); "
            "for a Python function use the lowercase reduce/allreduce")
    r = msg_simple(recvbuf, True, 1, what) if need_recv else msg_simple(None, True, 1, what)
    if is_in_place(sendbuf):
        s = msg_in_place()
        _check_reducible(r, op, what)
    else:
        s = msg_simple(sendbuf, False, 1, what)
        _check_reducible(s, op, what)
        if need_recv:
            if r.count < s.count:
                raise ValueError(f"{what.decode()}: receive buffer too small: {r.count} elements "
                                 f"for {s.count} sent")
    return s, r


cdef int _check_reducible(_Buf b, Op op, const char *what) except -1:
    if b.untyped and b.obj is not None:
        raise TypeError(f"{what.decode()}: MPI has no datatype for this buffer's format "
                        f"({(<bytes>b.view.format).decode() if b.view.format != NULL else '?'}); "
                        "reduce float32/float64/int arrays, or give [buf, MPI.<TYPE>]")
    return 0


cdef inline int _red_count(_Buf s, _Buf r) noexcept:
    return r.count if s.addr == MPI_IN_PLACE else s.count


cdef inline MPI_Datatype _red_type(_Buf s, _Buf r) noexcept:
    return r.dtype if s.addr == MPI_IN_PLACE else s.dtype


# -- lowercase implementations ---------------------------------------------------------------

cdef inline object _buffer_address(object view, list keep, char **addr):
    cdef _Buf b = _export(view, False, b"send")
    keep.append(b)
    addr[0] = <char *>b.addr
    return b


cdef Request _isend_obj(Comm comm, object obj, long long dest, long long tag, bint sync):
    check_comm(comm)
    check_dest(comm, dest, b"send")
    check_send_tag(tag, b"send")
    data, bufs = pickle_dumps(obj)
    cdef Request r = Request.__new__(Request)
    cdef int nc = 0, k = 0, c
    cdef char *base
    cdef Py_ssize_t size, off
    cdef list keep
    if sync:
        CHKERR(MPI_Issend(PyBytes_AS_STRING(data), <int>PyBytes_GET_SIZE(data), MPI_BYTE,
                          dest, tag, comm.ob_mpi, &r.ob_mpi))
    else:
        CHKERR(MPI_Isend(PyBytes_AS_STRING(data), <int>PyBytes_GET_SIZE(data), MPI_BYTE,
                         dest, tag, comm.ob_mpi, &r.ob_mpi))
    if bufs is None:
        r.keep = data
        return r
    keep = [data]
    for v in bufs:
        nc += n_chunks(v.nbytes)
    r.more = <MPI_Request *>malloc(nc * sizeof(MPI_Request))
    if r.more == NULL:
        raise MemoryError()
    r.n_more = nc
    for k in range(nc):
        r.more[k] = MPI_REQUEST_NULL
    k = 0
    for v in bufs:
        _buffer_address(v, keep, &base)
        size = v.nbytes
        off = 0
        while True:
            c = <int>(size - off if size - off < CHUNK else CHUNK)
            CHKERR(MPI_Isend(base + off, c, MPI_BYTE, dest, tag, comm.ob_mpi, &r.more[k]))
            k += 1
            off += c
            if off >= size:
                break
    r.keep = keep
    return r


cdef object _recv_obj(Comm comm, long long source, long long tag, Status status):
    cdef ProbeCtx p
    cdef int count = 0
    cdef MPI_Request req = MPI_REQUEST_NULL
    cdef Request more
    check_comm(comm)
    check_source(comm, source, b"recv")
    check_recv_tag(tag, b"recv")
    if source == MPI_PROC_NULL:
        if status is not None:
            status.ob_mpi.MPI_SOURCE = MPI_PROC_NULL
            status.ob_mpi.MPI_TAG = MPI_ANY_TAG
        return None
    p.source = source
    p.tag = tag
    p.comm = comm.ob_mpi
    p.matched = 1
    p.message = MPI_MESSAGE_NULL
    wait_until(poll_probe, &p, b"recv", source, tag, 0, comm)
    p.status.MPI_ERROR = MPI_SUCCESS
    CHKERR(MPI_Get_count(&p.status, MPI_BYTE, &count))
    data = new_bytes(count)
    CHKERR(MPI_Imrecv(PyBytes_AS_STRING(data), count, MPI_BYTE, &p.message, &req))
    wait_requests(1, &req, MPI_STATUS_IGNORE, b"recv", p.status.MPI_SOURCE, p.status.MPI_TAG,
                  count, comm, False, data)
    fill_status(status, &p.status)
    payload, sizes = pickle_split(data)
    if sizes is None:
        return pickle_loads(payload, None)
    # out-of-band buffers follow from the same source with the same tag
    more = Request.__new__(Request)
    more.state = RQ_RECV_DATA
    more.comm = comm
    more.status = p.status
    more.data = data
    _wait_list([more], 0)
    return more.result


cdef object _bcast_obj(Comm comm, object obj, long long root):
    """Root pickles; a 256-byte first broadcast carries the size and, for small objects, the
    pickle itself (one collective instead of two); large buffers follow out of band."""
    cdef int64_t head[32]
    cdef int rank, i, k, nc, c
    cdef Py_ssize_t n = 0, size, off
    cdef Request r
    cdef char *base
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
    r.more = <MPI_Request *>malloc(nc * sizeof(MPI_Request))
    if r.more == NULL:
        raise MemoryError()
    r.n_more = nc
    for k in range(nc):
        r.more[k] = MPI_REQUEST_NULL
    k = 0
    for v in views:
        b = _export(v, rank != root, b"bcast")
        keep.append(b)
        base = <char *>(<_Buf>b).addr
        size = (<_Buf>b).nbytes
        off = 0
        while True:
            c = <int>(size - off if size - off < CHUNK else CHUNK)
            CHKERR(MPI_Ibcast(base + off, c, MPI_BYTE, root, comm.ob_mpi, &r.more[k]))
            k += 1
            off += c
            if off >= size:
                break
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
        items = list(sendobj) if sendobj is not None else None
        if items is None or len(items) != size:
            raise ValueError(f"scatter: root must pass a sequence of exactly {size} objects "
                             f"(one per rank), got {0 if items is None else len(items)}")
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
    cdef int size = _size(comm), i
    cdef Request r
    cdef int *sc
    cdef int *sd
    cdef int *rc
    cdef int *rd
    cdef Py_ssize_t total = 0, off = 0
    items = list(sendobj) if sendobj is not None else []
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
