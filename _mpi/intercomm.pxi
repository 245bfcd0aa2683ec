# Intercommunicators: two groups that talk across (Intracomm.Create_intercomm, Merge). Point-
# to-point ranks name the remote group. A rooted collective names its root as mpi4py and MPI
# do: MPI.ROOT on the root itself, MPI.PROC_NULL on the rest of the root's group, the root's
# rank in the remote group everywhere else; the parts side holds one part per REMOTE rank. Each
# blocking collective is its nonblocking MPI form plus the one wait loop (interruptible).

cdef enum:
    COLL_BCAST = 512        # the intercomm Bcast (intracomm Bcast has its own path in comm.pxi)


cdef class Intercomm(Comm):
    """A communicator between two groups (see Intracomm.Create_intercomm)."""

    def __init__(self, Comm comm=None):
        if comm is not None and comm.ob_mpi != MPI_COMM_NULL and not comm.Is_inter():
            raise TypeError("MPI.Intercomm(comm): comm is an intracommunicator")

    @classmethod
    def Create_from_groups(cls, Group local_group, int local_leader, Group remote_group,
                           int remote_leader, stringtag="org.mpi4py", Info info=INFO_NULL,
                           Errhandler errhandler=None):
        """An intercommunicator from two groups, without a parent communicator (MPI 4)."""
        cdef MPI_Comm newcomm = MPI_COMM_NULL
        if not MPIK_HAVE_MPI4:
            raise NotImplementedError("Intercomm.Create_from_groups needs an MPI 4 library")
        check_group(local_group, b"Create_from_groups")
        check_group(remote_group, b"Create_from_groups")
        tag = str(stringtag).encode()
        cdef MPI_Errhandler eh = MPI_ERRORS_RETURN if errhandler is None else errhandler.ob_mpi
        cdef MPI_Info cinfo = _info_arg(info)
        cdef const char *ctag = tag
        with nogil:
            ierr = MPI_Intercomm_create_from_groups(local_group.ob_mpi, local_leader,
                                                    remote_group.ob_mpi, remote_leader, ctag,
                                                    cinfo, eh, &newcomm)
        CHKERR(ierr)
        return _new_comm(Intercomm, newcomm, COMM_WORLD)

    def Split(self, int color=0, int key=0):
        """Split both groups by color: an intercommunicator of each color (collective)."""
        cdef MPI_Comm newcomm = MPI_COMM_NULL
        check_comm(self)
        with nogil:
            ierr = MPI_Comm_split(self.ob_mpi, color, key, &newcomm)
        CHKERR(ierr)
        return _made_comm(Intercomm, newcomm, self)

    def Get_remote_group(self):
        cdef MPI_Group g = MPI_GROUP_NULL
        check_comm(self)
        CHKERR(MPI_Comm_remote_group(self.ob_mpi, &g))
        return _new_group(g, self.from_world)

    def Get_remote_size(self):
        cdef int size = 0
        check_comm(self)
        CHKERR(MPI_Comm_remote_size(self.ob_mpi, &size))
        return size

    remote_group = property(Get_remote_group)
    remote_size = property(Get_remote_size)

    def Merge(self, bint high=False):
        """One intracommunicator of both groups; the group passing high=True comes last."""
        cdef MPI_Comm newcomm = MPI_COMM_NULL
        check_comm(self)
        with nogil:
            ierr = MPI_Intercomm_merge(self.ob_mpi, high, &newcomm)
        CHKERR(ierr)
        return _new_comm(Intracomm, newcomm, self)

    # -- collectives across the two groups (buffers) ---------------------------------------------

    def Bcast(self, buf, long long root=0):
        _inter_wait(self, COLL_BCAST, buf, buf, root, None, b"Bcast")

    def Ibcast(self, buf, long long root=0):
        return _nb_return(_inter_start(self, COLL_BCAST, buf, buf, root, None, b"Ibcast"))

    def Scatter(self, sendbuf, recvbuf, long long root=0):
        _inter_wait(self, COLL_SCATTER, sendbuf, recvbuf, root, None, b"Scatter")

    def Iscatter(self, sendbuf, recvbuf, long long root=0):
        return _nb_return(_inter_start(self, COLL_SCATTER, sendbuf, recvbuf, root, None,
                                       b"Iscatter"))

    def Scatterv(self, sendbuf, recvbuf, long long root=0):
        _inter_wait(self, COLL_SCATTER | COLL_V, sendbuf, recvbuf, root, None, b"Scatterv")

    def Iscatterv(self, sendbuf, recvbuf, long long root=0):
        return _nb_return(_inter_start(self, COLL_SCATTER | COLL_V, sendbuf, recvbuf, root,
                                       None, b"Iscatterv"))

    def Gather(self, sendbuf, recvbuf, long long root=0):
        _inter_wait(self, COLL_GATHER, sendbuf, recvbuf, root, None, b"Gather")

    def Igather(self, sendbuf, recvbuf, long long root=0):
        return _nb_return(_inter_start(self, COLL_GATHER, sendbuf, recvbuf, root, None,
                                       b"Igather"))

    def Gatherv(self, sendbuf, recvbuf, long long root=0):
        _inter_wait(self, COLL_GATHER | COLL_V, sendbuf, recvbuf, root, None, b"Gatherv")

    def Igatherv(self, sendbuf, recvbuf, long long root=0):
        return _nb_return(_inter_start(self, COLL_GATHER | COLL_V, sendbuf, recvbuf, root,
                                       None, b"Igatherv"))

    def Allgather(self, sendbuf, recvbuf):
        _inter_wait(self, COLL_ALLGATHER, sendbuf, recvbuf, -1, None, b"Allgather")

    def Iallgather(self, sendbuf, recvbuf):
        return _nb_return(_inter_start(self, COLL_ALLGATHER, sendbuf, recvbuf, -1, None,
                                       b"Iallgather"))

    def Allgatherv(self, sendbuf, recvbuf):
        _inter_wait(self, COLL_ALLGATHER | COLL_V, sendbuf, recvbuf, -1, None, b"Allgatherv")

    def Iallgatherv(self, sendbuf, recvbuf):
        return _nb_return(_inter_start(self, COLL_ALLGATHER | COLL_V, sendbuf, recvbuf, -1,
                                       None, b"Iallgatherv"))

    def Alltoall(self, sendbuf, recvbuf):
        _inter_wait(self, COLL_ALLTOALL, sendbuf, recvbuf, -1, None, b"Alltoall")

    def Ialltoall(self, sendbuf, recvbuf):
        return _nb_return(_inter_start(self, COLL_ALLTOALL, sendbuf, recvbuf, -1, None,
                                       b"Ialltoall"))

    def Alltoallv(self, sendbuf, recvbuf):
        _inter_wait(self, COLL_ALLTOALL | COLL_V, sendbuf, recvbuf, -1, None, b"Alltoallv")

    def Ialltoallv(self, sendbuf, recvbuf):
        return _nb_return(_inter_start(self, COLL_ALLTOALL | COLL_V, sendbuf, recvbuf, -1,
                                       None, b"Ialltoallv"))

    def Reduce(self, sendbuf, recvbuf, Op op=SUM, long long root=0):
        _inter_wait(self, COLL_REDUCE, sendbuf, recvbuf, root, op, b"Reduce")

    def Ireduce(self, sendbuf, recvbuf, Op op=SUM, long long root=0):
        return _nb_return(_inter_start(self, COLL_REDUCE, sendbuf, recvbuf, root, op,
                                       b"Ireduce"))

    def Allreduce(self, sendbuf, recvbuf, Op op=SUM):
        _inter_wait(self, COLL_ALLREDUCE, sendbuf, recvbuf, -1, op, b"Allreduce")

    def Iallreduce(self, sendbuf, recvbuf, Op op=SUM):
        return _nb_return(_inter_start(self, COLL_ALLREDUCE, sendbuf, recvbuf, -1, op,
                                       b"Iallreduce"))

    # -- collectives across the two groups (Python objects) -------------------------------------

    def bcast(self, obj, long long root=0):
        """The root (root=MPI.ROOT) sends obj to every rank of the remote group."""
        return _inter_bcast_obj(self, obj, root)

    def gather(self, sendobj, long long root=0):
        """The root (root=MPI.ROOT) gets a list of the remote group's objects."""
        return _inter_gather_obj(self, sendobj, root)

    def scatter(self, sendobj, long long root=0):
        """The root's sequence of remote-size objects: remote rank i receives item i."""
        return _inter_scatter_obj(self, sendobj, root)

    def allgather(self, sendobj):
        """Every rank gets the list of the remote group's objects."""
        return _inter_allgather_obj(self, sendobj)

    def reduce(self, sendobj, op=SUM, long long root=0):
        items = _inter_gather_obj(self, sendobj, root)
        return None if items is None else _functools_reduce(_op_func(op), items)

    def allreduce(self, sendobj, op=SUM):
        return _functools_reduce(_op_func(op), _inter_allgather_obj(self, sendobj))


