# Buffers for uppercase calls: a Python buffer (numpy array, bytearray, ...) or an mpi4py-style
# message spec ([buf, MPI.DOUBLE], [buf, count, MPI.INT], [buf, (counts, displs), MPI.DOUBLE])
# becomes (address, count, datatype) before any MPI call, with bounds checked so a wrong count
# raises instead of corrupting memory.

class _InPlace:
    """MPI.IN_PLACE: use the receive buffer as the send buffer in a collective."""
    def __repr__(self):
        return "MPI.IN_PLACE"

IN_PLACE = _InPlace()

cdef char _EMPTY_MSG = 0        # the address of an empty [None, 0, type] message


@cython.freelist(8)
cdef class _Buf:
    """One Python buffer described for one MPI call; keeps the export alive until released."""
    cdef Py_buffer view
    cdef bint exported
    cdef void *addr
    cdef Py_ssize_t nbytes
    cdef int count
    cdef MPI_Datatype dtype
    cdef MPI_Aint extent
    cdef MPI_Count size         # bytes of data in one element, when an explicit datatype has
                                # holes (size < extent: a column); 0 = the same as extent
    cdef bint untyped           # format had no MPI type: described as bytes
    cdef int *counts            # v-variants: per-rank counts and displacements
    cdef int *displs
    cdef object obj
    cdef object extra           # what a DLPack/CAI view's format string lives in
    cdef bint bottom            # MPI.BOTTOM: the datatype holds absolute addresses

    def __cinit__(self):
        self.exported = False
        self.addr = NULL
        self.nbytes = 0
        self.count = 0
        self.dtype = MPI_BYTE
        self.extent = 1
        self.size = 0
        self.untyped = False
        self.counts = NULL
        self.displs = NULL
        self.obj = None
        self.bottom = False

    def __dealloc__(self):
        if self.exported:
            PyBuffer_Release(&self.view)
        free(self.counts)
        free(self.displs)


cdef inline bint is_in_place(object obj):
    return obj is IN_PLACE


cdef _Buf _export(object obj, bint writable, const char *what):
    """Export obj's memory (contiguous; writable when MPI writes into it). Not a Python buffer:
    MPI.BOTTOM (absolute addresses), None (no memory), DLPack or __cuda_array_interface__
    (foreign.pxi)."""
    cdef _Buf b = _Buf.__new__(_Buf)
    cdef int flags = PyBUF_ANY_CONTIGUOUS | PyBUF_FORMAT
    if writable:
        flags |= PyBUF_WRITABLE
    if not PyObject_CheckBuffer(obj):
        return _export_foreign(b, obj, flags, what)
    try:
        PyObject_GetBuffer(obj, &b.view, flags)
    except (BufferError, ValueError) as exc:
        _export_failed(exc, obj, writable, what)
    b.exported = True
    b.obj = obj
    b.addr = b.view.buf
    b.nbytes = b.view.len
    return b


cdef _Buf _export_foreign(_Buf b, object obj, int flags, const char *what):
    if obj is BOTTOM or obj is None:
        b.bottom = obj is BOTTOM    # absolute addresses: no bounds to check
        b.addr = MPI_BOTTOM if b.bottom else NULL
        return b                    # no memory: a count is 0 unless given
    if not (hasattr(obj, "__dlpack__") or hasattr(obj, "__cuda_array_interface__")):
        raise TypeError(
            f"{what.decode()}: expected a buffer (numpy array, bytearray, ...) or a list like "
            f"[buffer, MPI.DOUBLE], got {type(obj).__name__}"
        )
    b.extra = []
    try:
        _get_view(obj, &b.view, flags, b.extra)
    except BufferError as exc:
        raise BufferError(f"{what.decode()}: {exc}") from None
    b.exported = True
    b.obj = obj
    b.addr = b.view.buf
    b.nbytes = b.view.len
    return b


