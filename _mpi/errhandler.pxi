# Error handlers and the error-class table: MPI.Errhandler (ERRORS_RETURN, the default this
# module gives every communicator, so that errors become MPI.Exception), ERRORS_ARE_FATAL,
# ERRORS_ABORT, and user error classes/codes/strings (Add_error_class/code/string).

cdef class Errhandler:
    """What MPI does when a call on an object fails (mpi4py's MPI.Errhandler)."""
    cdef MPI_Errhandler ob_mpi
    cdef int flags

    def __cinit__(self, Errhandler errhandler=None):
        self.ob_mpi = MPI_ERRHANDLER_NULL
        self.flags = 0
        if errhandler is not None:
            self.ob_mpi = errhandler.ob_mpi

    def __eq__(self, other):
        if not isinstance(other, Errhandler):
            return NotImplemented
        return self.ob_mpi == (<Errhandler>other).ob_mpi

    def __ne__(self, other):
        if not isinstance(other, Errhandler):
            return NotImplemented
        return self.ob_mpi != (<Errhandler>other).ob_mpi

    def __hash__(self):
        return hash(<intptr_t>self.ob_mpi)

    def __bool__(self):
        return self.ob_mpi != MPI_ERRHANDLER_NULL

    def __reduce__(self):
        return _reduce_predefined(self, _ERRHANDLER_NAMES, "Errhandler")

    def __repr__(self):
        for obj, name in _ERRHANDLER_NAMES.items():
            if self == obj:
                return f"<mpikernel.MPI.Errhandler {name}>"
        return f"<mpikernel.MPI.Errhandler {hex(self.handle)}>"

    @property
    def handle(self):
        return <intptr_t>self.ob_mpi

    @classmethod
    def fromhandle(cls, handle):
        cdef Errhandler e = Errhandler.__new__(Errhandler)
        e.ob_mpi = <MPI_Errhandler><intptr_t>handle
        return e

    def py2f(self):
        return MPI_Errhandler_c2f(self.ob_mpi)

    @classmethod
    def f2py(cls, arg):
        cdef Errhandler e = Errhandler.__new__(Errhandler)
        e.ob_mpi = MPI_Errhandler_f2c(arg)
        return e

    def toint(self):
        return MPI_Errhandler_c2f(self.ob_mpi)

    @classmethod
    def fromint(cls, arg):
        return cls.f2py(arg)

    def Free(self):
        if self.ob_mpi == MPI_ERRHANDLER_NULL:
            usage_error(MPI_ERR_ERRHANDLER, "Errhandler.Free: the errhandler is ERRHANDLER_NULL")
        if self.flags & COMM_PREDEFINED:
            # MPI allows freeing a predefined handler's reference; the constant stays usable
            return
        cdef intptr_t handle = <intptr_t>self.ob_mpi
        CHKERR(MPI_Errhandler_free(&self.ob_mpi))
        slot = _eh_slot_of.pop(handle, None)
        if slot is not None:
            _eh_slots[slot] = None

    def free(self):
        if self.ob_mpi != MPI_ERRHANDLER_NULL and not self.flags & COMM_PREDEFINED:
            self.Free()


cdef Errhandler _predefined_errhandler(MPI_Errhandler handle):
    cdef Errhandler e = Errhandler.__new__(Errhandler)
    e.ob_mpi = handle
    e.flags = COMM_PREDEFINED
    return e


ERRHANDLER_NULL = _predefined_errhandler(MPI_ERRHANDLER_NULL)
ERRORS_RETURN = _predefined_errhandler(MPI_ERRORS_RETURN)
ERRORS_ARE_FATAL = _predefined_errhandler(MPI_ERRORS_ARE_FATAL)
ERRORS_ABORT = _predefined_errhandler(MPI_ERRORS_ABORT)
cdef dict _ERRHANDLER_NAMES = {ERRHANDLER_NULL: "ERRHANDLER_NULL", ERRORS_RETURN: "ERRORS_RETURN",
                               ERRORS_ARE_FATAL: "ERRORS_ARE_FATAL", ERRORS_ABORT: "ERRORS_ABORT"}


# -- user error handlers (Comm.Create_errhandler) ------------------------------------------------
# MPI calls an error handler with the communicator and the code only, so each Python function
# gets one of a fixed number of C functions (slots), as mpi4py has them (32).