cdef char _dummy_byte = 0


cdef int _inter_root(Comm comm, long long root, const char *what) except -1:
    """0 on a root-group rank that sends nothing (PROC_NULL), 1 on the root (ROOT), 2 on a
    remote-group rank (root: the root's rank in the remote group)."""
    cdef int rsize = 0
    if root == MPI_ROOT:
        return 1
    if root == MPI_PROC_NULL:
        return 0
    MPI_Comm_remote_size(comm.ob_mpi, &rsize)
    if 0 <= root < rsize:
        return 2
    return usage_error(MPI_ERR_ROOT, f"{what.decode()}: invalid root {root} on an "
                       "intercommunicator: MPI.ROOT on the root, MPI.PROC_NULL on the rest of its "
                       f"group, and the root's rank in the remote group (0..{rsize - 1}) elsewhere")


cdef Request _inter_start(Intercomm comm, int kind, sendbuf, recvbuf, long long root, Op op,
                          const char *call):
    """Read the buffers of an intercomm collective as this rank's role says, start it."""
    cdef _CollMsg m = _CollMsg.__new__(_CollMsg)
    cdef const char *what = call + 1 if call[0] == c'I' else call
    cdef int role = 2, rsize = 0, parts
    check_comm(comm)
    CHKERR(MPI_Comm_remote_size(comm.ob_mpi, &rsize))
    if kind & (COLL_ROOTED | COLL_BCAST):
        role = _inter_root(comm, root, what)
    else:
        root = 0
    parts = SIDE_VECTOR if kind & COLL_V else SIDE_PARTS
    m.s = _Buf.__new__(_Buf)
    m.r = _Buf.__new__(_Buf)
    if kind == COLL_BCAST:
        m.r = msg_simple(recvbuf, role == 2, 1, what)
        return _inter_go(comm, kind, m, root, op, call)
    if kind & COLL_SCATTER:
        if role == 1:
            m.s = msg_side(sendbuf, False, parts, rsize, False, what)
        elif role == 2:
            m.r = msg_side(recvbuf, True, SIDE_OWN, rsize, False, what)
    elif kind & COLL_GATHER:
        if role == 1:
            m.r = msg_side(recvbuf, True, parts, rsize, False, what)
        elif role == 2:
            m.s = msg_side(sendbuf, False, SIDE_OWN, rsize, False, what)
    elif kind & COLL_ALLGATHER:
        m.s = msg_side(sendbuf, False, SIDE_OWN, rsize, False, what)
        m.r = msg_side(recvbuf, True, parts, rsize, False, what)
    elif kind & COLL_ALLTOALL:
        m.s = msg_side(sendbuf, False, parts, rsize, False, what)
        m.r = msg_side(recvbuf, True, parts, rsize, False, what)
    elif role != 0:
        _inter_reduce_bufs(m, sendbuf, recvbuf, op, kind == COLL_ALLREDUCE or role == 1,
                           kind == COLL_ALLREDUCE or role == 2, what)
    return _inter_go(comm, kind, m, root, op, call)


