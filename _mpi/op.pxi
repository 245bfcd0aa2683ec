# Reduction operations. Each Op has its MPI handle (for buffer reductions) and a Python function
# (for lowercase reductions of arbitrary objects), with mpi4py's semantics for both.
#
# Lowercase allreduce/reduce of a plain int or float takes a fast path: one MPI_Iallreduce of a
# small struct {kind, int value, float value} with a C reduction that also agrees, across all
# ranks, whether the fast path was valid (same kind everywhere, no int64 overflow, no NaN). If
# not, every rank falls back to the general pickled path together.

cdef extern from * nogil:
    """
    typedef struct { long long kind; long long i; double f; } mpik_fastval;
    enum { MPIK_SLOW = 0, MPIK_INT = 1, MPIK_FLOAT = 2 };

    #define MPIK_FAST_OP(NAME, INTEXPR, FLTEXPR)                                      \\
    static void NAME(void *in_, void *inout_, int *len, MPI_Datatype *dt) {          \\
        mpik_fastval *in = (mpik_fastval *)in_, *io = (mpik_fastval *)inout_;        \\
        for (int k = 0; k < *len; k++) {                                            \\
            mpik_fastval *a = &in[k], *b = &io[k];                                   \\
            if (a->kind != b->kind || a->kind == MPIK_SLOW) { b->kind = MPIK_SLOW; continue; } \\
            if (a->kind == MPIK_INT) { long long x = a->i, y = b->i, r; INTEXPR; b->i = r; } \\
            else { double x = a->f, y = b->f, r; FLTEXPR; b->f = r; }               \\
        }                                                                             \\
    }
    #define MPIK_SLOW_IF(c) if (c) { b->kind = MPIK_SLOW; continue; }
    MPIK_FAST_OP(mpik_fast_sum, MPIK_SLOW_IF(__builtin_add_overflow(y, x, &r)), r = y + x)
    MPIK_FAST_OP(mpik_fast_prod, MPIK_SLOW_IF(__builtin_mul_overflow(y, x, &r)), r = y * x)
    MPIK_FAST_OP(mpik_fast_max, r = x > y ? x : y, r = x > y ? x : y)
    MPIK_FAST_OP(mpik_fast_min, r = x < y ? x : y, r = x < y ? x : y)
    MPIK_FAST_OP(mpik_fast_band, r = x & y, MPIK_SLOW_IF(1); r = 0)
    MPIK_FAST_OP(mpik_fast_bor, r = x | y, MPIK_SLOW_IF(1); r = 0)
    MPIK_FAST_OP(mpik_fast_bxor, r = x ^ y, MPIK_SLOW_IF(1); r = 0)
    """
    ctypedef struct mpik_fastval:
        long long kind
        long long i
        double f
    enum:
        MPIK_SLOW
        MPIK_INT
        MPIK_FLOAT
    void mpik_fast_sum(void *, void *, int *, MPI_Datatype *)
    void mpik_fast_prod(void *, void *, int *, MPI_Datatype *)
    void mpik_fast_max(void *, void *, int *, MPI_Datatype *)
    void mpik_fast_min(void *, void *, int *, MPI_Datatype *)
    void mpik_fast_band(void *, void *, int *, MPI_Datatype *)
    void mpik_fast_bor(void *, void *, int *, MPI_Datatype *)
    void mpik_fast_bxor(void *, void *, int *, MPI_Datatype *)

cdef extern from "<math.h>" nogil:
    bint isnan(double)


# Python-level semantics, as mpi4py defines them for objects.
def _op_max(x, y):
    return y if y > x else x

def _op_min(x, y):
    return y if y < x else x

def _op_sum(x, y):
    return x + y

def _op_prod(x, y):
    return x * y

def _op_land(x, y):
    return bool(x) and bool(y)

def _op_lor(x, y):
    return bool(x) or bool(y)

def _op_lxor(x, y):
    return bool(x) != bool(y)

def _op_band(x, y):
    return x & y

def _op_bor(x, y):
    return x | y

def _op_bxor(x, y):
    return x ^ y

def _op_maxloc(x, y):
    u, i = x
    v, j = y
    if u > v:
        return u, i
    if v > u or j < i:
        return v, j
    return u, i

def _op_minloc(x, y):
    u, i = x
    v, j = y
    if u < v:
        return u, i
    if v < u or j < i:
        return v, j
    return u, i

def _op_replace(x, y):
    return y

def _op_no_op(x, y):
    return x


