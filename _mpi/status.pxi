# Status: who sent a received message, with which tag, and how big it was.

cdef class Status:
    """The envelope of a received (or probed) message: source, tag, count."""
    cdef MPI_Status ob_mpi

    def __cinit__(self, Status status=None):
        memset(&self.ob_mpi, 0, sizeof(MPI_Status))
        self.ob_mpi.MPI_SOURCE = MPI_ANY_SOURCE
        self.ob_mpi.MPI_TAG = MPI_ANY_TAG
        self.ob_mpi.MPI_ERROR = MPI_SUCCESS
        if status is not None:
            memcpy(&self.ob_mpi, &status.ob_mpi, sizeof(MPI_Status))

    def __repr__(self):
        return f"<mpikernel.MPI.Status source={self.source} tag={self.tag} count={self.count}>"

    def Get_source(self):
        return self.ob_mpi.MPI_SOURCE

    def Set_source(self, int source):
        self.ob_mpi.MPI_SOURCE = source

    def Get_tag(self):
        return self.ob_mpi.MPI_TAG

    def Set_tag(self, int tag):
        self.ob_mpi.MPI_TAG = tag

    def Get_error(self):
        return self.ob_mpi.MPI_ERROR

    def Set_error(self, int error):
        self.ob_mpi.MPI_ERROR = error

    def Get_count(self, Datatype datatype=BYTE):
        """Number of received elements of `datatype` (UNDEFINED if not a whole number)."""
        cdef int count = MPI_UNDEFINED
        CHKERR(MPI_Get_count(&self.ob_mpi, datatype.ob_mpi, &count))
        return count

    def Get_elements(self, Datatype datatype=BYTE):
        cdef int count = MPI_UNDEFINED
        CHKERR(MPI_Get_elements(&self.ob_mpi, datatype.ob_mpi, &count))
        return count

    def Is_cancelled(self):
        cdef int flag = 0
        CHKERR(MPI_Test_cancelled(&self.ob_mpi, &flag))
        return bool(flag)

    source = property(Get_source, Set_source)
    tag = property(Get_tag, Set_tag)
    error = property(Get_error, Set_error)
    count = property(Get_count)
    cancelled = property(Is_cancelled)


cdef inline void null_recv_status(MPI_Status *st):
    """What a receive from PROC_NULL reports (MPI 4.1 §3.10); some MPIs (Debian's MPICH 4.0.2)
    leave the request's status unset, so the binding writes it itself."""
    st.MPI_SOURCE = MPI_PROC_NULL
    st.MPI_TAG = MPI_ANY_TAG
    st.MPI_ERROR = MPI_SUCCESS
    MPI_Status_set_elements(st, MPI_BYTE, 0)


cdef inline void fill_status(object status, MPI_Status *st):
    if status is not None:
        memcpy(&(<Status?>status).ob_mpi, st, sizeof(MPI_Status))
