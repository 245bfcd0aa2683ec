# C arrays made from Python sequences, for every call that takes a list of ints or MPI_Aints
# (group ranks, topology dims and edges, datatype block lengths and displacements): one
# conversion, one TypeError naming the call and the argument, freed with the object.

@cython.final
cdef class _IntArray:
    """A C int array made from a Python sequence of ints (ranks, dims, degrees, ...), freed
    with the object; `what`/`arg` name the call and the argument in a TypeError."""
    cdef int *p
    cdef int n

    def __cinit__(self, seq=None, const char *what=b"", const char *arg=b""):
        cdef Py_ssize_t i
        self.p = NULL
        self.n = 0
        if seq is None:
            return
        try:
            items = [_as_c_int(x) for x in seq]
        except TypeError:
            raise TypeError(f"{what.decode()}: {arg.decode()} must be a sequence of ints, got "
                            f"{seq!r}") from None
        self._alloc(len(items))
        for i in range(self.n):
            self.p[i] = items[i]

    cdef int _alloc(self, Py_ssize_t n) except -1:
        self.p = <int *>malloc((n or 1) * sizeof(int))
        if self.p == NULL:
            raise MemoryError()
        self.n = <int>n
        return 0

    @staticmethod
    cdef _IntArray of_size(Py_ssize_t n):
        cdef _IntArray a = _IntArray.__new__(_IntArray)
        a._alloc(n)
        memset(a.p, 0, (n or 1) * sizeof(int))
        return a

    cdef list tolist(self):
        return [self.p[i] for i in range(self.n)]

    def __dealloc__(self):
        free(self.p)


cdef object _as_c_int(object x):
    if not hasattr(x, "__index__"):
        raise TypeError(x)
    return x.__index__()


cdef class _AintArray:
    """A C MPI_Aint array (byte displacements of the h* datatype constructors), freed with the object."""
    cdef MPI_Aint *p
    cdef int n

    def __dealloc__(self):
        free(self.p)


cdef list _checked_items(object seq, int expect, const char *name):
    values = list(seq)
    if expect >= 0 and len(values) != expect:
        raise ValueError(f"{name.decode()}: expected {expect} items, got {len(values)}")
    return values


cdef _IntArray _ints(object seq, int expect, const char *name):
    """seq as a C int array; `expect` >= 0 is the length it must have (the first array's)."""
    return _IntArray(_checked_items(seq, expect, name), b"Datatype", name)


cdef _AintArray _aints(object seq, int expect, const char *name):
    """seq as a C MPI_Aint array; `expect` >= 0 is the length it must have."""
    cdef _AintArray a = _AintArray.__new__(_AintArray)
    cdef int i
    values = _checked_items(seq, expect, name)
    a.p = <MPI_Aint *>malloc((len(values) or 1) * sizeof(MPI_Aint))
    if a.p == NULL:
        raise MemoryError()
    a.n = len(values)
    for i in range(a.n):
        a.p[i] = values[i]
    return a