cdef int _export_failed(object exc, object obj, bint writable, const char *what) except -1:
    text = str(exc).lower()
    if writable and ("writ" in text or "read-only" in text or "readonly" in text):
        raise BufferError(
            f"{what.decode()}: MPI writes into this buffer, so it must be writable; "
            f"got a read-only {type(obj).__name__} (use a bytearray or a numpy array)"
        ) from None
    if "dtype 'M'" in str(exc) or "dtype 'm'" in str(exc):
        raise BufferError(f"{what.decode()}: numpy gives no buffer for datetime64/timedelta64 "
                          "arrays; send their int64 view (a.view('i8'))") from None
    raise BufferError(f"{what.decode()}: {exc} (MPI needs a contiguous buffer; "
                      "use numpy.ascontiguousarray)") from None


cdef inline MPI_Datatype _fmt_type(const char *fmt, Py_ssize_t itemsize) noexcept:
    """The common one-letter native formats, without touching Python objects (hot path)."""
    if fmt == NULL:
        return MPI_BYTE if itemsize == 1 else MPI_DATATYPE_NULL
    if fmt[0] == c'@':
        fmt += 1
    if fmt[0] == 0 or fmt[1] != 0:
        return MPI_DATATYPE_NULL
    cdef char c = fmt[0]
    if c == c'd' and itemsize == sizeof(double): return MPI_DOUBLE
    if c == c'f' and itemsize == sizeof(float): return MPI_FLOAT
    if c == c'i' and itemsize == sizeof(int): return MPI_INT
    if c == c'l' and itemsize == sizeof(long): return MPI_LONG
    if c == c'q' and itemsize == sizeof(long long): return MPI_LONG_LONG
    if c == c'B' and itemsize == 1: return MPI_UNSIGNED_CHAR
    if c == c'b' and itemsize == 1: return MPI_SIGNED_CHAR
    return MPI_DATATYPE_NULL


cdef int _set_type(_Buf b, object o_type, bint counted=False) except -1:
    """counted: the count is given and there is no displacement, so a null datatype is left for
    MPI to report (MPI.Exception ERR_TYPE, as mpi4py); otherwise it is a ValueError here."""
    cdef Datatype t
    cdef MPI_Aint lb = 0
    if o_type is not None:
        t = as_datatype(o_type)
        b.dtype = t.ob_mpi
        if t.ob_mpi == MPI_DATATYPE_NULL:
            if not counted:
                raise ValueError("message: cannot infer a count or displacement: the datatype "
                                 "is MPI.DATATYPE_NULL")
            b.extent = 1
            return 0
        CHKERR(MPI_Type_get_extent(b.dtype, &lb, &b.extent))
        if b.extent <= 0:
            raise ValueError("message: datatype has no extent")
        CHKERR(MPI_Type_size_x(b.dtype, &b.size))
        return 0
    if b.bottom:
        raise TypeError("message: MPI.BOTTOM needs a datatype: [MPI.BOTTOM, count, datatype]")
    b.dtype = _fmt_type(b.view.format, b.view.itemsize)
    if b.dtype != MPI_DATATYPE_NULL:
        b.extent = b.view.itemsize       # basic types: extent == size == itemsize
        return 0
    fmt = b.view.format
    t = typemap(None if fmt == NULL else (<bytes>fmt).decode("ascii", "replace"))
    if t is None or (t.ob_mpi != MPI_BYTE and b.view.itemsize > 0 and _type_size(t.ob_mpi) != b.view.itemsize):
        b.untyped = True
        b.dtype = MPI_BYTE
        b.extent = 1
    else:
        b.dtype = t.ob_mpi
        CHKERR(MPI_Type_get_extent(b.dtype, &lb, &b.extent))
    return 0


cdef inline long long _data_bytes(_Buf b) noexcept:
    """Bytes of data a message of b carries: count x the datatype's size, which is less than
    count x extent for a derived type with holes (a column of a 2-D array). What traces count."""
    return <long long>b.count * (b.size if b.size else b.extent)


