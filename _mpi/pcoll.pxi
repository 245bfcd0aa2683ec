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


cdef object _reduce_scatter_block(Comm comm, sendbuf, recvbuf, Op op, info, int form,
                                  const char *call):
    """Reduce_scatter_block in every form (form: 0 blocking, 1 nonblocking, 2 persistent)."""
    check_comm(comm)
    if form == 2:
        _pcoll_check(comm, call)
    cdef MPI_Info cinfo = _info_arg(info) if form == 2 else MPI_INFO_NULL
    cdef int size = _size(comm)
    cdef bint in_place = is_in_place(sendbuf)
    cdef _Buf r = msg_side(recvbuf, True, SIDE_PARTS if in_place else SIDE_OWN, size, False, call)
    cdef _Buf s = msg_side(sendbuf, False, SIDE_PARTS, size, True, call)
    if not in_place and s.count != r.count:
        raise ValueError(f"{call.decode()}: sendbuf holds {s.count} elements per rank, "
                         f"recvbuf {r.count}: they must be equal")
    _check_reducible(r, op, call)
    cdef MPI_Request handle = MPI_REQUEST_NULL
    if form == 2:
        CHKERR(MPIK_Reduce_scatter_block_init(s.addr, r.addr, r.count, r.dtype, op.ob_mpi,
                                              comm.ob_mpi, cinfo, &handle))
        return _inactive(handle, (s, r))
    cdef Request q = Request.__new__(Request)
    _coll_hook(q, call, comm, -1, _buf_bytes(r), _buf_bytes(r), <int>r.extent, op)
    CHKERR(MPI_Ireduce_scatter_block(s.addr, r.addr, r.count, r.dtype, op.ob_mpi, comm.ob_mpi,
                                     &q.ob_mpi))
    q.keep = (s, r)
    if form == 1:
        return q
    _wait_call(q, call, MPI_PROC_NULL, 0, comm)
    return None


cdef object _reduce_scatter(Comm comm, sendbuf, recvbuf, recvcounts, Op op, info, int form,
                            const char *call):
    """Reduce_scatter in every form (form: 0 blocking, 1 nonblocking, 2 persistent): the
    reduction of sum(recvcounts) elements, rank i keeping recvcounts[i] of them. recvcounts
    None: each rank's recvbuf count, gathered first (as mpi4py)."""
    check_comm(comm)
    if form == 2:
        _pcoll_check(comm, call)
    cdef MPI_Info cinfo = _info_arg(info) if form == 2 else MPI_INFO_NULL
    cdef int size = _size(comm), rank = _rank(comm), i
    cdef long long total = 0
    cdef bint in_place = is_in_place(sendbuf)
    cdef _Buf r = msg_side(recvbuf, True, SIDE_OWN, size, False, call)
    cdef _Buf s = msg_side(sendbuf, False, SIDE_OWN, size, True, call)
    cdef object cbuf = _int_buffer(size)
    cdef int *counts = <int *>PyByteArray_AS_STRING(cbuf)
    cdef Request q
    if recvcounts is None:
        if in_place:
            raise ValueError(f"{call.decode()}: with IN_PLACE, give recvcounts (recvbuf holds "
                             "every rank's part)")
        q = Request.__new__(Request)
        CHKERR(MPI_Iallgather(&r.count, 1, MPI_INT, counts, 1, MPI_INT, comm.ob_mpi, &q.ob_mpi))
        q.keep = (r, cbuf)
        _wait_req(q, call, MPI_PROC_NULL, 0, comm)
    else:
        given = list(recvcounts)
        if len(given) != size:
            raise ValueError(f"{call.decode()}: recvcounts needs {size} counts (one per rank), "
                             f"got {len(given)}")
        for i in range(size):
            counts[i] = <int>given[i]
    for i in range(size):
        if counts[i] < 0:
            raise ValueError(f"{call.decode()}: recvcounts[{i}] is negative ({counts[i]})")
        total += counts[i]
    if in_place:
        if r.count < total:
            raise ValueError(f"{call.decode()}: with IN_PLACE recvbuf must hold all {total} "
                             f"elements, it holds {r.count}")
    else:
        if s.count != total:
            raise ValueError(f"{call.decode()}: sendbuf holds {s.count} elements, the counts add "
                             f"up to {total}")
        if r.count < counts[rank]:
            raise ValueError(f"{call.decode()}: recvbuf holds {r.count} elements, this rank "
                             f"receives {counts[rank]}")
    _check_reducible(r, op, call)
    cdef MPI_Request handle = MPI_REQUEST_NULL
    if form == 2:
        CHKERR(MPIK_Reduce_scatter_init(s.addr, r.addr, counts, r.dtype, op.ob_mpi, comm.ob_mpi,
                                        cinfo, &handle))
        return _inactive(handle, (s, r, cbuf))
    q = Request.__new__(Request)
    _coll_hook(q, call, comm, -1, _buf_bytes(r), _buf_bytes(r), <int>r.extent, op)
    CHKERR(MPI_Ireduce_scatter(s.addr, r.addr, counts, r.dtype, op.ob_mpi, comm.ob_mpi,
                               &q.ob_mpi))
    q.keep = (s, r, cbuf)
    if form == 1:
        return q
    _wait_call(q, call, MPI_PROC_NULL, 0, comm)
    return None
