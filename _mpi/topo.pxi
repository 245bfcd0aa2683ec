# Process topologies: Cartesian grids (Cartcomm), general graphs (Graphcomm) and distributed
# graphs (Distgraphcomm), all Topocomm, which has the neighbour collectives. Each blocking
# neighbour collective is its MPI_Ineighbor_* form plus the one wait loop (interruptible); the
# lowercase ones pickle, as comm.pxi's do. Made from the world, they go stale after a reset like
# any communicator (_new_comm registers them).

UNWEIGHTED = <intptr_t>MPI_UNWEIGHTED
WEIGHTS_EMPTY = <intptr_t>MPI_WEIGHTS_EMPTY


cdef class Topocomm(Intracomm):
    """A communicator with a topology: who its neighbours are, and the neighbour collectives."""

    property degrees:
        """(indegree, outdegree): how many neighbours send to / receive from this rank."""
        def __get__(self):
            cdef int indeg = 0, outdeg = 0
            _topo_degrees(self, &indeg, &outdeg)
            return (indeg, outdeg)

    property indegree:
        def __get__(self):
            return self.degrees[0]

    property outdegree:
        def __get__(self):
            return self.degrees[1]

    property inoutedges:
        """(sources, destinations): this rank's neighbours, in the order the neighbour
        collectives use."""
        def __get__(self):
            return _topo_edges(self)

    property inedges:
        def __get__(self):
            return _topo_edges(self)[0]

    property outedges:
        def __get__(self):
            return _topo_edges(self)[1]

    # -- neighbour collectives, buffers --------------------------------------------------------

    def Neighbor_allgather(self, sendbuf, recvbuf):
        """Send one buffer to every out-neighbour; receive one part from each in-neighbour."""
        _ngh_wait(self, NGH_ALLGATHER, sendbuf, recvbuf, b"Neighbor_allgather")

    def Ineighbor_allgather(self, sendbuf, recvbuf):
        return _nb_return(_ngh_start(self, NGH_ALLGATHER, sendbuf, recvbuf,
                                     b"Ineighbor_allgather"))

    def Neighbor_allgatherv(self, sendbuf, recvbuf):
        _ngh_wait(self, NGH_ALLGATHER | NGH_V, sendbuf, recvbuf, b"Neighbor_allgatherv")

    def Ineighbor_allgatherv(self, sendbuf, recvbuf):
        return _nb_return(_ngh_start(self, NGH_ALLGATHER | NGH_V, sendbuf, recvbuf,
                                     b"Ineighbor_allgatherv"))

    def Neighbor_alltoall(self, sendbuf, recvbuf):
        """Send part i of sendbuf to out-neighbour i; receive part j from in-neighbour j."""
        _ngh_wait(self, NGH_ALLTOALL, sendbuf, recvbuf, b"Neighbor_alltoall")

    def Ineighbor_alltoall(self, sendbuf, recvbuf):
        return _nb_return(_ngh_start(self, NGH_ALLTOALL, sendbuf, recvbuf,
                                     b"Ineighbor_alltoall"))

    def Neighbor_alltoallv(self, sendbuf, recvbuf):
        _ngh_wait(self, NGH_ALLTOALL | NGH_V, sendbuf, recvbuf, b"Neighbor_alltoallv")

    def Ineighbor_alltoallv(self, sendbuf, recvbuf):
        return _nb_return(_ngh_start(self, NGH_ALLTOALL | NGH_V, sendbuf, recvbuf,
                                     b"Ineighbor_alltoallv"))

    def Neighbor_alltoallw(self, sendbuf, recvbuf):
        """[buf, counts, displs (in bytes), datatypes] on both sides, one entry per neighbour."""
        _ngh_wait(self, NGH_ALLTOALLW, sendbuf, recvbuf, b"Neighbor_alltoallw")

    def Ineighbor_alltoallw(self, sendbuf, recvbuf):
        return _nb_return(_ngh_start(self, NGH_ALLTOALLW, sendbuf, recvbuf,
                                     b"Ineighbor_alltoallw"))

    # -- neighbour collectives, Python objects -------------------------------------------------

    def neighbor_allgather(self, sendobj):
        """Every in-neighbour's object, in inedges order (None for a PROC_NULL neighbour)."""
        cdef int indeg = 0, outdeg = 0
        _topo_degrees(self, &indeg, &outdeg)
        return _ngh_objects(self, [sendobj] * outdeg, indeg, True)

    def neighbor_alltoall(self, sendobj):
        """sendobj[i] goes to out-neighbour i; returns one object per in-neighbour."""
        cdef int indeg = 0, outdeg = 0
        _topo_degrees(self, &indeg, &outdeg)
        items = list(sendobj) if sendobj is not None else []
        if len(items) != outdeg:
            raise ValueError(f"neighbor_alltoall: pass a sequence of exactly {outdeg} objects "
                             f"(one per out-neighbour), got {len(items)}")
        return _ngh_objects(self, items, indeg, False)