cdef enum:
    INTER_TAG = 18      # the point-to-point messages of the rooted collectives, on comm.shadow
    INTER_REDUCE_TAG = 19   # those of a blocking Reduce (_inter_reduce_p2p)


cdef Request _inter_p2p(Intercomm comm, int kind, _CollMsg m, long long root):
    """Bcast, Scatter(v), Gather(v) across an intercomm as point-to-point messages between the
    root and each remote rank, on the intercomm's private duplicate (comm.shadow, made when it
    was created). Why: MPICH's nonblocking intercomm collectives lose step when the root moves
    (a PROC_NULL rank takes no place in their sequence: mpi4py's Ibcast hangs the same way), and
    the blocking ones would not be interruptible. Point-to-point between the same pair on one
    communicator and tag is matched in order, so consecutive collectives cannot mix."""
    cdef Request q = Request.__new__(Request)
    cdef int rsize = 0, i, count, ierr = MPI_SUCCESS
    cdef bint v = kind & COLL_V
    cdef _Buf b
    cdef char *addr
    q.keep = m
    if root == MPI_PROC_NULL:
        return q
    if root != MPI_ROOT:            # a remote rank: one message from or to the root
        q._alloc_more(1)
        if kind & COLL_GATHER:
            ierr = MPI_Isend(m.s.addr, m.s.count, m.s.dtype, <int>root, INTER_TAG, comm.shadow,
                             q.more)
        else:
            ierr = MPI_Irecv(m.r.addr, m.r.count, m.r.dtype, <int>root, INTER_TAG, comm.shadow,
                             q.more)
        CHKERR(ierr)
        return q
    CHKERR(MPI_Comm_remote_size(comm.ob_mpi, &rsize))
    q._alloc_more(rsize or 1)
    b = m.s if kind & COLL_SCATTER else m.r
    for i in range(rsize):
        count = b.counts[i] if v else b.count
        addr = <char *>b.addr + <MPI_Aint>(b.displs[i] if v else (0 if kind == COLL_BCAST
                                                                  else i * b.count)) * b.extent
        if kind & COLL_GATHER:
            ierr = MPI_Irecv(addr, count, b.dtype, i, INTER_TAG, comm.shadow, &q.more[i])
        else:
            ierr = MPI_Isend(addr, count, b.dtype, i, INTER_TAG, comm.shadow, &q.more[i])
        CHKERR(ierr)
    return q


