# The two buffers of one Scatter/Gather-shaped collective (Scatter, Gather, Allgather, Alltoall
# and their v-variants), described before the MPI call, like mpi4py's _p_msg_cco: which side is
# significant on this rank (the root's side holding one part per rank, every rank's own part),
# where MPI.IN_PLACE is allowed, and the v-variants' [buf, counts, displs, type] specs
# (msg_vector); for reductions, the count and datatype of the call. Each collective is then
# its one MPI call on m.s and m.r (comm.pxi).

cdef enum:
    SIDE_UNUSED = 0     # not significant on this rank (a non-root's parts side): no buffer
    SIDE_OWN = 1        # this rank's own part: [buf, count, type]
    SIDE_PARTS = 2      # one equal part per rank: [buf, count, type], count per part
    SIDE_VECTOR = 3     # a part of its own per rank: [buf, counts, displs, type]


cdef _Buf msg_side(object msg, bint writable, int side, int size, bint in_place_ok,
                   const char *what):
    """One side of a collective as `side` says (size: the communicator's, for the parts);
    MPI.IN_PLACE only where in_place_ok (elsewhere it is refused as "not a buffer")."""
    if side == SIDE_UNUSED:
        return _Buf.__new__(_Buf)
    if in_place_ok and is_in_place(msg):
        return msg_in_place()
    if side == SIDE_VECTOR:
        return msg_vector(msg, writable, size, what)
    return msg_simple(msg, writable, size if side == SIDE_PARTS else 1, what)


@cython.freelist(8)
cdef class _CollMsg:
    """The send (s) and receive (r) buffers of one collective; its Request keeps it alive.

    The side holding the parts is read first, so when both are wrong its error is the one
    raised. `what` names the call in errors (the blocking form); `call` is traced.
    """
    cdef _Buf s
    cdef _Buf r
    cdef int count              # reductions: the element count and datatype of the call
    cdef MPI_Datatype dtype     # (the receive side's when sendbuf is IN_PLACE)

    cdef Request for_scatter(self, Comm comm, sendbuf, recvbuf, long long root, int parts,
                             const char *what, const char *call):
        """Scatter(v): the root's sendbuf holds the parts; the root's recvbuf may be IN_PLACE."""
        check_comm(comm)
        check_root(comm, root, what)
        cdef int size = _size(comm)
        cdef bint at_root = _rank(comm) == root
        self.s = msg_side(sendbuf, False, parts if at_root else SIDE_UNUSED, size, False, what)
        self.r = msg_side(recvbuf, True, SIDE_OWN, size, at_root, what)
        return self._request(comm, call, root, _buf_bytes(self.r))

    cdef Request for_gather(self, Comm comm, sendbuf, recvbuf, long long root, int parts,
                            const char *what, const char *call):
        """Gather(v): the root's recvbuf holds the parts; the root's sendbuf may be IN_PLACE."""
        check_comm(comm)
        check_root(comm, root, what)
        cdef int size = _size(comm)
        cdef bint at_root = _rank(comm) == root
        self.r = msg_side(recvbuf, True, parts if at_root else SIDE_UNUSED, size, False, what)
        self.s = msg_side(sendbuf, False, SIDE_OWN, size, at_root, what)
        return self._request(comm, call, root, _buf_bytes(self.s))

    cdef Request for_all(self, Comm comm, sendbuf, recvbuf, int send, int parts,
                         const char *what, const char *call):
        """Allgather(v) (send: SIDE_OWN) and Alltoall(v) (send: the parts too): every rank's
        recvbuf holds the parts; every sendbuf may be IN_PLACE."""
        check_comm(comm)
        cdef int size = _size(comm)
        self.r = msg_side(recvbuf, True, parts, size, False, what)
        self.s = msg_side(sendbuf, False, send, size, True, what)
        return self._request(comm, call, -1, _buf_bytes(self.s))

    cdef Request for_reduce(self, Comm comm, sendbuf, recvbuf, Op op, long long root,
                            bint receiving, const char *what, const char *call):
        """Reduce (root: checked by the caller) and Allreduce, Scan, Exscan (root -1): the
        recvbuf is significant only where `receiving`. With sendbuf IN_PLACE the count and
        datatype are the recvbuf's."""
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
        cdef Request q = Request.__new__(Request)
        cdef long long nbytes = <long long>data.count * data.extent
        _coll_hook(q, call, comm, root, nbytes, nbytes, <int>data.extent, op)
        q.keep = self
        return q

    cdef Request _request(self, Comm comm, const char *call, long long root, long long nbytes):
        """The collective's Request, counted and traced (_coll_hook) before its MPI call."""
        cdef Request q = Request.__new__(Request)
        _coll_hook(q, call, comm, root, nbytes, -1, 0, None)
        q.keep = self
        return q


cdef int _check_reducible(_Buf b, Op op, const char *what) except -1:
    if b.untyped and b.obj is not None:
        raise TypeError(f"{what.decode()}: MPI has no datatype for this buffer's format "
                        f"({(<bytes>b.view.format).decode() if b.view.format != NULL else '?'}); "
                        "reduce float32/float64/int arrays, or give [buf, MPI.<TYPE>]")
    return 0