cdef class Cartcomm(Topocomm):
    """A communicator with a Cartesian topology (see Intracomm.Create_cart)."""

    def Get_dim(self):
        cdef int ndim = 0
        check_comm(self)
        CHKERR(MPI_Cartdim_get(self.ob_mpi, &ndim))
        return ndim

    dim = ndim = property(Get_dim)

    def Get_topo(self):
        """(dims, periods, coords) of this process."""
        cdef int n = self.Get_dim()
        cdef _IntArray d = _IntArray.of_size(3 * n)
        CHKERR(MPI_Cart_get(self.ob_mpi, n, d.p, d.p + n, d.p + 2 * n))
        values = d.tolist()
        return (values[:n], values[n:2 * n], values[2 * n:])   # periods as ints, as mpi4py 4.1

    topo = property(Get_topo)
    dims = property(lambda self: self.Get_topo()[0])
    periods = property(lambda self: self.Get_topo()[1])
    coords = property(lambda self: self.Get_topo()[2])

    def Get_cart_rank(self, coords):
        cdef int n = self.Get_dim(), rank = MPI_PROC_NULL
        cdef _IntArray c = _IntArray(coords, b"Get_cart_rank", b"coords")
        if c.n != n:
            raise ValueError(f"Get_cart_rank: {c.n} coordinates for a {n}-d grid")
        CHKERR(MPI_Cart_rank(self.ob_mpi, c.p, &rank))
        return rank

    def Get_coords(self, int rank):
        cdef int n = self.Get_dim()
        cdef _IntArray c = _IntArray.of_size(n)
        check_dest(self, rank, b"Get_coords")
        if rank == MPI_PROC_NULL:
            _bad_rank(self, rank, b"Get_coords", b"", False)
        CHKERR(MPI_Cart_coords(self.ob_mpi, rank, n, c.p))
        return c.tolist()

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
        """The sub-grids keeping the axes where remain_dims is true (collective)."""
        cdef int n = self.Get_dim()
        cdef MPI_Comm newcomm = MPI_COMM_NULL
        cdef _IntArray r = _IntArray([1 if x else 0 for x in remain_dims], b"Sub", b"remain_dims")
        if r.n != n:
            raise ValueError(f"Sub: remain_dims has {r.n} entries for a {n}-d grid")
        CHKERR(MPI_Cart_sub(self.ob_mpi, r.p, &newcomm))
        return _new_comm(Cartcomm, newcomm, self)


cdef class Graphcomm(Topocomm):
    """A communicator with a general graph topology (see Intracomm.Create_graph)."""

    def Get_dims(self):
        """(nnodes, nedges) of the whole graph."""
        cdef int nnodes = 0, nedges = 0
        check_comm(self)
        CHKERR(MPI_Graphdims_get(self.ob_mpi, &nnodes, &nedges))
        return (nnodes, nedges)

    dims = property(Get_dims)
    nnodes = property(lambda self: self.Get_dims()[0])
    nedges = property(lambda self: self.Get_dims()[1])

    def Get_topo(self):
        """(index, edges) as given to Create_graph."""
        cdef int nnodes = 0, nedges = 0
        check_comm(self)
        CHKERR(MPI_Graphdims_get(self.ob_mpi, &nnodes, &nedges))
        cdef _IntArray index = _IntArray.of_size(nnodes)
        cdef _IntArray edges = _IntArray.of_size(nedges)
        CHKERR(MPI_Graph_get(self.ob_mpi, nnodes, nedges, index.p, edges.p))
        return (index.tolist(), edges.tolist())

    topo = property(Get_topo)
    index = property(lambda self: self.Get_topo()[0])
    edges = property(lambda self: self.Get_topo()[1])

    def Get_neighbors_count(self, int rank):
        cdef int n = 0
        check_comm(self)
        _check_node(self, rank, b"Get_neighbors_count")
        CHKERR(MPI_Graph_neighbors_count(self.ob_mpi, rank, &n))
        return n

    def Get_neighbors(self, int rank):
        cdef int n = self.Get_neighbors_count(rank)
        cdef _IntArray out = _IntArray.of_size(n)
        CHKERR(MPI_Graph_neighbors(self.ob_mpi, rank, n, out.p))
        return out.tolist()

    nneighbors = property(lambda self: self.Get_neighbors_count(self.Get_rank()))
    neighbors = property(lambda self: self.Get_neighbors(self.Get_rank()))