cdef Request _inter_reduce_p2p(Intercomm comm, _CollMsg m, long long root):
    """A blocking Reduce across an intercomm as point-to-point messages on comm.shadow: each
    remote rank sends its buffer to the root; the root receives the last one straight into
    recvbuf and the others into one scratch block (q.keep = (m, scratch)), and the wait's caller
    folds them in (_inter_reduce_finish). Why: Open MPI 4.1's Ireduce on an intercommunicator
    hangs when the root group changes between calls (mpi4py's Ireduce hangs the same way there)
    and the blocking MPI_Reduce would not be interruptible. Ireduce stays the library's own."""
    cdef Request q = Request.__new__(Request)
    cdef int rsize = 0, i
    cdef bytearray scratch
    cdef char *base
    cdef MPI_Aint block = <MPI_Aint>m.count * m.extent
    q.keep = m
    if root == MPI_PROC_NULL:
        return q
    if root != MPI_ROOT:
        q._alloc_more(1)
        CHKERR(MPI_Isend(m.s.addr, m.count, m.dtype, <int>root, INTER_REDUCE_TAG, comm.shadow,
                         q.more))
        return q
    CHKERR(MPI_Comm_remote_size(comm.ob_mpi, &rsize))
    if rsize == 0:
        return q
    q._alloc_more(rsize)
    scratch = bytearray(block * (rsize - 1))
    base = PyByteArray_AS_STRING(scratch)
    q.keep = (m, scratch, rsize)
    for i in range(rsize - 1):
        CHKERR(MPI_Irecv(base + i * block, m.count, m.dtype, i, INTER_REDUCE_TAG, comm.shadow,
                         &q.more[i]))
    CHKERR(MPI_Irecv(m.r.addr, m.count, m.dtype, rsize - 1, INTER_REDUCE_TAG, comm.shadow,
                     &q.more[rsize - 1]))
    return q


