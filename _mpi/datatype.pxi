# Datatypes: the predefined ones, a few constructors, and the map from a Python buffer's
# format (numpy's typecodes) to the MPI datatype that describes it.

cdef enum:
    DT_PREDEFINED = 1
    DT_COMMITTED = 2


cdef class Datatype:
    """An MPI datatype (``MPI.DOUBLE``, ``MPI.INT``, or one built with Create_*)."""
    cdef MPI_Datatype ob_mpi
    cdef int flags
    cdef object name

    def __cinit__(self, Datatype datatype=None):
        self.ob_mpi = MPI_DATATYPE_NULL
        self.flags = 0
        self.name = None
        if datatype is not None:
            self.ob_mpi = datatype.ob_mpi

    def __repr__(self):
        return f"<mpikernel.MPI.Datatype {self.name or hex(self.handle)}>"

    def __eq__(self, other):
        if not isinstance(other, Datatype):
            return NotImplemented
        return self.ob_mpi == (<Datatype>other).ob_mpi

    def __hash__(self):
        return hash(self.handle)

    def __bool__(self):
        return self.ob_mpi != MPI_DATATYPE_NULL

    @property
    def handle(self):
        return <intptr_t>self.ob_mpi

    def Get_size(self):
        _check_alive()
        cdef int size = 0
        CHKERR(MPI_Type_size(self.ob_mpi, &size))
        return size

    def Get_extent(self):
        _check_alive()
        cdef MPI_Aint lb = 0, extent = 0
        CHKERR(MPI_Type_get_extent(self.ob_mpi, &lb, &extent))
        return (lb, extent)

    def Get_name(self):
        return self.name or ""

    def __reduce__(self):
        return _pickle_by_name(self, "datatype")

    size = property(Get_size)
    extent = property(lambda self: self.Get_extent()[1])
    lb = property(lambda self: self.Get_extent()[0])
    ub = property(lambda self: sum(self.Get_extent()))
    is_predefined = property(lambda self: bool(self.flags & DT_PREDEFINED))

    def Dup(self):
        _check_alive()
        cdef Datatype t = Datatype()
        CHKERR(MPI_Type_dup(self.ob_mpi, &t.ob_mpi))
        return t

    def Create_contiguous(self, int count):
        _check_alive()
        cdef Datatype t = Datatype()
        CHKERR(MPI_Type_contiguous(count, self.ob_mpi, &t.ob_mpi))
        return t

    def Create_vector(self, int count, int blocklength, int stride):
        _check_alive()
        cdef Datatype t = Datatype()
        CHKERR(MPI_Type_vector(count, blocklength, stride, self.ob_mpi, &t.ob_mpi))
        return t

    def Commit(self):
        _check_alive()
        CHKERR(MPI_Type_commit(&self.ob_mpi))
        self.flags |= DT_COMMITTED
        return self

    def Free(self):
        _check_alive()
        if self.flags & DT_PREDEFINED:
            usage_error(MPI_ERR_TYPE, f"cannot free the predefined datatype {self.name}")
        CHKERR(MPI_Type_free(&self.ob_mpi))


cdef object _pickle_by_name(obj, what):
    """A predefined MPI object pickles as its name in this module (as mpi4py's do), so that
    `comm.bcast({"op": MPI.SUM})` works; one made by the program cannot travel."""
    for key, value in globals().items():
        if value is obj and not key.startswith("_"):
            return key
    raise TypeError(f"cannot pickle the {what} {obj!r}: only predefined ones (MPI.DOUBLE, "
                    "MPI.SUM, ...) can be sent to another process")


cdef Datatype _predef(MPI_Datatype handle, name):
    cdef Datatype t = Datatype()
    t.ob_mpi = handle
    t.flags = DT_PREDEFINED | DT_COMMITTED
    t.name = name
    return t


