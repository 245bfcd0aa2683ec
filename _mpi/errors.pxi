# Errors: every MPI call is CHKERR(MPI_Xxx(...)); a non-success code becomes MPI.Exception.
# Communicators get MPI_ERRORS_RETURN at start-up, so MPI reports instead of aborting.

# error classes, as in mpi4py
SUCCESS = MPI_SUCCESS
ERR_BUFFER = MPI_ERR_BUFFER
ERR_COUNT = MPI_ERR_COUNT
ERR_TYPE = MPI_ERR_TYPE
ERR_TAG = MPI_ERR_TAG
ERR_COMM = MPI_ERR_COMM
ERR_RANK = MPI_ERR_RANK
ERR_REQUEST = MPI_ERR_REQUEST
ERR_ROOT = MPI_ERR_ROOT
ERR_GROUP = MPI_ERR_GROUP
ERR_OP = MPI_ERR_OP
ERR_TOPOLOGY = MPI_ERR_TOPOLOGY
ERR_DIMS = MPI_ERR_DIMS
ERR_ARG = MPI_ERR_ARG
ERR_UNKNOWN = MPI_ERR_UNKNOWN
ERR_TRUNCATE = MPI_ERR_TRUNCATE
ERR_OTHER = MPI_ERR_OTHER
ERR_INTERN = MPI_ERR_INTERN
ERR_IN_STATUS = MPI_ERR_IN_STATUS
ERR_PENDING = MPI_ERR_PENDING
ERR_LASTCODE = MPI_ERR_LASTCODE


cdef object error_string(int ierr):
    cdef char msg[MPI_MAX_ERROR_STRING + 1]
    cdef int n = 0
    if MPI_Error_string(ierr, msg, &n) != MPI_SUCCESS or n < 0:
        return f"MPI error code {ierr}"
    if n == 0:
        return ""      # a user code of Add_error_code with no Add_error_string yet
    return msg[:n].decode("utf-8", "replace")


class MPIException(RuntimeError):
    """An MPI error: ``Get_error_class()`` tells its kind, ``str()`` says what went wrong.

    Raised for errors MPI reports and for mistakes caught before MPI sees them (an out-of-range
    rank, a freed communicator), so that a wrong argument never crashes or hangs the process.
    """

    def __init__(self, int ierr=MPI_SUCCESS, message=None):
        if ierr < MPI_SUCCESS:
            ierr = MPI_ERR_UNKNOWN     # as mpi4py: no error code is negative
        RuntimeError.__init__(self, ierr) if message is None else RuntimeError.__init__(self, ierr, message)
        self.ob_mpi = ierr
        self._message = message

    def __str__(self):
        if self._message is not None:
            return self._message
        return error_string(self.ob_mpi)

    def __repr__(self):
        return f"MPI.Exception({self.ob_mpi})"     # mpi4py's; str() has the sentence

    def __bool__(self):
        return self.ob_mpi != MPI_SUCCESS

    def __int__(self):
        return self.ob_mpi

    def __eq__(self, other):
        if isinstance(other, MPIException):
            return self.ob_mpi == other.ob_mpi
        if isinstance(other, int):
            return self.ob_mpi == other
        return NotImplemented

    def __ne__(self, other):
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __lt__(self, other):
        return self.ob_mpi < int(other)

    def __le__(self, other):
        return self.ob_mpi <= int(other)

    def __gt__(self, other):
        return self.ob_mpi > int(other)

    def __ge__(self, other):
        return self.ob_mpi >= int(other)

    def __hash__(self):
        return hash(self.ob_mpi)

    def Get_error_code(self):
        return self.ob_mpi

    def Get_error_class(self):
        cdef int cls = MPI_ERR_UNKNOWN
        if _initialized_ok() and MPI_Error_class(self.ob_mpi, &cls) == MPI_SUCCESS:
            return cls
        return self.ob_mpi if 0 <= self.ob_mpi <= MPI_ERR_LASTCODE else MPI_ERR_UNKNOWN

    def Get_error_string(self):
        """MPI's own string for the error code (str(exc) may say more)."""
        if _initialized_ok():
            return error_string(self.ob_mpi)
        return str(self)

    error_code = property(Get_error_code)
    error_class = property(Get_error_class)
    error_string = property(Get_error_string)


MPIException.__name__ = MPIException.__qualname__ = "Exception"
MPIException.__module__ = "mpikernel.MPI"
# Public name is MPI.Exception, as in mpi4py. Assigned through globals() so that `Exception`
# inside this module keeps meaning the builtin.
globals()["Exception"] = MPIException


cdef int _raise(int ierr) except -1:
    raise MPIException(ierr)


cdef inline int CHKERR(int ierr) except -1:
    if ierr == MPI_SUCCESS:
        return 0
    return _raise(ierr)


cdef int usage_error(int errclass, message) except -1:
    """A mistake caught before MPI: raise MPI.Exception of that class with our own sentence."""
    raise MPIException(errclass, message)
