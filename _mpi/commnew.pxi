# Making communicator objects for the constructors issue 18 adds (Create, Split_type,
# Create_graph, f2py, ...): COMM_NULL where MPI gives no communicator (with the same serial
# numbering on every rank), and the split types of Split_type.

COMM_TYPE_SHARED = MPI_COMM_TYPE_SHARED
COMM_TYPE_HW_GUIDED = MPI_COMM_TYPE_HW_GUIDED
COMM_TYPE_HW_UNGUIDED = MPI_COMM_TYPE_HW_UNGUIDED
COMM_TYPE_RESOURCE_GUIDED = MPI_COMM_TYPE_RESOURCE_GUIDED


cdef object _made_comm(type cls, MPI_Comm handle, Comm parent):
    """A new communicator of class cls, or COMM_NULL (this rank is not part of it)."""
    if handle == MPI_COMM_NULL:
        _next_comm_serial()     # keep the numbering the same on every rank
        return COMM_NULL
    return _new_comm(cls, handle, parent)


cdef object _comm_of_handle(type cls, MPI_Comm handle):
    """A Comm object for an existing handle (f2py, fromhandle): not freed through it unless
    the user calls Free; the class follows the handle (Intercomm, Cartcomm, ...)."""
    cdef Comm c
    cdef int flag = 0, topo = MPI_UNDEFINED
    if handle == MPI_COMM_NULL:
        return Comm() if cls is Comm else cls()
    if cls is Comm or cls is Intracomm:
        CHKERR(MPI_Comm_test_inter(handle, &flag))
        if flag:
            cls = Intercomm
        else:
            CHKERR(MPI_Topo_test(handle, &topo))
            cls = {MPI_CART: Cartcomm, MPI_GRAPH: Graphcomm,
                   MPI_DIST_GRAPH: Distgraphcomm}.get(topo, Intracomm)
    c = cls.__new__(cls)
    c.ob_mpi = handle
    if handle == MPI_COMM_WORLD or handle == MPI_COMM_SELF:
        c.flags = COMM_PREDEFINED
    return c


cdef _IntArray _weights(object weights, int n, const char *arg):
    """Edge weights: None (unweighted) or n ints (MPI.UNWEIGHTED / WEIGHTS_EMPTY also taken)."""
    if weights is None or (isinstance(weights, int) and weights == UNWEIGHTED):
        return None
    if isinstance(weights, int) and weights == WEIGHTS_EMPTY:
        if n > 0:
            raise ValueError(f"Create_dist_graph: {arg.decode()} is WEIGHTS_EMPTY for {n} edges")
        return _IntArray.of_size(0)
    cdef _IntArray w = _IntArray(weights, b"Create_dist_graph", arg)
    if w.n != n:
        raise ValueError(f"Create_dist_graph: {arg.decode()} has {w.n} entries for {n} edges")
    return w


cdef inline int *_weights_ptr(_IntArray w, int n) noexcept:
    if w is None:
        return MPI_UNWEIGHTED
    return w.p if n > 0 else MPI_WEIGHTS_EMPTY