cdef extern from * nogil:
    """
    /* 32 C reduction functions, one per slot of _op_registry, all calling one dispatcher that
       Cython sets (MPI gives a user function no closure argument, so the slot is the closure). */
    static void (*mpik_op_dispatch)(int, void *, void *, int *, MPI_Datatype *) = 0;
    #define MPIK_OP_SLOT(K) \\
        static void mpik_op_##K(void *a, void *b, int *n, MPI_Datatype *t) { \\
            if (mpik_op_dispatch) mpik_op_dispatch(K, a, b, n, t); }
    MPIK_OP_SLOT(1) MPIK_OP_SLOT(2) MPIK_OP_SLOT(3) MPIK_OP_SLOT(4) MPIK_OP_SLOT(5)
    MPIK_OP_SLOT(6) MPIK_OP_SLOT(7) MPIK_OP_SLOT(8) MPIK_OP_SLOT(9) MPIK_OP_SLOT(10)
    MPIK_OP_SLOT(11) MPIK_OP_SLOT(12) MPIK_OP_SLOT(13) MPIK_OP_SLOT(14) MPIK_OP_SLOT(15)
    MPIK_OP_SLOT(16) MPIK_OP_SLOT(17) MPIK_OP_SLOT(18) MPIK_OP_SLOT(19) MPIK_OP_SLOT(20)
    MPIK_OP_SLOT(21) MPIK_OP_SLOT(22) MPIK_OP_SLOT(23) MPIK_OP_SLOT(24) MPIK_OP_SLOT(25)
    MPIK_OP_SLOT(26) MPIK_OP_SLOT(27) MPIK_OP_SLOT(28) MPIK_OP_SLOT(29) MPIK_OP_SLOT(30)
    MPIK_OP_SLOT(31) MPIK_OP_SLOT(32)
    static MPI_User_function *mpik_op_slots[33] = { 0,
        mpik_op_1, mpik_op_2, mpik_op_3, mpik_op_4, mpik_op_5, mpik_op_6, mpik_op_7,
        mpik_op_8, mpik_op_9, mpik_op_10, mpik_op_11, mpik_op_12, mpik_op_13, mpik_op_14,
        mpik_op_15, mpik_op_16, mpik_op_17, mpik_op_18, mpik_op_19, mpik_op_20, mpik_op_21,
        mpik_op_22, mpik_op_23, mpik_op_24, mpik_op_25, mpik_op_26, mpik_op_27, mpik_op_28,
        mpik_op_29, mpik_op_30, mpik_op_31, mpik_op_32 };
    """
    void (*mpik_op_dispatch)(int, void *, void *, int *, MPI_Datatype *) noexcept
    MPI_User_function *mpik_op_slots[33]


cdef list _op_registry = [None] * 33    # slot -> the Python function of a user Op
cdef object _op_failure = None          # the exception a user function raised inside MPI


cdef void _op_user_call(int index, void *a, void *b, int *n, MPI_Datatype *t) noexcept with gil:
    """Run a user Op's Python function as mpi4py does: f(inbuf, inoutbuf, datatype), the buffers
    as MPI.buffer objects over the C memory. An exception cannot travel through MPI: it is
    printed, kept, and raised by Reduce_local after MPI returns (MPI.Exception ERR_OP)."""
    global _op_failure
    cdef MPI_Count lb = 0, extent = 0
    cdef Datatype dt = Datatype.__new__(Datatype)
    try:
        MPI_Type_get_extent_x(t[0], &lb, &extent)
        nbytes = <Py_ssize_t>(n[0] * extent)
        dt.ob_mpi = t[0]
        inbuf = _buffer_over(a, nbytes, True)
        inoutbuf = _buffer_over(b, nbytes, False)
        try:
            _op_registry[index](inbuf, inoutbuf, dt)
        finally:
            dt.ob_mpi = MPI_DATATYPE_NULL
            (<buffer>inbuf).release()
            (<buffer>inoutbuf).release()
    except BaseException as exc:
        import traceback
        traceback.print_exception(type(exc), exc, exc.__traceback__)
        _op_failure = exc


cdef int _raise_op_failure(const char *what) except -1:
    global _op_failure
    exc, _op_failure = _op_failure, None
    if exc is not None:
        raise MPIException(MPI_ERR_OP, f"{what.decode()}: the user-defined operation's function "
                           f"raised {type(exc).__name__}: {exc}") from exc
    return 0


