# The buffers of one collective of the Scatter/Gather shape (Scatter, Gather, Allgather,
# Alltoall and their v-variants) or a buffer reduction (Reduce, Allreduce, Scan, Exscan), read
# before the MPI call, like mpi4py's _p_msg_cco: which side is significant on this rank (the
# root's side holding one part per rank, every rank's own part), where MPI.IN_PLACE is allowed,
# the v-variants' [buf, counts, displs, type] specs (msg_vector), a reduction's count and
# datatype. Every one of them starts here (_start_coll, _coll_wait for the blocking form);
# comm.pxi has only their entry points.

cdef enum:              # a collective started by _start_coll: its family, | COLL_V
    COLL_V = 1          # the v-variant: the parts side is [buf, counts, displs, type]
    COLL_SCATTER = 2    # the root's sendbuf holds one part per rank; recvbuf: this rank's part
    COLL_GATHER = 4     # the root's recvbuf holds one part per rank; sendbuf: this rank's part
    COLL_ALLGATHER = 8  # like Gather, with every rank receiving the parts
    COLL_ALLTOALL = 16  # every rank's sendbuf and recvbuf hold one part per rank
    COLL_REDUCE = 32    # buffer reductions: one count and datatype for both sides
    COLL_ALLREDUCE = 64
    COLL_SCAN = 128
    COLL_EXSCAN = 256
    COLL_ROOTED = COLL_SCATTER | COLL_GATHER | COLL_REDUCE

cdef enum:
    SIDE_UNUSED = 0     # not significant on this rank (a non-root's parts side): no buffer
    SIDE_OWN = 1        # this rank's own part: [buf, count, type]
    SIDE_PARTS = 2      # one equal part per rank: [buf, count, type], count per part
    SIDE_VECTOR = 3     # a part of its own per rank: [buf, counts, displs, type]


cdef inline _Buf msg_side(object msg, bint writable, int side, int size, bint in_place_ok,
                   const char *what):
    """One side of a collective as `side` says (size: the communicator's, for the parts);
    MPI.IN_PLACE only where in_place_ok (elsewhere it is refused as "not a buffer")."""
    if side == SIDE_UNUSED:
        return _Buf.__new__(_Buf)
    if in_place_ok and is_in_place(msg):
        return msg_in_place()
    if msg is None and side != SIDE_OWN:    # as mpi4py: None is an empty part, never the parts
        raise TypeError(f"{what.decode()}: {'recvbuf' if writable else 'sendbuf'} is None on a "
                        "rank where it holds every rank's part; give a buffer or "
                        "[buffer, counts, displs, datatype]")
    if side == SIDE_VECTOR:
        return msg_vector(msg, writable, size, what)
    return msg_simple(msg, writable, size if side == SIDE_PARTS else 1, what)


cdef Request _start_coll(Comm comm, int kind, sendbuf, recvbuf, long long root, Op op,
                        const char *call):
    """Read both buffers of a `kind` collective (root: for the rooted ones; op: for the
    reductions), count and trace it, and start its MPI call. call: the name traced."""
    cdef _CollMsg m = _read_coll(comm, kind, sendbuf, recvbuf, root, op)
    cdef Request q = Request.__new__(Request)
    if m.reducing:
        _coll_hook(q, call, comm, m.root, m.nbytes, m.nbytes, <int>m.extent, op)
    else:
        _coll_hook(q, call, comm, m.root, m.nbytes, -1, 0, None)
    CHKERR(m.start(kind, m.root, op, comm.ob_mpi, &q.ob_mpi))
    q.keep = m
    return q


cdef _CollMsg _read_coll(Comm comm, int kind, sendbuf, recvbuf, long long root, Op op):
    """Both buffers of a `kind` collective read and checked, as every form of it reads them
    (blocking, nonblocking, persistent)."""
    cdef _CollMsg m = _CollMsg.__new__(_CollMsg)
    cdef const char *what = _coll_name(kind)
    check_comm(comm)
    if kind & COLL_ROOTED:
        check_root(comm, root, what)
    else:
        root = -1
    m.root = <int>root
    m.reducing = (kind & (COLL_REDUCE | COLL_ALLREDUCE | COLL_SCAN | COLL_EXSCAN)) != 0
    if m.reducing:
        m.nbytes = m.for_reduce(sendbuf, recvbuf, op, kind != COLL_REDUCE or _rank(comm) == root,
                                what)
    else:
        m.nbytes = m.for_parts(comm, kind, sendbuf, recvbuf, root, what)
    return m


