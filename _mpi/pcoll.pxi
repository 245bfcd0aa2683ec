# MPI-4 persistent collectives (Barrier_init, Bcast_init, ... Exscan_init): each reads its
# buffers once, as the blocking and nonblocking forms read them (_read_coll), and returns an
# inactive Prequest that Start / Startall run and the one wait loop completes (Ctrl-C included).
# Not traced or checked per start: a start is not a call the checking mode can pair across ranks.


cdef int _pcoll_check(Comm comm, const char *call) except -1:
    cdef int inter = 0
    if not MPIK_HAVE_PCOLL:
        raise NotImplementedError(f"{call.decode()}: persistent collectives need MPI 4; "
                                  f"{_library_name()} has none")
    check_comm(comm)
    CHKERR(MPI_Comm_test_inter(comm.ob_mpi, &inter))
    if inter:
        raise NotImplementedError(f"{call.decode()}: persistent collectives on "
                                  "intercommunicators are not supported yet")
    return 0


cdef Prequest _inactive(MPI_Request handle, object keep):
    """A Prequest for a persistent request MPI just made (inactive until Start)."""
    cdef Prequest q = Prequest.__new__(Prequest)
    q.persistent = handle
    q.buffer = keep
    q.state = RQ_DONE
    return q


cdef Prequest _coll_init(Comm comm, int kind, sendbuf, recvbuf, long long root, Op op, info,
                         const char *call):
    _pcoll_check(comm, call)
    cdef MPI_Info cinfo = _info_arg(info)
    cdef _CollMsg m = _read_coll(comm, kind, sendbuf, recvbuf, root, op)
    cdef MPI_Request handle = MPI_REQUEST_NULL
    CHKERR(m.start_init(kind, m.root, op, comm.ob_mpi, cinfo, &handle))
    return _inactive(handle, m)


cdef Prequest _barrier_init(Comm comm, info):
    _pcoll_check(comm, b"Barrier_init")
    cdef MPI_Info cinfo = _info_arg(info)
    cdef MPI_Request handle = MPI_REQUEST_NULL
    CHKERR(MPIK_Barrier_init(comm.ob_mpi, cinfo, &handle))
    return _inactive(handle, None)


cdef Prequest _bcast_init(Comm comm, buf, long long root, info):
    _pcoll_check(comm, b"Bcast_init")
    check_root(comm, root, b"Bcast_init")
    cdef MPI_Info cinfo = _info_arg(info)
    cdef _Buf m = msg_simple(buf, _rank(comm) != root, 1, b"Bcast_init")
    cdef MPI_Request handle = MPI_REQUEST_NULL
    CHKERR(MPIK_Bcast_init(m.addr, m.count, m.dtype, <int>root, comm.ob_mpi, cinfo, &handle))
    return _inactive(handle, m)


cdef Prequest _reduce_scatter_block_init(Comm comm, sendbuf, recvbuf, Op op, info):
    _pcoll_check(comm, b"Reduce_scatter_block_init")
    cdef MPI_Info cinfo = _info_arg(info)
    cdef int size = _size(comm)
    cdef bint in_place = is_in_place(sendbuf)
    cdef _Buf r = msg_side(recvbuf, True, SIDE_PARTS if in_place else SIDE_OWN, size, False,
                           b"Reduce_scatter_block_init")
    cdef _Buf s = msg_side(sendbuf, False, SIDE_PARTS, size, True, b"Reduce_scatter_block_init")
    if not in_place and s.count != r.count:
        raise ValueError(f"Reduce_scatter_block_init: sendbuf holds {s.count} elements per rank, "
                         f"recvbuf {r.count}: they must be equal")
    _check_reducible(r, op, b"Reduce_scatter_block_init")
    cdef MPI_Request handle = MPI_REQUEST_NULL
    CHKERR(MPIK_Reduce_scatter_block_init(s.addr, r.addr, r.count, r.dtype, op.ob_mpi,
                                          comm.ob_mpi, cinfo, &handle))
    return _inactive(handle, (s, r))