cdef class Op:
    """A reduction operation: ``MPI.SUM``, ``MPI.MAX``, ... or one made with ``Op.Create``."""
    cdef MPI_Op ob_mpi
    cdef object ob_func
    cdef object name
    cdef bint predefined
    cdef bint commute
    cdef int slot           # its _op_registry slot (user ops), else 0
    cdef MPI_Op fast        # the fast-path op for int/float scalars, or MPI_OP_NULL

    def __cinit__(self, Op op=None):
        self.ob_mpi = MPI_OP_NULL
        self.fast = MPI_OP_NULL
        self.ob_func = None
        self.name = None
        self.predefined = False
        self.commute = True
        self.slot = 0
        if op is not None:
            self.ob_mpi = op.ob_mpi
            self.ob_func = op.ob_func
            self.name = op.name
            self.commute = op.commute

    def __repr__(self):
        return f"<mpikernel.MPI.Op {self.name or 'user-defined'}>"

    def __call__(self, x, y):
        if self.ob_func is None:
            raise ValueError("cannot call user-defined operation")
        return self.ob_func(x, y)

    def __eq__(self, other):
        if not isinstance(other, Op):
            return NotImplemented
        return self.ob_mpi == (<Op>other).ob_mpi and self.ob_func is (<Op>other).ob_func

    def __hash__(self):
        return hash((<intptr_t>self.ob_mpi, id(self.ob_func)))

    def __bool__(self):
        return self.ob_mpi != MPI_OP_NULL

    @property
    def handle(self):
        return <intptr_t>self.ob_mpi

    @classmethod
    def Create(cls, function, bint commute=False):
        """A reduction from function(inbuf, inoutbuf, datatype), which combines inbuf into
        inoutbuf in place (both MPI.buffer objects); op(x, y) calls function(x, y, None)."""
        if not callable(function):      # AttributeError, as mpi4py's `function.__call__`
            raise AttributeError(f"Op.Create needs a callable f(inbuf, inoutbuf, datatype), "
                                 f"got {type(function).__name__}")
        _check_alive()
        try:
            index = _op_registry.index(None, 1)
        except ValueError:
            raise RuntimeError("cannot create too many user-defined reduction operations") from None
        cdef Op op = cls.__new__(cls)
        CHKERR(MPI_Op_create(mpik_op_slots[index], commute, &op.ob_mpi))
        _op_registry[index] = function
        op.slot = index
        op.ob_func = lambda x, y: function(x, y, None)
        op.commute = commute
        op.name = getattr(function, "__name__", None)
        return op

    def Free(self):
        if self.predefined:
            usage_error(MPI_ERR_OP, f"cannot free the predefined operation {self.name}")
        _check_alive()
        CHKERR(MPI_Op_free(&self.ob_mpi))
        if self.slot:
            _op_registry[self.slot] = None
            self.slot = 0
        self.ob_func = None

    def free(self):
        """Free unless null or predefined (mpi4py's lowercase free)."""
        if self.ob_mpi != MPI_OP_NULL and not self.predefined:
            self.Free()

    def Is_commutative(self):
        cdef int flag = 0
        CHKERR(MPI_Op_commutative(self.ob_mpi, &flag))
        return bool(flag)

    def Is_predefined(self):
        return bool(self.predefined)

    is_commutative = property(Is_commutative)
    is_predefined = property(Is_predefined)

    def Reduce_local(self, inbuf, inoutbuf):
        """inoutbuf = inbuf (op) inoutbuf, element by element, on this process."""
        cdef _Buf r = msg_simple(inoutbuf, True, 1, b"Reduce_local")
        cdef _Buf s = msg_simple(inbuf, False, 1, b"Reduce_local")
        if s.dtype != r.dtype:
            raise ValueError("Reduce_local: mismatch in send and receive MPI datatypes")
        if s.count != r.count:
            raise ValueError(f"Reduce_local: mismatch in send count {s.count} and receive "
                             f"count {r.count}")
        if self.predefined:
            _check_reducible(r, self, b"Reduce_local")
        CHKERR(MPI_Reduce_local(s.addr, r.addr, r.count, r.dtype, self.ob_mpi))
        _raise_op_failure(b"Reduce_local")

    def py2f(self):
        return MPI_Op_c2f(self.ob_mpi)

    @classmethod
    def f2py(cls, arg):
        return _ref_op(MPI_Op_f2c(arg))

    @classmethod
    def fromhandle(cls, handle):
        return _ref_op(<MPI_Op><intptr_t>handle)

    def toint(self):
        return MPI_Op_c2f(self.ob_mpi)

    @classmethod
    def fromint(cls, arg):
        return _ref_op(MPI_Op_f2c(arg))

    def __reduce__(self):
        """A predefined Op travels by name, a user Op as Op.Create(function, commute)."""
        for op in _PREDEFINED_OPS:
            if (<Op>op).ob_mpi == self.ob_mpi and (<Op>op).ob_func is self.ob_func:
                return (<Op>op).name if op is self else (_copyreg.__newobj__, (type(self), op))
        if self.slot == 0:
            raise ValueError("cannot pickle user-defined reduction operation")
        return (type(self).Create, (_op_registry[self.slot], self.Is_commutative()))