cdef class Distgraphcomm(Topocomm):
    """A communicator with a distributed graph topology (Intracomm.Create_dist_graph*)."""

    def Get_dist_neighbors_count(self):
        """(indegree, outdegree, weighted)."""
        cdef int indeg = 0, outdeg = 0, weighted = 0
        check_comm(self)
        CHKERR(MPI_Dist_graph_neighbors_count(self.ob_mpi, &indeg, &outdeg, &weighted))
        return (indeg, outdeg, bool(weighted))

    def Get_dist_neighbors(self):
        """(sources, destinations, (sourceweights, destweights) or None if unweighted)."""
        indeg, outdeg, weighted = self.Get_dist_neighbors_count()
        cdef _IntArray src = _IntArray.of_size(indeg), dst = _IntArray.of_size(outdeg)
        cdef _IntArray sw = _IntArray.of_size(indeg), dw = _IntArray.of_size(outdeg)
        CHKERR(MPI_Dist_graph_neighbors(self.ob_mpi, indeg, src.p, sw.p if weighted else
                                        MPI_UNWEIGHTED, outdeg, dst.p,
                                        dw.p if weighted else MPI_UNWEIGHTED))
        return (src.tolist(), dst.tolist(), (sw.tolist(), dw.tolist()) if weighted else None)


def Compute_dims(int nnodes, dims):
    """Balanced grid dimensions for nnodes processes (dims: an int count or a list with 0s)."""
    if isinstance(dims, int):
        if dims < 0:
            raise ValueError(f"Compute_dims: the number of dimensions must be >= 0, got {dims}")
        dims = [0] * dims
    cdef _IntArray d = _IntArray(dims, b"Compute_dims", b"dims")
    if nnodes < 0:
        usage_error(MPI_ERR_ARG, f"Compute_dims: nnodes must be >= 0, got {nnodes}")
    CHKERR(MPI_Dims_create(nnodes, d.n, d.p))
    return d.tolist()


# -- helpers ----------------------------------------------------------------------------------

cdef int _check_topo_class(Comm self, Comm comm) except -1:
    """MPI.Cartcomm(comm) and the like: comm must have that topology (TypeError if not)."""
    cdef int topo = MPI_UNDEFINED
    if comm is None or comm.ob_mpi == MPI_COMM_NULL or not isinstance(self, Topocomm):
        return 0
    topo = comm.Get_topology()
    want = {Cartcomm: MPI_CART, Graphcomm: MPI_GRAPH, Distgraphcomm: MPI_DIST_GRAPH}.get(
        type(self), topo if topo != MPI_UNDEFINED else -1)
    if topo != want:
        raise TypeError(f"MPI.{type(self).__name__}(comm): comm does not have that topology")
    return 0


cdef _IntArray _graph_index(index, edges, const char *what):
    """Graph index arrays, in MPI's form or (as mpi4py also takes) with a leading 0."""
    cdef _IntArray idx = _IntArray(index, what, b"index")
    values = idx.tolist()
    if len(values) > 1 and values[0] == 0 and values[len(values) - 1] == len(edges):
        idx = _IntArray(values[1:], what, b"index")
    return idx


cdef int _check_node(Comm comm, int rank, const char *what) except -1:
    cdef int size = _size(comm)
    if 0 <= rank < size:
        return 0
    return usage_error(MPI_ERR_RANK, f"{what.decode()}: rank {rank} is not a node of this graph "
                       f"(0..{size - 1})")


cdef int _topo_degrees(Comm comm, int *indeg, int *outdeg) except -1:
    cdef int topo = MPI_UNDEFINED, n = 0, weighted = 0
    check_comm(comm)
    CHKERR(MPI_Topo_test(comm.ob_mpi, &topo))
    if topo == MPI_CART:
        CHKERR(MPI_Cartdim_get(comm.ob_mpi, &n))
        indeg[0] = outdeg[0] = 2 * n
    elif topo == MPI_GRAPH:
        CHKERR(MPI_Graph_neighbors_count(comm.ob_mpi, _rank(comm), &n))
        indeg[0] = outdeg[0] = n
    elif topo == MPI_DIST_GRAPH:
        CHKERR(MPI_Dist_graph_neighbors_count(comm.ob_mpi, indeg, outdeg, &weighted))
    else:
        usage_error(MPI_ERR_TOPOLOGY, "this communicator has no topology")
    return 0