DATATYPE_NULL = _predef(MPI_DATATYPE_NULL, "DATATYPE_NULL")
CHAR = _predef(MPI_CHAR, "CHAR")
WCHAR = _predef(MPI_WCHAR, "WCHAR")
SIGNED_CHAR = _predef(MPI_SIGNED_CHAR, "SIGNED_CHAR")
UNSIGNED_CHAR = _predef(MPI_UNSIGNED_CHAR, "UNSIGNED_CHAR")
SHORT = _predef(MPI_SHORT, "SHORT")
UNSIGNED_SHORT = _predef(MPI_UNSIGNED_SHORT, "UNSIGNED_SHORT")
INT = _predef(MPI_INT, "INT")
UNSIGNED = _predef(MPI_UNSIGNED, "UNSIGNED")
UNSIGNED_INT = UNSIGNED
LONG = _predef(MPI_LONG, "LONG")
UNSIGNED_LONG = _predef(MPI_UNSIGNED_LONG, "UNSIGNED_LONG")
LONG_LONG = _predef(MPI_LONG_LONG, "LONG_LONG")
UNSIGNED_LONG_LONG = _predef(MPI_UNSIGNED_LONG_LONG, "UNSIGNED_LONG_LONG")
FLOAT = _predef(MPI_FLOAT, "FLOAT")
DOUBLE = _predef(MPI_DOUBLE, "DOUBLE")
LONG_DOUBLE = _predef(MPI_LONG_DOUBLE, "LONG_DOUBLE")
BYTE = _predef(MPI_BYTE, "BYTE")
PACKED = _predef(MPI_PACKED, "PACKED")
BOOL = C_BOOL = _predef(MPI_C_BOOL, "C_BOOL")
INT8_T = _predef(MPI_INT8_T, "INT8_T")
INT16_T = _predef(MPI_INT16_T, "INT16_T")
INT32_T = _predef(MPI_INT32_T, "INT32_T")
INT64_T = _predef(MPI_INT64_T, "INT64_T")
UINT8_T = _predef(MPI_UINT8_T, "UINT8_T")
UINT16_T = _predef(MPI_UINT16_T, "UINT16_T")
UINT32_T = _predef(MPI_UINT32_T, "UINT32_T")
UINT64_T = _predef(MPI_UINT64_T, "UINT64_T")
C_COMPLEX = C_FLOAT_COMPLEX = _predef(MPI_C_FLOAT_COMPLEX, "C_FLOAT_COMPLEX")
C_DOUBLE_COMPLEX = _predef(MPI_C_DOUBLE_COMPLEX, "C_DOUBLE_COMPLEX")
C_LONG_DOUBLE_COMPLEX = _predef(MPI_C_LONG_DOUBLE_COMPLEX, "C_LONG_DOUBLE_COMPLEX")
COMPLEX = C_FLOAT_COMPLEX
DOUBLE_COMPLEX = C_DOUBLE_COMPLEX
AINT = _predef(MPI_AINT, "AINT")
OFFSET = _predef(MPI_OFFSET, "OFFSET")
COUNT = _predef(MPI_COUNT, "COUNT")
FLOAT_INT = _predef(MPI_FLOAT_INT, "FLOAT_INT")
DOUBLE_INT = _predef(MPI_DOUBLE_INT, "DOUBLE_INT")
LONG_INT = _predef(MPI_LONG_INT, "LONG_INT")
TWOINT = INT_INT = _predef(MPI_2INT, "2INT")
SHORT_INT = _predef(MPI_SHORT_INT, "SHORT_INT")
LONG_DOUBLE_INT = _predef(MPI_LONG_DOUBLE_INT, "LONG_DOUBLE_INT")

# struct-module / numpy typecodes (the format of a Python buffer) -> datatype
cdef dict _typemap = {
    "?": C_BOOL, "c": CHAR, "b": SIGNED_CHAR, "B": UNSIGNED_CHAR,
    "h": SHORT, "H": UNSIGNED_SHORT, "i": INT, "I": UNSIGNED,
    "l": LONG, "L": UNSIGNED_LONG, "q": LONG_LONG, "Q": UNSIGNED_LONG_LONG,
    "f": FLOAT, "d": DOUBLE, "g": LONG_DOUBLE,
    "Zf": C_FLOAT_COMPLEX, "Zd": C_DOUBLE_COMPLEX, "Zg": C_LONG_DOUBLE_COMPLEX,
    "F": C_FLOAT_COMPLEX, "D": C_DOUBLE_COMPLEX, "G": C_LONG_DOUBLE_COMPLEX,
}
_typemap["u1"] = UINT8_T


cdef Datatype typemap(object fmt):
    """Datatype for a buffer format, or None when MPI has no type for it (e.g. float16)."""
    cdef Datatype t = _typemap.get(fmt)
    if t is not None:
        return t
    if fmt is None:
        return BYTE
    s = str(fmt)
    if s[:1] in ("@", "=", "<") and len(s) > 1:
        t = _typemap.get(s[1:])
        if t is not None:
            _typemap[fmt] = t
        return t
    return None


cdef Datatype as_datatype(object obj):
    """A Datatype from a Datatype or a typecode string ('d', 'i', ...)."""
    if isinstance(obj, Datatype):
        return <Datatype>obj
    if isinstance(obj, str):
        t = typemap(obj)
        if t is not None:
            return t
        raise KeyError(f"unknown typecode {obj!r}")
    raise TypeError(f"expected an MPI.Datatype (e.g. MPI.DOUBLE) or a typecode, got {type(obj).__name__}")