cdef inline int _type_size(MPI_Datatype t) noexcept:
    cdef int size = 0
    MPI_Type_size(t, &size)
    return size


cdef int _as_count(object value, const char *what) except? -1:
    cdef Py_ssize_t n
    try:
        n = value
    except (TypeError, OverflowError):
        raise TypeError(f"{what.decode()}: count must be an int, got {value!r}") from None
    if n < 0:
        raise ValueError(f"{what.decode()}: count must be >= 0, got {n}")
    if n > 0x7fffffff:
        raise OverflowError(f"{what.decode()}: count {n} is larger than MPI's int limit (2**31-1); "
                            "split the message")
    return <int>n


cdef object _spec_parts(object msg, bint vector, const char *what):
    """A message spec list -> [buffer, count(s), displ(s), datatype], None where not given
    (a 4-item spec is returned as it is, without a copy).

    [buf] | [buf, type] | [buf, count] | [buf, (count, displ)] | [buf, count, type] |
    [buf, (count, displ), type] | [buf, count, displ, type]; a v-message (vector) has counts
    and displs instead, its pair is always a tuple (a list is the counts, as in mpi4py), and it
    may be [buf, counts, displs] without a type.
    """
    cdef Py_ssize_t n = len(msg)
    third = None
    if n == 2:
        obj, second = msg
        if isinstance(second, (Datatype, str)):
            return (obj, None, None, second)
    elif n == 3:
        obj, second, third = msg
        if vector and not (third is None or isinstance(third, (Datatype, str))
                           or isinstance(second, tuple)):
            return (obj, second, third, None)           # [buf, counts, displs]
    elif n == 1:
        return (msg[0], None, None, None)
    elif n == 4:
        return msg
    elif vector:
        raise ValueError(f"{what.decode()}: a v-message is [buffer, counts, displs, datatype], "
                         f"got a {type(msg).__name__} of {n} items")
    else:
        raise ValueError(f"{what.decode()}: a message is a buffer or [buffer, count, displ, "
                         f"datatype], got a {type(msg).__name__} of {n} items")
    if isinstance(second, tuple) or (not vector and isinstance(second, list)):
        if len(second) != 2:
            pair = "(counts, displs)" if vector else "(count, displ)"
            raise ValueError(f"{what.decode()}: expected a {pair} pair, got {len(second)} items")
        count, displ = second
        return (obj, count, displ, third)
    return (obj, second, None, third)