import copyreg as _copyreg


cdef Op _ref_op(MPI_Op handle):
    """The module's predefined Op for a handle, else a new Op holding it."""
    for op in _PREDEFINED_OPS:
        if (<Op>op).ob_mpi == handle:
            return op
    cdef Op made = Op()
    made.ob_mpi = handle
    return made


cdef Op _predef_op(MPI_Op handle, func, name):
    cdef Op op = Op()
    op.ob_mpi = handle
    op.ob_func = func
    op.name = name
    op.predefined = True
    return op


OP_NULL = _predef_op(MPI_OP_NULL, None, "OP_NULL")
MAX = _predef_op(MPI_MAX, _op_max, "MAX")
MIN = _predef_op(MPI_MIN, _op_min, "MIN")
SUM = _predef_op(MPI_SUM, _op_sum, "SUM")
PROD = _predef_op(MPI_PROD, _op_prod, "PROD")
LAND = _predef_op(MPI_LAND, _op_land, "LAND")
BAND = _predef_op(MPI_BAND, _op_band, "BAND")
LOR = _predef_op(MPI_LOR, _op_lor, "LOR")
BOR = _predef_op(MPI_BOR, _op_bor, "BOR")
LXOR = _predef_op(MPI_LXOR, _op_lxor, "LXOR")
BXOR = _predef_op(MPI_BXOR, _op_bxor, "BXOR")
MAXLOC = _predef_op(MPI_MAXLOC, _op_maxloc, "MAXLOC")
MINLOC = _predef_op(MPI_MINLOC, _op_minloc, "MINLOC")
REPLACE = _predef_op(MPI_REPLACE, _op_replace, "REPLACE")
NO_OP = _predef_op(MPI_NO_OP, _op_no_op, "NO_OP")
_PREDEFINED_OPS = (OP_NULL, MAX, MIN, SUM, PROD, LAND, BAND, LOR, BOR, LXOR, BXOR, MAXLOC, MINLOC,
                   REPLACE, NO_OP)


cdef MPI_Datatype _fastval_type = MPI_DATATYPE_NULL


cdef int _init_fast_ops() except -1:
    """Create the fast-path reductions (needs MPI initialised)."""
    global _fastval_type
    CHKERR(MPI_Type_contiguous(sizeof(mpik_fastval), MPI_BYTE, &_fastval_type))
    CHKERR(MPI_Type_commit(&_fastval_type))
    global mpik_op_dispatch
    mpik_op_dispatch = _op_user_call
    for op, fn in ((SUM, 0), (PROD, 1), (MAX, 2), (MIN, 3), (BAND, 4), (BOR, 5), (BXOR, 6)):
        (<Op>op).fast = _create_fast(fn)
    return 0


cdef MPI_Op _create_fast(int which) except *:
    cdef MPI_Op h = MPI_OP_NULL
    cdef MPI_User_function *f = NULL
    if which == 0: f = mpik_fast_sum
    elif which == 1: f = mpik_fast_prod
    elif which == 2: f = mpik_fast_max
    elif which == 3: f = mpik_fast_min
    elif which == 4: f = mpik_fast_band
    elif which == 5: f = mpik_fast_bor
    else: f = mpik_fast_bxor
    CHKERR(MPI_Op_create(f, 1, &h))
    return h


cdef inline void fastval_of(object obj, mpik_fastval *v):
    """Describe obj for the fast path: only exact int (fitting int64) and non-NaN float."""
    cdef type t = type(obj)
    v.kind = MPIK_SLOW
    v.i = 0
    v.f = 0.0
    if t is int:
        try:
            v.i = <long long>obj
            v.kind = MPIK_INT
        except OverflowError:
            pass
    elif t is float:
        v.f = <double>obj
        if not isnan(v.f):
            v.kind = MPIK_FLOAT