cdef int _coll_wait(Comm comm, int kind, sendbuf, recvbuf, long long root, Op op,
                    const char *call) except -1:
    """The blocking form: start it, then wait in the wait loop (peer: the root, if any)."""
    cdef Request q = _start_coll(comm, kind, sendbuf, recvbuf, root, op, call)
    return _wait_call(q, call, <int>root if kind & COLL_ROOTED else MPI_PROC_NULL, 0, comm)


cdef const char *_coll_name(int kind) noexcept:
    """The name in error messages (the blocking form's, as before)."""
    cdef bint v = kind & COLL_V
    if kind & COLL_SCATTER:
        return b"Scatterv" if v else b"Scatter"
    if kind & COLL_GATHER:
        return b"Gatherv" if v else b"Gather"
    if kind & COLL_ALLGATHER:
        return b"Allgatherv" if v else b"Allgather"
    if kind & COLL_ALLTOALL:
        return b"Alltoallv" if v else b"Alltoall"
    if kind & COLL_REDUCE:
        return b"Reduce"
    if kind & COLL_ALLREDUCE:
        return b"Allreduce"
    return b"Scan" if kind & COLL_SCAN else b"Exscan"


@cython.final
@cython.freelist(8)
cdef class _CollMsg:
    """The send (s) and receive (r) buffers of one collective; its Request keeps it alive."""
    cdef _Buf s
    cdef _Buf r
    cdef int root               # the root for the rooted kinds, else -1 (_read_coll)
    cdef bint reducing          # a reduction (for_reduce) rather than parts (for_parts)
    cdef long long nbytes       # what the trace counts
    cdef int count              # reductions: the element count, datatype and extent of the
    cdef MPI_Datatype dtype     # call (the recvbuf's when sendbuf is IN_PLACE)
    cdef MPI_Aint extent

    cdef long long for_parts(self, Comm comm, int kind, sendbuf, recvbuf, long long root,
                             const char *what) except -1:
        """Scatter/Gather/Allgather/Alltoall(v): the side holding the parts is read first (its
        error is the one raised when both are wrong); IN_PLACE only on the other side and only
        where the parts are. Returns this rank's bytes for the trace (its own part)."""
        cdef int size = _size(comm)
        cdef int parts = SIDE_VECTOR if kind & COLL_V else SIDE_PARTS
        cdef bint here = not (kind & (COLL_SCATTER | COLL_GATHER)) or _rank(comm) == root
        if kind & COLL_SCATTER:
            self.s = msg_side(sendbuf, False, parts if here else SIDE_UNUSED, size, False, what)
            self.r = msg_side(recvbuf, True, SIDE_OWN, size, here, what)
            return _buf_bytes(self.r)
        self.r = msg_side(recvbuf, True, parts if here else SIDE_UNUSED, size, False, what)
        self.s = msg_side(sendbuf, False, parts if kind & COLL_ALLTOALL else SIDE_OWN, size,
                          here, what)
        return _buf_bytes(self.s)

    cdef long long for_reduce(self, sendbuf, recvbuf, Op op, bint receiving,
                              const char *what) except -1:
        """Reduce/Allreduce/Scan/Exscan: recvbuf is significant only where `receiving`.
        Returns this rank's bytes (for the trace and the checked signature)."""
        if op.ob_mpi == MPI_OP_NULL:
            raise NotImplementedError(
                f"{what.decode()}: buffer reductions need a predefined MPI.Op (MPI.SUM, MPI.MAX, "
                "...); for a Python function use the lowercase reduce/allreduce")
        self.r = msg_simple(recvbuf if receiving else None, True, 1, what)
        cdef _Buf data = self.r
        if is_in_place(sendbuf):
            self.s = msg_in_place()
        else:
            self.s = data = msg_simple(sendbuf, False, 1, what)
        _check_reducible(data, op, what)
        if receiving and data is self.s and self.r.count < self.s.count:
            raise ValueError(f"{what.decode()}: receive buffer too small: {self.r.count} "
                             f"elements for {self.s.count} sent")
        self.count = data.count
        self.dtype = data.dtype
        self.extent = data.extent
        return _data_bytes(data)

    cdef int start_init(self, int kind, int root, Op op, MPI_Comm comm, MPI_Info info,
                        MPI_Request *req) noexcept:
        """The MPI-4 persistent form (X_init) of a `kind` collective (pcoll.pxi)."""
        cdef _Buf s = self.s, r = self.r
        if kind == COLL_SCATTER:
            return MPIK_Scatter_init(s.addr, s.count, s.dtype, r.addr, r.count, r.dtype, root,
                                     comm, info, req)
        if kind == COLL_SCATTER | COLL_V:
            return MPIK_Scatterv_init(s.addr, s.counts, s.displs, s.dtype, r.addr, r.count,
                                      r.dtype, root, comm, info, req)
        if kind == COLL_GATHER:
            return MPIK_Gather_init(s.addr, s.count, s.dtype, r.addr, r.count, r.dtype, root,
                                    comm, info, req)
        if kind == COLL_GATHER | COLL_V:
            return MPIK_Gatherv_init(s.addr, s.count, s.dtype, r.addr, r.counts, r.displs,
                                     r.dtype, root, comm, info, req)
        if kind == COLL_ALLGATHER:
            return MPIK_Allgather_init(s.addr, s.count, s.dtype, r.addr, r.count, r.dtype, comm,
                                       info, req)
        if kind == COLL_ALLGATHER | COLL_V:
            return MPIK_Allgatherv_init(s.addr, s.count, s.dtype, r.addr, r.counts, r.displs,
                                        r.dtype, comm, info, req)
        if kind == COLL_ALLTOALL:
            return MPIK_Alltoall_init(s.addr, s.count, s.dtype, r.addr, r.count, r.dtype, comm,
                                      info, req)
        if kind == COLL_ALLTOALL | COLL_V:
            return MPIK_Alltoallv_init(s.addr, s.counts, s.displs, s.dtype, r.addr, r.counts,
                                       r.displs, r.dtype, comm, info, req)
        if kind == COLL_REDUCE:
            return MPIK_Reduce_init(s.addr, r.addr, self.count, self.dtype, op.ob_mpi, root, comm,
                                    info, req)
        if kind == COLL_ALLREDUCE:
            return MPIK_Allreduce_init(s.addr, r.addr, self.count, self.dtype, op.ob_mpi, comm,
                                       info, req)
        if kind == COLL_SCAN:
            return MPIK_Scan_init(s.addr, r.addr, self.count, self.dtype, op.ob_mpi, comm, info,
                                  req)
        return MPIK_Exscan_init(s.addr, r.addr, self.count, self.dtype, op.ob_mpi, comm, info, req)

    cdef int start(self, int kind, int root, Op op, MPI_Comm comm, MPI_Request *req) noexcept:
        """The MPI call of a `kind` collective; returns its error code."""
        cdef _Buf s = self.s, r = self.r
        if kind == COLL_SCATTER:
            return MPI_Iscatter(s.addr, s.count, s.dtype, r.addr, r.count, r.dtype, root, comm, req)
        if kind == COLL_SCATTER | COLL_V:
            return MPI_Iscatterv(s.addr, s.counts, s.displs, s.dtype, r.addr, r.count, r.dtype,
                                 root, comm, req)
        if kind == COLL_GATHER:
            return MPI_Igather(s.addr, s.count, s.dtype, r.addr, r.count, r.dtype, root, comm, req)
        if kind == COLL_GATHER | COLL_V:
            return MPI_Igatherv(s.addr, s.count, s.dtype, r.addr, r.counts, r.displs, r.dtype,
                                root, comm, req)
        if kind == COLL_ALLGATHER:
            return MPI_Iallgather(s.addr, s.count, s.dtype, r.addr, r.count, r.dtype, comm, req)
        if kind == COLL_ALLGATHER | COLL_V:
            return MPI_Iallgatherv(s.addr, s.count, s.dtype, r.addr, r.counts, r.displs, r.dtype,
                                   comm, req)
        if kind == COLL_ALLTOALL:
            return MPI_Ialltoall(s.addr, s.count, s.dtype, r.addr, r.count, r.dtype, comm, req)
        if kind == COLL_ALLTOALL | COLL_V:
            return MPI_Ialltoallv(s.addr, s.counts, s.displs, s.dtype, r.addr, r.counts,
                                  r.displs, r.dtype, comm, req)
        if kind == COLL_REDUCE:
            return MPI_Ireduce(s.addr, r.addr, self.count, self.dtype, op.ob_mpi, root, comm, req)
        if kind == COLL_ALLREDUCE:
            return MPI_Iallreduce(s.addr, r.addr, self.count, self.dtype, op.ob_mpi, comm, req)
        if kind == COLL_SCAN:
            return MPI_Iscan(s.addr, r.addr, self.count, self.dtype, op.ob_mpi, comm, req)
        return MPI_Iexscan(s.addr, r.addr, self.count, self.dtype, op.ob_mpi, comm, req)


cdef int _check_reducible(_Buf b, Op op, const char *what) except -1:
    if b.untyped and b.obj is not None:
        raise TypeError(f"{what.decode()}: MPI has no datatype for this buffer's format "
                        f"({(<bytes>b.view.format).decode() if b.view.format != NULL else '?'}); "
                        "reduce float32/float64/int arrays, or give [buf, MPI.<TYPE>]")
    return 0