cdef tuple _topo_edges(Topocomm comm):
    cdef int topo = comm.Get_topology()
    if topo == MPI_CART:
        cart = <Cartcomm>comm
        edges = []
        for d in range(cart.Get_dim()):
            edges.extend(cart.Shift(d, 1))
        return (edges, list(edges))
    if topo == MPI_GRAPH:
        nbrs = (<Graphcomm>comm).Get_neighbors(comm.Get_rank())
        return (nbrs, list(nbrs))
    src, dst, _ = (<Distgraphcomm>comm).Get_dist_neighbors()
    return (src, dst)


cdef enum:
    NGH_V = 1
    NGH_ALLGATHER = 2
    NGH_ALLTOALL = 4
    NGH_ALLTOALLW = 8


cdef _Buf _ngh_side(object msg, bint writable, int parts, bint vector, const char *what):
    """One side of a neighbour collective: `parts` equal parts (or per-neighbour counts for the
    v-forms); no neighbours on this side: the buffer is exported but nothing moves."""
    cdef _Buf b
    if is_in_place(msg):
        raise ValueError(f"{what.decode()}: MPI.IN_PLACE is not allowed in neighbour collectives")
    if parts == 0:
        b = msg_simple(msg, writable, 1, what) if msg is not None else _Buf.__new__(_Buf)
        b.count = 0
        if vector:
            b.counts = <int *>malloc(sizeof(int))
            b.displs = <int *>malloc(sizeof(int))
        return b
    if vector:
        return msg_vector(msg, writable, parts, what)
    return msg_simple(msg, writable, parts, what)


cdef Request _ngh_start(Topocomm comm, int kind, sendbuf, recvbuf, const char *call):
    """Read both buffers of a neighbour collective, count and trace it, start its MPI call."""
    cdef int indeg = 0, outdeg = 0, ierr
    cdef const char *what = call + 1 if call[0] == c'I' else call
    _topo_degrees(comm, &indeg, &outdeg)
    if kind == NGH_ALLTOALLW:
        return _ngh_start_w(comm, sendbuf, recvbuf, indeg, outdeg, call, what)
    cdef bint v = kind & NGH_V
    cdef _CollMsg m = _CollMsg.__new__(_CollMsg)
    m.s = _ngh_side(sendbuf, False, outdeg if kind & NGH_ALLTOALL else 1,
                    v and kind & NGH_ALLTOALL, what)
    m.r = _ngh_side(recvbuf, True, indeg, v, what)
    cdef _Buf s = m.s, r = m.r
    cdef Request q = Request.__new__(Request)
    _coll_hook(q, call, comm, -1, _buf_bytes(s), -1, 0, None)
    if kind == NGH_ALLGATHER:
        ierr = MPI_Ineighbor_allgather(s.addr, s.count, s.dtype, r.addr, r.count, r.dtype,
                                       comm.ob_mpi, &q.ob_mpi)
    elif kind == NGH_ALLGATHER | NGH_V:
        ierr = MPI_Ineighbor_allgatherv(s.addr, s.count, s.dtype, r.addr, r.counts, r.displs,
                                        r.dtype, comm.ob_mpi, &q.ob_mpi)
    elif kind == NGH_ALLTOALL:
        ierr = MPI_Ineighbor_alltoall(s.addr, s.count, s.dtype, r.addr, r.count, r.dtype,
                                      comm.ob_mpi, &q.ob_mpi)
    else:
        ierr = MPI_Ineighbor_alltoallv(s.addr, s.counts, s.displs, s.dtype, r.addr, r.counts,
                                       r.displs, r.dtype, comm.ob_mpi, &q.ob_mpi)
    CHKERR(ierr)
    q.keep = m
    return q


cdef int _ngh_wait(Topocomm comm, int kind, sendbuf, recvbuf, const char *call) except -1:
    """The blocking form: start it, then wait in the wait loop (interruptible)."""
    return _wait_call(_ngh_start(comm, kind, sendbuf, recvbuf, call), call, MPI_PROC_NULL, 0,
                      comm)


@cython.final
cdef class _WSpec:
    """One side of an alltoallw: [buf, counts, displs (bytes), datatypes], one per neighbour."""
    cdef _Buf buf
    cdef _IntArray counts
    cdef MPI_Aint *displs
    cdef MPI_Datatype *types
    cdef object keep

    def __dealloc__(self):
        free(self.displs)
        free(self.types)