cdef int _inter_reduce_finish(tuple parts, Op op) except -1:
    """The root's half of _inter_reduce_p2p once every part is in: recvbuf = r0 op r1 op ...
    op r(n-1), folded from the right (recvbuf already holds r(n-1)) so that non-commutative
    ops see the standard's order."""
    cdef _CollMsg m = parts[0]
    cdef bytearray scratch = parts[1]
    cdef int n = parts[2], i
    cdef char *base = PyByteArray_AS_STRING(scratch)
    cdef MPI_Aint block = <MPI_Aint>m.count * m.extent
    for i in range(n - 2, -1, -1):
        CHKERR(MPI_Reduce_local(base + i * block, m.r.addr, m.count, m.dtype, op.ob_mpi))
    return 0


cdef int _inter_reduce_bufs(_CollMsg m, sendbuf, recvbuf, Op op, bint receiving, bint sending,
                            const char *what) except -1:
    """Reduce (the root only receives, the remote group only sends) and Allreduce (both)."""
    cdef _Buf data
    if op.ob_mpi == MPI_OP_NULL:
        raise NotImplementedError(f"{what.decode()}: buffer reductions need a predefined MPI.Op")
    if receiving:
        m.r = data = msg_simple(recvbuf, True, 1, what)
    if sending:
        m.s = data = msg_simple(sendbuf, False, 1, what)
    _check_reducible(data, op, what)
    if receiving and sending and m.r.count < m.s.count:
        raise ValueError(f"{what.decode()}: receive buffer too small: {m.r.count} elements for "
                         f"{m.s.count} sent")
    m.count = data.count
    m.dtype = data.dtype
    m.extent = data.extent
    return 0


cdef Request _inter_go(Intercomm comm, int kind, _CollMsg m, long long root, Op op,
                       const char *call):
    cdef Request q = Request.__new__(Request)
    cdef int ierr
    if MPIK_INSTRUMENTED:
        comm.coll_seq += 1      # counted like every collective (not checked: two groups)
    if kind & (COLL_SCATTER | COLL_GATHER | COLL_BCAST) and comm.shadow != MPI_COMM_NULL:
        return _inter_p2p(comm, kind, m, root)
    if kind == COLL_REDUCE and call[0] != c'I' and comm.shadow != MPI_COMM_NULL:
        return _inter_reduce_p2p(comm, m, root)
    if kind == COLL_BCAST:
        if root == MPI_PROC_NULL and m.r.count == 0:
            # MPICH's Ibcast returns early on a count of 0 without taking the collective's
            # place in the sequence, so the group's next collective would wait forever; the
            # buffer is not significant here (MPI), so one dummy byte keeps every rank in step
            ierr = MPI_Ibcast(&_dummy_byte, 1, MPI_BYTE, <int>root, comm.ob_mpi, &q.ob_mpi)
        else:
            ierr = MPI_Ibcast(m.r.addr, m.r.count, m.r.dtype, <int>root, comm.ob_mpi,
                              &q.ob_mpi)
    else:
        if m.dtype == NULL:
            m.dtype = MPI_BYTE
        ierr = m.start(kind, <int>root, op, comm.ob_mpi, &q.ob_mpi)
    CHKERR(ierr)
    q.keep = m
    return q


cdef int _inter_wait(Intercomm comm, int kind, sendbuf, recvbuf, long long root, Op op,
                     const char *call) except -1:
    cdef Request q = _inter_start(comm, kind, sendbuf, recvbuf, root, op, call)
    cdef object parts = q.keep      # the wait lets go of q.keep when it completes
    _wait_call(q, call, <int>root if kind & (COLL_ROOTED | COLL_BCAST) else MPI_PROC_NULL, 0, comm)
    if kind == COLL_REDUCE and type(parts) is tuple:
        _inter_reduce_finish(parts, op)
    return 0