cdef _Buf msg_simple(object msg, bint writable, int blocks, const char *what):
    """buf | [buf] | [buf, type] | [buf, count] | [buf, count, type] |
    [buf, (count, displ), type] | [buf, count, displ, type] | None.

    `blocks` > 1 (Scatter/Gather/Allgather/Alltoall) means the buffer holds that many equal
    parts and an inferred count is per part.
    """
    cdef object obj = msg, o_count = None, o_displ = None, o_type = None
    cdef _Buf b
    cdef Py_ssize_t displ = 0, need, avail
    if msg is None:
        b = _Buf.__new__(_Buf)
        return b
    if isinstance(msg, (list, tuple)):
        if len(msg) == 2 and isinstance(msg[1], Datatype):
            obj, o_type = msg       # [buf, MPI.DOUBLE], the common spec, without a tuple
        else:
            obj, o_count, o_displ, o_type = _spec_parts(msg, False, what)
        if obj is None:         # [None, 0, type]: an empty message, as mpi4py allows
            if o_count:
                raise ValueError(f"{what.decode()}: buffer is None but count is {o_count}")
            b = _Buf.__new__(_Buf)
            b.addr = &_EMPTY_MSG        # not NULL: MPICH/UCX crashed cancelling a NULL send
            return b
    b = _export(obj, writable, what)
    _set_type(b, o_type, o_count is not None and o_displ is None)
    if o_displ is not None:
        displ = _as_count(o_displ, what)
        if displ * b.extent > b.nbytes and not b.bottom:
            raise ValueError(f"{what.decode()}: displacement {displ} out of bounds, the buffer "
                             f"holds {b.nbytes // b.extent} elements")
    avail = b.nbytes // b.extent - displ
    if o_count is None:
        if b.nbytes % b.extent:
            raise ValueError(f"{what.decode()}: buffer of {b.nbytes} bytes is not a whole number "
                             f"of {b.extent}-byte elements")
        if blocks > 1 and avail % blocks:
            raise ValueError(f"{what.decode()}: buffer of {avail} elements cannot be split into "
                             f"{blocks} equal parts (one per rank)")
        b.count = _as_count(avail // blocks, what)
    else:
        b.count = _as_count(o_count, what)
    need = <Py_ssize_t>b.count * blocks
    if need > avail and not b.bottom:
        raise ValueError(f"{what.decode()}: buffer too small: {need} elements of {b.extent} bytes "
                         f"needed (count {b.count}" + (f" x {blocks} ranks" if blocks > 1 else "")
                         + f"), the buffer holds {avail}")
    b.addr = <char *>b.addr + displ * b.extent
    return b


cdef _Buf msg_in_place():
    cdef _Buf b = _Buf.__new__(_Buf)
    b.addr = MPI_IN_PLACE
    return b


cdef int *_int_array(object seq, int size, const char *what, const char *name) except NULL:
    cdef int *arr = <int *>malloc((size if size > 0 else 1) * sizeof(int))
    cdef int i
    if arr == NULL:
        raise MemoryError()
    try:
        if isinstance(seq, int):
            for i in range(size):
                arr[i] = _as_count(seq, what)
        else:
            values = list(seq)
            if len(values) != size:
                raise ValueError(f"{what.decode()}: {name.decode()} must have one entry per rank "
                                 f"({size}), got {len(values)}")
            for i in range(size):
                arr[i] = _as_count(values[i], what)
    except BaseException:
        free(arr)
        raise
    return arr


cdef _Buf msg_vector(object msg, bint writable, int size, const char *what):
    """v-variant message: buf | [buf, type] | [buf, counts] | [buf, counts, type] |
    [buf, (counts, displs), type] | [buf, counts, displs] | [buf, counts, displs, type]."""
    cdef object obj = msg, o_counts = None, o_displs = None, o_type = None
    cdef _Buf b
    cdef int i
    cdef Py_ssize_t avail, end
    if msg is None:
        return _Buf.__new__(_Buf)
    if isinstance(msg, (list, tuple)):
        obj, o_counts, o_displs, o_type = _spec_parts(msg, True, what)
    b = _export(obj, writable, what)
    _set_type(b, o_type)
    avail = b.nbytes // b.extent
    if o_counts is None:        # as mpi4py: the first avail % size ranks get one more
        if b.nbytes % b.extent:
            raise ValueError(f"{what.decode()}: buffer of {b.nbytes} bytes is not a whole number "
                             f"of {b.extent}-byte elements")
        o_counts = [avail // size + (avail % size > i) for i in range(size)]
    b.counts = _int_array(o_counts, size, what, b"counts")
    if isinstance(o_displs, int):   # a stride: rank i's part starts at i * displs
        o_displs = [o_displs * i for i in range(size)]
    if o_displs is None:
        b.displs = <int *>malloc((size if size > 0 else 1) * sizeof(int))
        if b.displs == NULL:
            raise MemoryError()
        end = 0
        for i in range(size):
            if end > 0x7fffffff:
                raise OverflowError(f"{what.decode()}: displacement beyond 2**31-1 elements")
            b.displs[i] = <int>end
            end += b.counts[i]
    else:
        b.displs = _int_array(o_displs, size, what, b"displs")
    for i in range(size):
        end = <Py_ssize_t>b.displs[i] + b.counts[i]
        if end > avail and not b.bottom:
            raise ValueError(f"{what.decode()}: buffer too small: rank {i}'s part ends at element "
                             f"{end}, the buffer holds {avail}")
    return b
