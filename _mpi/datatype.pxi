# Datatypes: the Datatype class with mpi4py's constructors, queries, decoding and packing. The
# predefined datatypes and the typecode maps are in dtypes.pxi; decode() in typedecode.pxi.
#
# Contiguous, vector, hvector and resized take MPI 4's large counts where the library has the _c
# calls; the array constructors use the int/MPI_Aint forms (MPI 3.1), so the binding builds
# against every library. Sizes and extents are read as MPI_Count (the _x forms).

cdef enum:
    DT_PREDEFINED = 1
    DT_COMMITTED = 2


ORDER_C = MPI_ORDER_C
ORDER_FORTRAN = MPI_ORDER_FORTRAN
ORDER_F = MPI_ORDER_FORTRAN

TYPECLASS_LOGICAL = MPIK_TYPECLASS_LOGICAL
TYPECLASS_INTEGER = MPI_TYPECLASS_INTEGER
TYPECLASS_REAL = MPI_TYPECLASS_REAL
TYPECLASS_COMPLEX = MPI_TYPECLASS_COMPLEX

DISTRIBUTE_NONE = MPI_DISTRIBUTE_NONE
DISTRIBUTE_BLOCK = MPI_DISTRIBUTE_BLOCK
DISTRIBUTE_CYCLIC = MPI_DISTRIBUTE_CYCLIC
DISTRIBUTE_DFLT_DARG = MPI_DISTRIBUTE_DFLT_DARG

COMBINER_NAMED = MPI_COMBINER_NAMED
COMBINER_DUP = MPI_COMBINER_DUP
COMBINER_CONTIGUOUS = MPI_COMBINER_CONTIGUOUS
COMBINER_VECTOR = MPI_COMBINER_VECTOR
COMBINER_HVECTOR = MPI_COMBINER_HVECTOR
COMBINER_INDEXED = MPI_COMBINER_INDEXED
COMBINER_HINDEXED = MPI_COMBINER_HINDEXED
COMBINER_INDEXED_BLOCK = MPI_COMBINER_INDEXED_BLOCK
COMBINER_HINDEXED_BLOCK = MPI_COMBINER_HINDEXED_BLOCK
COMBINER_STRUCT = MPI_COMBINER_STRUCT
COMBINER_SUBARRAY = MPI_COMBINER_SUBARRAY
COMBINER_DARRAY = MPI_COMBINER_DARRAY
COMBINER_RESIZED = MPI_COMBINER_RESIZED
COMBINER_VALUE_INDEX = MPIK_COMBINER_VALUE_INDEX
COMBINER_F90_INTEGER = MPI_COMBINER_F90_INTEGER
COMBINER_F90_REAL = MPI_COMBINER_F90_REAL
COMBINER_F90_COMPLEX = MPI_COMBINER_F90_COMPLEX