# -- lowercase: sizes first, then the pickles, as the intracomm forms do ------------------------

cdef object _inter_bcast_obj(Intercomm comm, object obj, long long root):
    cdef int role = _inter_root(comm, root, b"bcast")
    cdef int n = 0
    data = None
    if role == 1:
        data = _plain_dumps(obj)
        n = len(data)
    size = new_bytearray(sizeof(int))
    if role == 1:
        (<int *>PyByteArray_AS_STRING(size))[0] = n
    _inter_wait(comm, COLL_BCAST, size, size, root, None, b"bcast")
    n = (<int *>PyByteArray_AS_STRING(size))[0]
    if role == 2:
        data = new_bytearray(n)
    # every rank of both groups takes part in both broadcasts (PROC_NULL ranks with nothing)
    _inter_wait(comm, COLL_BCAST, data, data, root, None, b"bcast")
    return _loads(data) if role == 2 else None


cdef object _inter_gather_obj(Intercomm comm, object sendobj, long long root):
    cdef int role = _inter_root(comm, root, b"gather")
    cdef int rsize = comm.Get_remote_size()
    mine = _plain_dumps(sendobj) if role == 2 else b""
    counts = array_int([len(mine)])
    allc = array_int([0] * rsize) if role == 1 else None
    _inter_wait(comm, COLL_GATHER, counts, allc, root, None, b"gather")
    if role == 1:
        out = new_bytearray(sum(allc))
        _inter_wait(comm, COLL_GATHER | COLL_V, None, [out, list(allc), BYTE], root, None, b"gather")
        return _split_pickles(out, list(allc))
    _inter_wait(comm, COLL_GATHER | COLL_V, [mine, BYTE], None, root, None,
                b"gather")
    return None


cdef object _inter_scatter_obj(Intercomm comm, object sendobj, long long root):
    cdef int role = _inter_root(comm, root, b"scatter")
    cdef int rsize = comm.Get_remote_size()
    count = array_int([0])
    if role == 1:
        items = list(sendobj) if sendobj is not None else []
        if len(items) != rsize:
            raise ValueError(f"scatter: the root must pass exactly {rsize} objects (one per "
                             f"remote rank), got {len(items)}")
        pickles = [_plain_dumps(x) for x in items]
        sizes = [len(p) for p in pickles]
        _inter_wait(comm, COLL_SCATTER, array_int(sizes), None, root, None, b"scatter")
        _inter_wait(comm, COLL_SCATTER | COLL_V, [b"".join(pickles), sizes, BYTE],
                    None, root, None, b"scatter")
        return None
    _inter_wait(comm, COLL_SCATTER, None, count if role == 2 else None, root, None, b"scatter")
    data = new_bytearray(count[0]) if role == 2 else None
    _inter_wait(comm, COLL_SCATTER | COLL_V, None, [data, BYTE] if role == 2 else None,
                root, None, b"scatter")
    return _loads(data) if role == 2 else None


cdef object _inter_allgather_obj(Intercomm comm, object sendobj):
    cdef int rsize = comm.Get_remote_size()
    mine = _plain_dumps(sendobj)
    allc = array_int([0] * rsize)
    _inter_wait(comm, COLL_ALLGATHER, array_int([len(mine)]), allc, -1, None, b"allgather")
    out = new_bytearray(sum(allc) or 1)
    _inter_wait(comm, COLL_ALLGATHER | COLL_V, [mine, BYTE],
                [out, list(allc), BYTE], -1, None, b"allgather")
    return _split_pickles(out, list(allc))


cdef object array_int(list values):
    import array
    return array.array("i", values)


cdef list _split_pickles(object data, list sizes):
    view = memoryview(data)
    out = []
    off = 0
    for n in sizes:
        out.append(_loads(view[off:off + n]))
        off += n
    return out