cdef extern from *:
    """
    static void (*mpik_eh_dispatch)(int, MPI_Comm *, int *) = 0;
    #define MPIK_EH(i) static void mpik_eh_##i(MPI_Comm *c, int *e, ...) \
        { if (mpik_eh_dispatch) mpik_eh_dispatch(i, c, e); }
    MPIK_EH(0) MPIK_EH(1) MPIK_EH(2) MPIK_EH(3) MPIK_EH(4) MPIK_EH(5) MPIK_EH(6) MPIK_EH(7)
    MPIK_EH(8) MPIK_EH(9) MPIK_EH(10) MPIK_EH(11) MPIK_EH(12) MPIK_EH(13) MPIK_EH(14)
    MPIK_EH(15) MPIK_EH(16) MPIK_EH(17) MPIK_EH(18) MPIK_EH(19) MPIK_EH(20) MPIK_EH(21)
    MPIK_EH(22) MPIK_EH(23) MPIK_EH(24) MPIK_EH(25) MPIK_EH(26) MPIK_EH(27) MPIK_EH(28)
    MPIK_EH(29) MPIK_EH(30) MPIK_EH(31)
    static MPI_Comm_errhandler_function *mpik_eh_fns[32] = {
        mpik_eh_0, mpik_eh_1, mpik_eh_2, mpik_eh_3, mpik_eh_4, mpik_eh_5, mpik_eh_6,
        mpik_eh_7, mpik_eh_8, mpik_eh_9, mpik_eh_10, mpik_eh_11, mpik_eh_12, mpik_eh_13,
        mpik_eh_14, mpik_eh_15, mpik_eh_16, mpik_eh_17, mpik_eh_18, mpik_eh_19, mpik_eh_20,
        mpik_eh_21, mpik_eh_22, mpik_eh_23, mpik_eh_24, mpik_eh_25, mpik_eh_26, mpik_eh_27,
        mpik_eh_28, mpik_eh_29, mpik_eh_30, mpik_eh_31};
    """
    void (*mpik_eh_dispatch)(int, MPI_Comm *, int *) noexcept
    MPI_Comm_errhandler_function *mpik_eh_fns[32]

cdef list _eh_slots = [None] * 32     # slot -> the Python function (comm, errorcode)
cdef dict _eh_slot_of = {}            # errhandler handle -> its slot (freed with it)


cdef void _eh_dispatch(int slot, MPI_Comm *comm, int *err) noexcept with gil:
    fn = _eh_slots[slot]
    if fn is None:
        return
    try:
        fn(_comm_view(comm[0]), err[0])
    except BaseException:
        __import__("traceback").print_exc()     # MPI gives it no way back to the caller

mpik_eh_dispatch = _eh_dispatch


cdef Errhandler _create_comm_errhandler(object fn):
    cdef Errhandler e = Errhandler.__new__(Errhandler)
    if not callable(fn):
        raise TypeError(f"Create_errhandler: errhandler_fn must be a function (comm, errorcode), "
                        f"got {fn!r}")
    if None not in _eh_slots:
        raise RuntimeError("Create_errhandler: all 32 user error handlers are in use; Free() one")
    slot = _eh_slots.index(None)
    CHKERR(MPI_Comm_create_errhandler(mpik_eh_fns[slot], &e.ob_mpi))
    _eh_slots[slot] = fn
    _eh_slot_of[<intptr_t>e.ob_mpi] = slot
    return e


cdef Errhandler _errhandler_arg(Errhandler errhandler, const char *what):
    if errhandler is None or errhandler.ob_mpi == MPI_ERRHANDLER_NULL:
        usage_error(MPI_ERR_ERRHANDLER, f"{what.decode()}: errhandler is ERRHANDLER_NULL; give "
                    "MPI.ERRORS_RETURN, MPI.ERRORS_ARE_FATAL or MPI.ERRORS_ABORT")
    return errhandler


def Add_error_class():
    """A new error class of the user's (an int above MPI.ERR_LASTCODE's predefined ones)."""
    cdef int errorclass = 0
    _check_alive()
    CHKERR(MPI_Add_error_class(&errorclass))
    return errorclass


def Add_error_code(int errorclass):
    """A new error code in errorclass (one of Add_error_class's)."""
    cdef int errorcode = 0
    _check_alive()
    CHKERR(MPI_Add_error_code(errorclass, &errorcode))
    return errorcode


