# Status: who sent a received message, with which tag, how big it was, and whether it was
# cancelled; mpi4py's methods, pickling and Fortran conversion.

from libc.string cimport memcmp
from cpython.buffer cimport PyBuffer_FillInfo


cdef class Status:
    """The envelope of a received (or probed) message: source, tag, count, error, cancelled.
    Every method of mpi4py's; it pickles and compares by value."""
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

    def __eq__(self, other):
        if not isinstance(other, Status):
            return NotImplemented
        return memcmp(&self.ob_mpi, &(<Status>other).ob_mpi, sizeof(MPI_Status)) == 0

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None

    def __reduce__(self):
        return (_status_from_state, (self.__getstate__(),))

    def __getstate__(self):
        return {"source": self.Get_source(), "tag": self.Get_tag(), "error": self.Get_error(),
                "count": self.Get_elements(BYTE), "cancelled": self.Is_cancelled()}

    def __setstate__(self, dict state):
        self.Set_source(state["source"])
        self.Set_tag(state["tag"])
        self.Set_error(state["error"])
        if "count" in state:
            self.Set_elements(BYTE, state["count"])
        if "cancelled" in state:
            self.Set_cancelled(state["cancelled"])

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

    def Get_elements(self, Datatype datatype):
        """Number of basic elements received (counts inside derived datatypes too)."""
        cdef int count = MPI_UNDEFINED
        CHKERR(MPI_Get_elements(&self.ob_mpi, datatype.ob_mpi, &count))
        return count

    def Set_elements(self, Datatype datatype, int count):
        """What Get_elements/Get_count report (for generalized requests)."""
        CHKERR(MPI_Status_set_elements(&self.ob_mpi, datatype.ob_mpi, count))

    def Is_cancelled(self):
        cdef int flag = 0
        CHKERR(MPI_Test_cancelled(&self.ob_mpi, &flag))
        return bool(flag)

    def Set_cancelled(self, bint flag):
        CHKERR(MPI_Status_set_cancelled(&self.ob_mpi, flag))

    source = property(Get_source, Set_source)
    tag = property(Get_tag, Set_tag)
    error = property(Get_error, Set_error)
    count = property(Get_count, lambda self, int value: self.Set_elements(BYTE, value))
    cancelled = property(Is_cancelled, Set_cancelled)

    def tomemory(self):
        """A writable view of the MPI_Status as C ints (it keeps the Status alive)."""
        return memoryview(_StatusMemory(self)).cast("i")

    def py2f(self):
        cdef MPI_Fint f[16]
        if MPI_F_STATUS_SIZE > 16:
            raise NotImplementedError("py2f: this MPI's Fortran status is over 16 ints")
        CHKERR(MPI_Status_c2f(&self.ob_mpi, f))
        return [f[i] for i in range(MPI_F_STATUS_SIZE)]

    @classmethod
    def f2py(cls, arg):
        cdef MPI_Fint f[16]
        cdef Status status = cls()
        if len(arg) != MPI_F_STATUS_SIZE:
            raise ValueError(f"f2py: expected {MPI_F_STATUS_SIZE} ints, got {len(arg)}")
        for i in range(MPI_F_STATUS_SIZE):
            f[i] = arg[i]
        CHKERR(MPI_Status_f2c(f, &status.ob_mpi))
        return status


def _status_from_state(state):
    """Unpickling a Status (module level, so pickle finds it)."""
    cdef Status status = Status()
    status.__setstate__(state)
    return status


@cython.final
cdef class _StatusMemory:
    """The buffer behind Status.tomemory(): the Status's own MPI_Status memory."""
    cdef Status status

    def __cinit__(self, Status status):
        self.status = status

    def __getbuffer__(self, Py_buffer *view, int flags):
        PyBuffer_FillInfo(view, self, &self.status.ob_mpi, sizeof(MPI_Status), 0, flags)

    def __releasebuffer__(self, Py_buffer *view):
        pass


F_SOURCE = MPI_F_SOURCE
F_TAG = MPI_F_TAG
F_ERROR = MPI_F_ERROR
F_STATUS_SIZE = MPI_F_STATUS_SIZE


cdef inline void empty_status(MPI_Status *st):
    """The standard's empty status, written before a wait: an MPI may leave a send's status
    untouched (MPICH does), and mpi4py's Status() starts out as this."""
    memset(st, 0, sizeof(MPI_Status))
    st.MPI_SOURCE = MPI_ANY_SOURCE
    st.MPI_TAG = MPI_ANY_TAG
    st.MPI_ERROR = MPI_SUCCESS


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