cdef _WSpec _w_side(object msg, bint writable, int n, const char *what):
    cdef _WSpec w = _WSpec.__new__(_WSpec)
    cdef int i
    if not isinstance(msg, (list, tuple)) or len(msg) not in (3, 4):
        raise TypeError(f"{what.decode()}: each side is [buf, counts, displs, datatypes] or "
                        f"(buf, (counts, displs), datatypes), got {type(msg).__name__}")
    if len(msg) == 3:
        buf, (counts, displs), types = msg
    else:
        buf, counts, displs, types = msg
    w.buf = _export(buf, writable, what) if buf is not None else _Buf.__new__(_Buf)
    w.counts = _IntArray(counts, what, b"counts")
    displs = list(displs) if displs is not None else [0] * n
    types = list(types) if not isinstance(types, Datatype) else [types] * n
    if w.counts.n != n or len(displs) != n or len(types) != n:
        raise ValueError(f"{what.decode()}: counts, displs and datatypes need one entry per "
                         f"neighbour ({n})")
    w.displs = <MPI_Aint *>malloc((n or 1) * sizeof(MPI_Aint))
    w.types = <MPI_Datatype *>malloc((n or 1) * sizeof(MPI_Datatype))
    for i in range(n):
        w.displs[i] = displs[i]
        if not isinstance(types[i], Datatype):
            raise TypeError(f"{what.decode()}: datatypes[{i}] is not an MPI.Datatype")
        w.types[i] = (<Datatype>types[i]).ob_mpi
    w.keep = types
    return w


cdef Request _ngh_start_w(Topocomm comm, sendbuf, recvbuf, int indeg, int outdeg,
                          const char *call, const char *what):
    cdef _WSpec s = _w_side(sendbuf, False, outdeg, what)
    cdef _WSpec r = _w_side(recvbuf, True, indeg, what)
    cdef Request q = Request.__new__(Request)
    _coll_hook(q, call, comm, -1, s.buf.nbytes, -1, 0, None)
    CHKERR(MPI_Ineighbor_alltoallw(s.buf.addr, s.counts.p, s.displs, s.types, r.buf.addr,
                                   r.counts.p, r.displs, r.types, comm.ob_mpi, &q.ob_mpi))
    q.keep = (s, r)
    return q


cdef list _ngh_objects(Topocomm comm, list items, int indeg, bint same):
    """The lowercase neighbour collectives: the pickles' sizes, then the pickles (as bytes), one
    per neighbour; a neighbour that sends nothing (PROC_NULL) gives None."""
    cdef int outdeg = len(items), i
    cdef Request q
    pickles = [_plain_dumps(x) for x in items]
    packed = b"".join(pickles)
    cdef _IntArray sc = _IntArray([len(p) for p in pickles], b"", b"")
    cdef _IntArray sd = _IntArray.of_size(outdeg)
    cdef _IntArray rc = _IntArray.of_size(indeg)
    cdef _IntArray rd = _IntArray.of_size(indeg)
    for i in range(1, outdeg):
        sd.p[i] = sd.p[i - 1] + sc.p[i - 1]
    call = b"neighbor_allgather" if same else b"neighbor_alltoall"
    q = Request.__new__(Request)
    _coll_hook(q, call, comm, -1, len(packed), -1, 0, None)
    CHKERR(MPI_Ineighbor_alltoall(sc.p, 1, MPI_INT, rc.p, 1, MPI_INT, comm.ob_mpi, &q.ob_mpi))
    q.keep = (sc, rc)
    _wait_call(q, call, MPI_PROC_NULL, 0, comm)
    total = 0
    for i in range(indeg):
        rd.p[i] = total
        total += rc.p[i]
    out = new_bytes(total)
    q = Request.__new__(Request)
    CHKERR(MPI_Ineighbor_alltoallv(PyBytes_AS_STRING(packed), sc.p, sd.p, MPI_BYTE,
                                   PyBytes_AS_STRING(out), rc.p, rd.p, MPI_BYTE, comm.ob_mpi,
                                   &q.ob_mpi))
    q.keep = (packed, out, sc, sd, rc, rd)
    _wait_req(q, call, MPI_PROC_NULL, 0, comm)
    view = memoryview(out)
    return [_loads(view[rd.p[i]:rd.p[i] + rc.p[i]]) if rc.p[i] else None for i in range(indeg)]
