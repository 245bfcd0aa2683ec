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
        return (u, i)
    if v > u:
        return (v, j)
    return (u, i if i < j else j)

def _op_minloc(x, y):
    u, i = x
    v, j = y
    if u < v:
        return (u, i)
    if v < u:
        return (v, j)
    return (u, i if i < j else j)

def _op_replace(x, y):
    return y

def _op_no_op(x, y):
    return x


cdef class Op:
    """A reduction operation: ``MPI.SUM``, ``MPI.MAX``, ... or one made with ``Op.Create``."""
    cdef MPI_Op ob_mpi
    cdef object ob_func
    cdef object name
    cdef bint predefined
    cdef bint commute
    cdef MPI_Op fast        # the fast-path op for int/float scalars, or MPI_OP_NULL

    def __cinit__(self):
        self.ob_mpi = MPI_OP_NULL
        self.fast = MPI_OP_NULL
        self.ob_func = None
        self.name = None
        self.predefined = False
        self.commute = True

    def __repr__(self):
        return f"<mpikernel.MPI.Op {self.name or 'user-defined'}>"

    def __call__(self, x, y):
        if self.ob_func is None:
            raise ValueError(f"{self!r} has no Python function")
        return self.ob_func(x, y)

    def __eq__(self, other):
        if not isinstance(other, Op):
            return NotImplemented
        return self.ob_mpi == (<Op>other).ob_mpi and self.ob_func is (<Op>other).ob_func

    def __hash__(self):
        return hash((<intptr_t>self.ob_mpi, id(self.ob_func)))

    @classmethod
    def Create(cls, function, bint commute=False):
        """An Op from a Python function f(x, y) -> x (op) y, for lowercase reductions.

        (Buffer reductions with user functions are not supported; use lowercase calls.)
        """
        if not callable(function):
            raise TypeError("Op.Create needs a callable f(x, y)")
        cdef Op op = Op()
        op.ob_func = lambda x, y: function(x, y, None)   # mpi4py: f(inbuf, inoutbuf, datatype)
        op.commute = commute
        op.name = getattr(function, "__name__", None)
        return op

    def Free(self):
        if self.predefined:
            usage_error(MPI_ERR_OP, f"cannot free the predefined operation {self.name}")
        self.ob_func = None
        self.ob_mpi = MPI_OP_NULL

    def Is_commutative(self):
        return bool(self.commute)

    def Is_predefined(self):
        return bool(self.predefined)

    is_commutative = property(Is_commutative)
    is_predefined = property(Is_predefined)

    def __reduce__(self):
        return _pickle_by_name(self, "operation")


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


cdef MPI_Datatype _fastval_type = MPI_DATATYPE_NULL


cdef int _init_fast_ops() except -1:
    """Create the fast-path reductions (needs MPI initialised)."""
    global _fastval_type
    CHKERR(MPI_Type_contiguous(sizeof(mpik_fastval), MPI_BYTE, &_fastval_type))
    CHKERR(MPI_Type_commit(&_fastval_type))
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