def Add_error_string(int errorcode, string):
    """The text MPI.Get_error_string (and str(MPI.Exception)) gives for errorcode."""
    _check_alive()
    CHKERR(MPI_Add_error_string(errorcode, str(string).encode()))


cdef int _need_mpi41(const char *what) except -1:
    if not MPIK_HAVE_MPI41:
        raise NotImplementedError(f"{what.decode()} needs an MPI 4.1 library")
    _check_alive()
    return 0


def Remove_error_class(int errorclass):
    """Remove a class of Add_error_class (it must have no codes left)."""
    _need_mpi41(b"Remove_error_class")
    CHKERR(MPI_Remove_error_class(errorclass))


def Remove_error_code(int errorcode):
    _need_mpi41(b"Remove_error_code")
    CHKERR(MPI_Remove_error_code(errorcode))


def Remove_error_string(int errorcode):
    _need_mpi41(b"Remove_error_string")
    CHKERR(MPI_Remove_error_string(errorcode))


# the rest of mpi4py's error-class table (errors.pxi has the ones the binding raises itself)
ERR_INFO = MPI_ERR_INFO
ERR_ERRHANDLER = MPI_ERR_ERRHANDLER
ERR_SESSION = MPI_ERR_SESSION
ERR_WIN = MPI_ERR_WIN
ERR_FILE = MPI_ERR_FILE
ERR_KEYVAL = MPI_ERR_KEYVAL
ERR_NO_MEM = MPI_ERR_NO_MEM
ERR_INFO_KEY = MPI_ERR_INFO_KEY
ERR_INFO_VALUE = MPI_ERR_INFO_VALUE
ERR_INFO_NOKEY = MPI_ERR_INFO_NOKEY
ERR_SPAWN = MPI_ERR_SPAWN
ERR_PORT = MPI_ERR_PORT
ERR_SERVICE = MPI_ERR_SERVICE
ERR_NAME = MPI_ERR_NAME
ERR_PROC_ABORTED = MPI_ERR_PROC_ABORTED
ERR_BASE = MPI_ERR_BASE
ERR_SIZE = MPI_ERR_SIZE
ERR_DISP = MPI_ERR_DISP
ERR_ASSERT = MPI_ERR_ASSERT
ERR_LOCKTYPE = MPI_ERR_LOCKTYPE
ERR_RMA_CONFLICT = MPI_ERR_RMA_CONFLICT
ERR_RMA_SYNC = MPI_ERR_RMA_SYNC
ERR_RMA_RANGE = MPI_ERR_RMA_RANGE
ERR_RMA_ATTACH = MPI_ERR_RMA_ATTACH
ERR_RMA_SHARED = MPI_ERR_RMA_SHARED
ERR_RMA_FLAVOR = MPI_ERR_RMA_FLAVOR
ERR_BAD_FILE = MPI_ERR_BAD_FILE
ERR_NO_SUCH_FILE = MPI_ERR_NO_SUCH_FILE
ERR_FILE_EXISTS = MPI_ERR_FILE_EXISTS
ERR_FILE_IN_USE = MPI_ERR_FILE_IN_USE
ERR_AMODE = MPI_ERR_AMODE
ERR_ACCESS = MPI_ERR_ACCESS
ERR_READ_ONLY = MPI_ERR_READ_ONLY
ERR_NO_SPACE = MPI_ERR_NO_SPACE
ERR_QUOTA = MPI_ERR_QUOTA
ERR_NOT_SAME = MPI_ERR_NOT_SAME
ERR_IO = MPI_ERR_IO
ERR_UNSUPPORTED_OPERATION = MPI_ERR_UNSUPPORTED_OPERATION
ERR_UNSUPPORTED_DATAREP = MPI_ERR_UNSUPPORTED_DATAREP
ERR_CONVERSION = MPI_ERR_CONVERSION
ERR_DUP_DATAREP = MPI_ERR_DUP_DATAREP
ERR_VALUE_TOO_LARGE = MPI_ERR_VALUE_TOO_LARGE
ERR_REVOKED = MPI_ERR_REVOKED
ERR_PROC_FAILED = MPI_ERR_PROC_FAILED
ERR_PROC_FAILED_PENDING = MPI_ERR_PROC_FAILED_PENDING