cdef class Datatype:
    """An MPI datatype (``MPI.DOUBLE``, ``MPI.INT``, or one built with Create_*)."""
    cdef MPI_Datatype ob_mpi
    cdef int flags
    cdef object pyname      # the module's name of a predefined datatype

    def __cinit__(self, Datatype datatype=None):
        self.ob_mpi = MPI_DATATYPE_NULL
        self.flags = 0
        self.pyname = None
        if datatype is not None:
            self.ob_mpi = datatype.ob_mpi

    def __repr__(self):
        return f"<mpikernel.MPI.Datatype {self.pyname or hex(self.handle)}>"

    def __eq__(self, other):
        if not isinstance(other, Datatype):
            return NotImplemented
        return self.ob_mpi == (<Datatype>other).ob_mpi

    def __hash__(self):
        return hash(self.handle)

    def __bool__(self):
        return self.ob_mpi != MPI_DATATYPE_NULL

    def __reduce__(self):
        """A predefined datatype travels by name; a derived one as how it was made
        (decode), rebuilt and committed by _datatype_create on the other side."""
        cdef Datatype named = _by_handle.get(<intptr_t>self.ob_mpi)
        if self.ob_mpi == MPI_DATATYPE_NULL:
            named = DATATYPE_NULL
        if named is not None:
            return named.pyname if named is self else (_copyreg.__newobj__, (type(self), named))
        base, combiner, params = _decode(self)
        return (_datatype_create, (base, combiner, params, True))

    @property
    def handle(self):
        return <intptr_t>self.ob_mpi

    def tohandle(self):
        return <intptr_t>self.ob_mpi

    @classmethod
    def fromhandle(cls, handle):
        return _ref_datatype(<MPI_Datatype><intptr_t>handle)

    def py2f(self):
        return MPI_Type_c2f(self.ob_mpi)

    toint = py2f

    @classmethod
    def fromint(cls, arg):
        return _ref_datatype(MPI_Type_f2c(arg))

    @classmethod
    def f2py(cls, arg):
        return _ref_datatype(MPI_Type_f2c(arg))

    def free(self):
        """Free unless null or predefined (mpi4py's lowercase free)."""
        if self.ob_mpi != MPI_DATATYPE_NULL and not self.is_predefined:
            self.Free()

    # ---- sizes and bounds
    def Get_size(self):
        _check_alive()
        cdef MPI_Count size = 0
        CHKERR(MPI_Type_size_x(self.ob_mpi, &size))
        return size

    def Get_extent(self):
        _check_alive()
        cdef MPI_Count lb = 0, extent = 0
        CHKERR(MPI_Type_get_extent_x(self.ob_mpi, &lb, &extent))
        return (lb, extent)

    def Get_true_extent(self):
        _check_alive()
        cdef MPI_Count lb = 0, extent = 0
        CHKERR(MPI_Type_get_true_extent_x(self.ob_mpi, &lb, &extent))
        return (lb, extent)

    size = property(Get_size)
    extent = property(lambda self: self.Get_extent()[1])
    lb = property(lambda self: self.Get_extent()[0])
    ub = property(lambda self: sum(self.Get_extent()))
    true_extent = property(lambda self: self.Get_true_extent()[1])
    true_lb = property(lambda self: self.Get_true_extent()[0])
    true_ub = property(lambda self: sum(self.Get_true_extent()))

    # ---- constructors (each returns a new, uncommitted datatype of type(self))
    def Dup(self):
        cdef Datatype t = _new_like(self)
        CHKERR(MPI_Type_dup(self.ob_mpi, &t.ob_mpi))
        return t

    Create_dup = Dup

    def Create_contiguous(self, MPI_Count count):
        cdef Datatype t = _new_like(self)
        CHKERR(MPIK_Type_contiguous(count, self.ob_mpi, &t.ob_mpi))
        return t

    def Create_vector(self, MPI_Count count, MPI_Count blocklength, MPI_Count stride):
        cdef Datatype t = _new_like(self)
        CHKERR(MPIK_Type_vector(count, blocklength, stride, self.ob_mpi, &t.ob_mpi))
        return t

    def Create_hvector(self, MPI_Count count, MPI_Count blocklength, MPI_Count stride):
        cdef Datatype t = _new_like(self)
        CHKERR(MPIK_Type_create_hvector(count, blocklength, stride, self.ob_mpi, &t.ob_mpi))
        return t

    def Create_indexed(self, blocklengths, displacements):
        cdef _IntArray b = _ints(blocklengths, -1, b"blocklengths")
        cdef _IntArray d = _ints(displacements, b.n, b"displacements")
        cdef Datatype t = _new_like(self)
        CHKERR(MPI_Type_indexed(b.n, b.p, d.p, self.ob_mpi, &t.ob_mpi))
        return t

    def Create_hindexed(self, blocklengths, displacements):
        cdef _IntArray b = _ints(blocklengths, -1, b"blocklengths")
        cdef _AintArray d = _aints(displacements, b.n, b"displacements")
        cdef Datatype t = _new_like(self)
        CHKERR(MPI_Type_create_hindexed(b.n, b.p, d.p, self.ob_mpi, &t.ob_mpi))
        return t

    def Create_indexed_block(self, int blocklength, displacements):
        cdef _IntArray d = _ints(displacements, -1, b"displacements")
        cdef Datatype t = _new_like(self)
        CHKERR(MPI_Type_create_indexed_block(d.n, blocklength, d.p, self.ob_mpi, &t.ob_mpi))
        return t

    def Create_hindexed_block(self, int blocklength, displacements):
        cdef _AintArray d = _aints(displacements, -1, b"displacements")
        cdef Datatype t = _new_like(self)
        CHKERR(MPI_Type_create_hindexed_block(d.n, blocklength, d.p, self.ob_mpi, &t.ob_mpi))
        return t

    @classmethod
    def Create_struct(cls, blocklengths, displacements, datatypes):
        cdef _IntArray b = _ints(blocklengths, -1, b"blocklengths")
        cdef _AintArray d = _aints(displacements, b.n, b"displacements")
        types = list(datatypes)
        if len(types) != b.n:
            raise ValueError(f"datatypes: expected {b.n} items, got {len(types)}")
        cdef MPI_Datatype *h = <MPI_Datatype *>malloc((b.n or 1) * sizeof(MPI_Datatype))
        cdef int i
        cdef Datatype t = cls.__new__(cls)
        if h == NULL:
            raise MemoryError()
        try:
            for i in range(b.n):
                h[i] = (<Datatype?>types[i]).ob_mpi
            CHKERR(MPI_Type_create_struct(b.n, b.p, d.p, h, &t.ob_mpi))
        finally:
            free(h)
        return t

    def Create_subarray(self, sizes, subsizes, starts, int order=MPI_ORDER_C):
        cdef _IntArray sz = _ints(sizes, -1, b"sizes")
        cdef _IntArray sub = _ints(subsizes, sz.n, b"subsizes")
        cdef _IntArray st = _ints(starts, sz.n, b"starts")
        cdef Datatype t = _new_like(self)
        CHKERR(MPI_Type_create_subarray(sz.n, sz.p, sub.p, st.p, order, self.ob_mpi,
                                        &t.ob_mpi))
        return t

    def Create_darray(self, int size, int rank, gsizes, distribs, dargs, psizes,
                      int order=MPI_ORDER_C):
        cdef _IntArray g = _ints(gsizes, -1, b"gsizes")
        cdef _IntArray di = _ints(distribs, g.n, b"distribs")
        cdef _IntArray da = _ints(dargs, g.n, b"dargs")
        cdef _IntArray p = _ints(psizes, g.n, b"psizes")
        cdef Datatype t = _new_like(self)
        CHKERR(MPI_Type_create_darray(size, rank, g.n, g.p, di.p, da.p, p.p, order,
                                      self.ob_mpi, &t.ob_mpi))
        return t

    def Create_resized(self, MPI_Count lb, MPI_Count extent):
        cdef Datatype t = _new_like(self)
        CHKERR(MPIK_Type_create_resized(self.ob_mpi, lb, extent, &t.ob_mpi))
        return t

    Resized = Create_resized

    @classmethod
    def Get_value_index(cls, Datatype value, Datatype index):
        """The predefined pair type of (value, index) for MINLOC/MAXLOC, DATATYPE_NULL if none.
        Before MPI 4.1 (Open MPI 4.1) the pairs MPI-1 names, as mpi4py answers there."""
        if not MPIK_HAVE_VALUE_INDEX:
            if value.ob_mpi == MPI_DATATYPE_NULL or index.ob_mpi == MPI_DATATYPE_NULL:
                usage_error(MPI_ERR_TYPE, "Get_value_index: a null datatype")
            if index == INT:
                for v, pair in _VALUE_INT_PAIRS:
                    if value == v:
                        return pair
            return DATATYPE_NULL
        cdef Datatype t = cls.__new__(cls)
        CHKERR(MPIK_Type_get_value_index(value.ob_mpi, index.ob_mpi, &t.ob_mpi))
        return t

    @classmethod
    def Create_f90_integer(cls, int r):
        cdef Datatype t = cls.__new__(cls)
        _chk_fortran(MPI_Type_create_f90_integer(r, &t.ob_mpi), "Create_f90_integer")
        return t

    @classmethod
    def Create_f90_real(cls, int p, int r):
        cdef Datatype t = cls.__new__(cls)
        _chk_fortran(MPI_Type_create_f90_real(p, r, &t.ob_mpi), "Create_f90_real")
        return t

    @classmethod
    def Create_f90_complex(cls, int p, int r):
        cdef Datatype t = cls.__new__(cls)
        _chk_fortran(MPI_Type_create_f90_complex(p, r, &t.ob_mpi), "Create_f90_complex")
        return t

    @classmethod
    def Match_size(cls, int typeclass, int size):
        cdef Datatype t = cls.__new__(cls)
        CHKERR(MPI_Type_match_size(typeclass, size, &t.ob_mpi))
        return t

    # ---- use
    def Commit(self):
        _check_alive()
        CHKERR(MPI_Type_commit(&self.ob_mpi))
        self.flags |= DT_COMMITTED
        return self

    def Free(self):
        _check_alive()
        if self.flags & DT_PREDEFINED:
            usage_error(MPI_ERR_TYPE, f"cannot free the predefined datatype {self.pyname}")
        CHKERR(MPI_Type_free(&self.ob_mpi))

    # ---- decoding
    def Get_envelope(self):
        """(number of ints, addresses, large counts, datatypes, combiner) it was made with."""
        cdef MPI_Count ni = 0, na = 0, nc = 0, nd = 0
        cdef int combiner = MPI_UNDEFINED
        CHKERR(MPIK_Type_get_envelope(self.ob_mpi, &ni, &na, &nc, &nd, &combiner))
        return (ni, na, nc, nd, combiner)

    def Get_contents(self):
        """(ints, addresses, large counts, datatypes) it was made with."""
        ni, na, nc, nd, combiner = self.Get_envelope()
        return _contents(self, ni, na, nc, nd)

    envelope = property(Get_envelope)
    contents = property(Get_contents)
    combiner = property(lambda self: self.Get_envelope()[4])
    is_named = property(lambda self: self.Get_envelope()[4] == MPI_COMBINER_NAMED)

    @property
    def is_predefined(self):
        if self.ob_mpi == MPI_DATATYPE_NULL:
            return True
        return self.Get_envelope()[4] in _PREDEFINED_COMBINERS

    def decode(self):
        """(base datatype, combiner name, parameters): how this datatype was made."""
        return _decode(self)

    # ---- packing
    def Pack(self, inbuf, outbuf, int position, Comm comm):
        cdef _Buf i = _export(inbuf, False, b"Pack")
        cdef _Buf o = _export(outbuf, True, b"Pack")
        cdef int count = _whole(i.nbytes, self.extent, b"Pack")
        CHKERR(MPI_Pack(i.addr, count, self.ob_mpi, o.addr, _nbytes_int(o.nbytes), &position,
                        comm.ob_mpi))
        return position

    def Unpack(self, inbuf, int position, outbuf, Comm comm):
        cdef _Buf i = _export(inbuf, False, b"Unpack")
        cdef _Buf o = _export(outbuf, True, b"Unpack")
        cdef int count = _whole(o.nbytes, self.extent, b"Unpack")
        CHKERR(MPI_Unpack(i.addr, _nbytes_int(i.nbytes), &position, o.addr, count, self.ob_mpi,
                          comm.ob_mpi))
        return position

    def Pack_size(self, int count, Comm comm):
        cdef int size = 0
        CHKERR(MPI_Pack_size(count, self.ob_mpi, comm.ob_mpi, &size))
        return size

    def Pack_external(self, datarep, inbuf, outbuf, MPI_Aint position):
        rep = _datarep(datarep)
        cdef _Buf i = _export(inbuf, False, b"Pack_external")
        cdef _Buf o = _export(outbuf, True, b"Pack_external")
        cdef int count = _whole(i.nbytes, self.extent, b"Pack_external")
        CHKERR(MPI_Pack_external(rep, i.addr, count, self.ob_mpi, o.addr, o.nbytes, &position))
        return position

    def Unpack_external(self, datarep, inbuf, MPI_Aint position, outbuf):
        rep = _datarep(datarep)
        cdef _Buf i = _export(inbuf, False, b"Unpack_external")
        cdef _Buf o = _export(outbuf, True, b"Unpack_external")
        cdef int count = _whole(o.nbytes, self.extent, b"Unpack_external")
        CHKERR(MPI_Unpack_external(rep, i.addr, i.nbytes, &position, o.addr, count, self.ob_mpi))
        return position

    def Pack_external_size(self, datarep, int count):
        rep = _datarep(datarep)
        cdef MPI_Aint size = 0
        CHKERR(MPI_Pack_external_size(rep, count, self.ob_mpi, &size))
        return size

    # ---- names and typecodes
    def Get_name(self):
        cdef char buf[MPI_MAX_OBJECT_NAME + 1]
        cdef int n = 0
        CHKERR(MPI_Type_get_name(self.ob_mpi, buf, &n))
        return buf[:n].decode("utf-8", "replace")

    def Set_name(self, name):
        cdef bytes b = str(name).encode("utf-8")
        CHKERR(MPI_Type_set_name(self.ob_mpi, b))

    name = property(Get_name, Set_name)

    def tocode(self):
        """The numpy/struct character code or type string of a predefined datatype."""
        code = _code_of(self, 2)
        if code is None:
            raise ValueError("cannot map to character code or type string")
        return code

    @classmethod
    def fromcode(cls, code):
        try:
            return _typedict[code]
        except (KeyError, TypeError):
            raise ValueError(f"cannot map code {code!r} to MPI datatype") from None

    @property
    def typechar(self):
        if self.ob_mpi == MPI_DATATYPE_NULL:
            return ""
        code = _code_of(self, 0)
        return "V" if code is None else code

    @property
    def typestr(self):
        if self.ob_mpi == MPI_DATATYPE_NULL:
            return ""
        code = _code_of(self, 1)
        return f"V{self.extent}" if code is None else code


cdef Datatype _new_like(Datatype self):
    """An empty datatype of the caller's (sub)class, as mpi4py's constructors return."""
    _check_alive()
    return type(self).__new__(type(self))


cdef int _whole(Py_ssize_t nbytes, MPI_Count extent, const char *what) except -1:
    """How many whole elements of `extent` bytes a buffer holds (what mpi4py passes as count)."""
    if extent <= 0:
        raise ValueError(f"{what.decode()}: the datatype has no extent")
    return _as_count(nbytes // extent, what)


cdef int _nbytes_int(Py_ssize_t nbytes) except -1:
    return <int>min(nbytes, 0x7fffffff)


cdef bytes _datarep(datarep):
    if not isinstance(datarep, str):
        raise TypeError(f"datarep must be a str ('external32'), got {type(datarep).__name__}")
    return datarep.encode("ascii")


cdef int _chk_fortran(int ierr, what) except -1:
    """The f90 constructors need a library built with Fortran; say so instead of a bare error."""
    if ierr == MPI_SUCCESS:
        return 0
    if not _library_has_fortran():
        raise NotImplementedError(f"{what}: {_library_name()} was built without Fortran support")
    return CHKERR(ierr)


cdef bint _library_has_fortran():
    cdef MPI_Count size = 0
    return MPI_Type_size_x(MPI_INTEGER, &size) == MPI_SUCCESS and size > 0 and \
        MPI_Type_c2f(MPI_INTEGER) != 0


cdef object _library_name():
    version = Get_library_version().strip().splitlines()
    return " ".join(version[0].split()) if version else "this MPI library"


cdef object _contents(Datatype self, MPI_Count ni, MPI_Count na, MPI_Count nc, MPI_Count nd):
    cdef int *ints = <int *>malloc((ni or 1) * sizeof(int))
    cdef MPI_Aint *aints = <MPI_Aint *>malloc((na or 1) * sizeof(MPI_Aint))
    cdef MPI_Count *counts = <MPI_Count *>malloc((nc or 1) * sizeof(MPI_Count))
    cdef MPI_Datatype *types = <MPI_Datatype *>malloc((nd or 1) * sizeof(MPI_Datatype))
    try:
        if ints == NULL or aints == NULL or counts == NULL or types == NULL:
            raise MemoryError()
        CHKERR(MPIK_Type_get_contents(self.ob_mpi, ni, na, nc, nd, ints, aints, counts, types))
        return ([ints[k] for k in range(ni)], [aints[k] for k in range(na)],
                [counts[k] for k in range(nc)], [_ref_datatype(types[k]) for k in range(nd)])
    finally:
        free(ints)
        free(aints)
        free(counts)
        free(types)


cdef Datatype _ref_datatype(MPI_Datatype handle):
    """The module's object for a predefined handle, else a new Datatype holding it."""
    cdef Datatype t = _by_handle.get(<intptr_t>handle)
    if t is not None:
        return t
    t = Datatype()
    t.ob_mpi = handle
    return t


import copyreg as _copyreg


cdef object _pickle_by_name(obj, what):
    """A predefined MPI object pickles as its name in this module (as mpi4py's do), so that
    `comm.bcast({"op": MPI.SUM})` works; one made by the program cannot travel."""
    for key, value in globals().items():
        if value is obj and not key.startswith("_"):
            return key
    raise TypeError(f"cannot pickle the {what} {obj!r}: only predefined ones (MPI.DOUBLE, "
                    "MPI.SUM, ...) can be sent to another process")


def Get_address(location):
    """The address of a buffer's first byte (MPI.BOTTOM is address 0), for Create_struct and
    messages given as [MPI.BOTTOM, datatype] with absolute displacements."""
    cdef void *base = MPI_BOTTOM
    cdef MPI_Aint address = 0
    cdef _Buf b
    if location is not BOTTOM:
        b = _export(location, False, b"Get_address")
        base = b.addr
    CHKERR(MPI_Get_address(base, &address))
    return address


def Aint_add(MPI_Aint base, MPI_Aint disp):
    return MPI_Aint_add(base, disp)


def Aint_diff(MPI_Aint addr1, MPI_Aint addr2):
    return MPI_Aint_diff(addr1, addr2)
