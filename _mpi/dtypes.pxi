# The predefined datatypes (mpi4py 4.1's list and aliases), their character codes and type
# strings (typechar, typestr, tocode), and the map from a buffer's format to a datatype
# (fromcode, and what msgbuffer.pxi reads a numpy array's dtype with).

from libc.stddef cimport wchar_t

cdef dict _by_handle = {}     # intptr handle -> the module's predefined Datatype
cdef dict _codes = {}         # intptr handle -> (typechar, typestr, tocode), filled lazily
cdef dict _kinds = {}         # intptr handle -> (kind, size or 0 = ask MPI, fixed-size type)

_PREDEFINED_COMBINERS = (MPI_COMBINER_NAMED, MPIK_COMBINER_VALUE_INDEX, MPI_COMBINER_F90_INTEGER,
                         MPI_COMBINER_F90_REAL, MPI_COMBINER_F90_COMPLEX)


cdef Datatype _predef(MPI_Datatype handle, name, kind=None, size=0, bint fixed=False):
    """A predefined datatype. For the typecode queries, `kind` is either its class ('i', 'u',
    'f', 'c', 'b', with `size`, or 0 to ask MPI; `fixed` for the C99/Fortran sized types whose
    code is a type string) or, as '=X', its character X."""
    cdef Datatype t = Datatype()
    t.ob_mpi = handle
    t.flags = DT_PREDEFINED | DT_COMMITTED
    t.pyname = name
    if handle != MPI_DATATYPE_NULL:
        _by_handle.setdefault(<intptr_t>handle, t)
        if kind is not None:
            _kinds.setdefault(<intptr_t>handle, (kind, size, fixed))
    return t


cdef object _char_of(str kind, Py_ssize_t size):
    """mpi4py's typechr: the struct/numpy character of a kind of that size, or None."""
    if kind == "b":
        return "?" if size == 1 else _char_of("i", size)
    if kind in ("i", "u"):
        for c, n in (("b", sizeof(char)), ("h", sizeof(short)), ("i", sizeof(int)),
                     ("l", sizeof(long)), ("q", sizeof(long long))):
            if n == size:
                return c if kind == "i" else c.upper()
        return None
    if kind in ("f", "c"):
        scale = 1 if kind == "f" else 2
        for c, n in (("e", sizeof(float) // 2), ("f", sizeof(float)), ("d", sizeof(double)),
                     ("g", sizeof(long double))):
            if n * scale == size:
                return c if kind == "f" else c.upper()
    return None


cdef dict _STR_SIZES = {"b": (1,), "i": (1, 2, 4, 8, 16), "u": (1, 2, 4, 8, 16),
                        "f": (2, 4, 8, 12, 16), "c": (4, 8, 16, 24, 32)}
# character -> (kind, size) of its type string (mpi4py's typechr_to_typestr), or the string
cdef dict _CHAR_STR = {
    "?": ("b", 1), "b": ("i", sizeof(char)), "h": ("i", sizeof(short)), "i": ("i", sizeof(int)),
    "l": ("i", sizeof(long)), "q": ("i", sizeof(long long)), "p": ("i", sizeof(MPI_Aint)),
    "B": ("u", sizeof(char)), "H": ("u", sizeof(short)), "I": ("u", sizeof(int)),
    "L": ("u", sizeof(long)), "Q": ("u", sizeof(long long)), "P": ("u", sizeof(MPI_Aint)),
    "e": ("f", sizeof(float) // 2), "f": ("f", sizeof(float)), "d": ("f", sizeof(double)),
    "g": ("f", sizeof(long double)), "E": ("c", sizeof(float)), "F": ("c", 2 * sizeof(float)),
    "D": ("c", 2 * sizeof(double)), "G": ("c", 2 * sizeof(long double)),
    "S": "S1", "U": "U1", "c": "S1", "u": "u2", "w": "U1",
}


cdef object _str_of(str kind, Py_ssize_t size):
    """mpi4py's typestr: 'i4', 'f8', 'c16', 'b1' ... or None."""
    if kind == "b" and size >= 2:
        kind = "i"
    if size in _STR_SIZES.get(kind, ()):
        return f"{kind}{size}"
    return None


cdef object _char_to_str(ch):
    entry = _CHAR_STR.get(ch) if ch is not None else None
    if entry is None or isinstance(entry, str):
        return entry
    return _str_of(entry[0], entry[1])


cdef object _code_of(Datatype t, int which):
    """typechar (0), typestr (1) or tocode (2) of a predefined or duplicated datatype."""
    cdef intptr_t h = <intptr_t>t.ob_mpi
    if t.ob_mpi == MPI_DATATYPE_NULL:
        return None
    codes = _codes.get(h)
    if codes is None:
        codes = _compute_codes(t)
        if h in _kinds:
            _codes[h] = codes
    return codes[which]


cdef tuple _compute_codes(Datatype t):
    entry = _kinds.get(<intptr_t>t.ob_mpi)
    if entry is None:
        return _derived_codes(t)
    kind, size, fixed = entry
    if kind[0] == "=":
        return (kind[1:], _char_to_str(kind[1:]), kind[1:])
    if size == 0:
        size = t.Get_size()
    ch = _char_of(kind, size)
    ts = _str_of(kind, size) if fixed else _char_to_str(ch)
    return (ch, ts, ts if fixed else ch)


cdef tuple _derived_codes(Datatype t):
    """f90 parameterised types by their size; a Dup by its base; anything else has none."""
    ni, na, nc, nd, combiner = t.Get_envelope()
    kind = {MPI_COMBINER_F90_INTEGER: "i", MPI_COMBINER_F90_REAL: "f",
            MPI_COMBINER_F90_COMPLEX: "c"}.get(combiner)
    if kind is not None:
        size = t.Get_size()
        ch, ts = _char_of(kind, size), _str_of(kind, size)
        return (ch, ts, ts)
    if combiner == MPI_COMBINER_DUP:
        base = t.Get_contents()[3][0]
        try:
            return tuple(_code_of(base, k) for k in range(3))
        finally:
            base.free()
    return (None, None, None)


DATATYPE_NULL = _predef(MPI_DATATYPE_NULL, "DATATYPE_NULL")
# MPI-specific
PACKED = _predef(MPI_PACKED, "PACKED", "=B")
BYTE = _predef(MPI_BYTE, "BYTE", "=B")
AINT = _predef(MPI_AINT, "AINT", "=p" if sizeof(MPI_Aint) == sizeof(void *) else "=q")
OFFSET = _predef(MPI_OFFSET, "OFFSET", "=p" if sizeof(MPI_Offset) == sizeof(void *) else "=q")
COUNT = _predef(MPI_COUNT, "COUNT", "=p" if sizeof(MPI_Count) == sizeof(void *) else "=q")
# elementary C
CHAR = _predef(MPI_CHAR, "CHAR", "=c")
WCHAR = _predef(MPI_WCHAR, "WCHAR", "=U" if sizeof(wchar_t) == 4 else "=H")
SIGNED_CHAR = _predef(MPI_SIGNED_CHAR, "SIGNED_CHAR", "=b")
SHORT = _predef(MPI_SHORT, "SHORT", "=h")
INT = _predef(MPI_INT, "INT", "=i")
LONG = _predef(MPI_LONG, "LONG", "=l")
LONG_LONG = _predef(MPI_LONG_LONG, "LONG_LONG", "=q")
UNSIGNED_CHAR = _predef(MPI_UNSIGNED_CHAR, "UNSIGNED_CHAR", "=B")
UNSIGNED_SHORT = _predef(MPI_UNSIGNED_SHORT, "UNSIGNED_SHORT", "=H")
UNSIGNED = _predef(MPI_UNSIGNED, "UNSIGNED", "=I")
UNSIGNED_LONG = _predef(MPI_UNSIGNED_LONG, "UNSIGNED_LONG", "=L")
UNSIGNED_LONG_LONG = _predef(MPI_UNSIGNED_LONG_LONG, "UNSIGNED_LONG_LONG", "=Q")
FLOAT = _predef(MPI_FLOAT, "FLOAT", "=f")
DOUBLE = _predef(MPI_DOUBLE, "DOUBLE", "=d")
LONG_DOUBLE = _predef(MPI_LONG_DOUBLE, "LONG_DOUBLE", "=g")
# C99
C_BOOL = _predef(MPI_C_BOOL, "C_BOOL", "b", 1, True)
INT8_T = _predef(MPI_INT8_T, "INT8_T", "i", 1, True)
INT16_T = _predef(MPI_INT16_T, "INT16_T", "i", 2, True)
INT32_T = _predef(MPI_INT32_T, "INT32_T", "i", 4, True)
INT64_T = _predef(MPI_INT64_T, "INT64_T", "i", 8, True)
UINT8_T = _predef(MPI_UINT8_T, "UINT8_T", "u", 1, True)
UINT16_T = _predef(MPI_UINT16_T, "UINT16_T", "u", 2, True)
UINT32_T = _predef(MPI_UINT32_T, "UINT32_T", "u", 4, True)
UINT64_T = _predef(MPI_UINT64_T, "UINT64_T", "u", 8, True)
FLOAT16_T = _predef(MPIK_FLOAT16_T, "FLOAT16_T", "=e")
FLOAT32_T = FLOAT
FLOAT64_T = DOUBLE
BFLOAT16_T = _predef(MPIK_BFLOAT16_T, "BFLOAT16_T")
C_COMPLEX = _predef(MPI_C_FLOAT_COMPLEX, "C_COMPLEX", "=F")
C_FLOAT_COMPLEX = C_COMPLEX
C_DOUBLE_COMPLEX = _predef(MPI_C_DOUBLE_COMPLEX, "C_DOUBLE_COMPLEX", "=D")
C_LONG_DOUBLE_COMPLEX = _predef(MPI_C_LONG_DOUBLE_COMPLEX, "C_LONG_DOUBLE_COMPLEX", "=G")
# C++
CXX_BOOL = _predef(MPIK_CXX_BOOL, "CXX_BOOL", "=?")
CXX_FLOAT_COMPLEX = _predef(MPIK_CXX_FLOAT_COMPLEX, "CXX_FLOAT_COMPLEX", "=F")
CXX_DOUBLE_COMPLEX = _predef(MPIK_CXX_DOUBLE_COMPLEX, "CXX_DOUBLE_COMPLEX", "=D")
CXX_LONG_DOUBLE_COMPLEX = _predef(MPIK_CXX_LONG_DOUBLE_COMPLEX, "CXX_LONG_DOUBLE_COMPLEX", "=G")
# pairs for MINLOC/MAXLOC
SHORT_INT = _predef(MPI_SHORT_INT, "SHORT_INT")
INT_INT = TWOINT = _predef(MPI_2INT, "INT_INT")
LONG_INT = _predef(MPI_LONG_INT, "LONG_INT")
FLOAT_INT = _predef(MPI_FLOAT_INT, "FLOAT_INT")
DOUBLE_INT = _predef(MPI_DOUBLE_INT, "DOUBLE_INT")
LONG_DOUBLE_INT = _predef(MPI_LONG_DOUBLE_INT, "LONG_DOUBLE_INT")
# elementary Fortran (their sizes come from the library)
CHARACTER = _predef(MPI_CHARACTER, "CHARACTER", "=c")
LOGICAL = _predef(MPI_LOGICAL, "LOGICAL", "b")
INTEGER = _predef(MPI_INTEGER, "INTEGER", "i")
REAL = _predef(MPI_REAL, "REAL", "f")
DOUBLE_PRECISION = _predef(MPI_DOUBLE_PRECISION, "DOUBLE_PRECISION", "f")
COMPLEX = _predef(MPI_COMPLEX, "COMPLEX", "c")
DOUBLE_COMPLEX = _predef(MPI_DOUBLE_COMPLEX, "DOUBLE_COMPLEX", "c")
# size-specific Fortran
LOGICAL1 = _predef(MPIK_LOGICAL1, "LOGICAL1", "b", 1, True)
LOGICAL2 = _predef(MPIK_LOGICAL2, "LOGICAL2", "b", 2, True)
LOGICAL4 = _predef(MPIK_LOGICAL4, "LOGICAL4", "b", 4, True)
LOGICAL8 = _predef(MPIK_LOGICAL8, "LOGICAL8", "b", 8, True)
LOGICAL16 = _predef(MPIK_LOGICAL16, "LOGICAL16", "b", 16, True)
INTEGER1 = _predef(MPIK_INTEGER1, "INTEGER1", "i", 1, True)
INTEGER2 = _predef(MPIK_INTEGER2, "INTEGER2", "i", 2, True)
INTEGER4 = _predef(MPIK_INTEGER4, "INTEGER4", "i", 4, True)
INTEGER8 = _predef(MPIK_INTEGER8, "INTEGER8", "i", 8, True)
INTEGER16 = _predef(MPIK_INTEGER16, "INTEGER16", "i", 16, True)
REAL2 = _predef(MPIK_REAL2, "REAL2", "f", 2, True)
REAL4 = _predef(MPIK_REAL4, "REAL4", "f", 4, True)
REAL8 = _predef(MPIK_REAL8, "REAL8", "f", 8, True)
REAL16 = _predef(MPIK_REAL16, "REAL16", "f", 16, True)
COMPLEX4 = _predef(MPIK_COMPLEX4, "COMPLEX4", "c", 4, True)
COMPLEX8 = _predef(MPIK_COMPLEX8, "COMPLEX8", "c", 8, True)
COMPLEX16 = _predef(MPIK_COMPLEX16, "COMPLEX16", "c", 16, True)
COMPLEX32 = _predef(MPIK_COMPLEX32, "COMPLEX32", "c", 32, True)
# convenience aliases
UNSIGNED_INT = UNSIGNED
SIGNED_SHORT = SHORT
SIGNED_INT = INT
SIGNED_LONG = LONG
SIGNED_LONG_LONG = LONG_LONG
BOOL = C_BOOL
SINT8_T = INT8_T
SINT16_T = INT16_T
SINT32_T = INT32_T
SINT64_T = INT64_T
F_BOOL = LOGICAL
F_INT = INTEGER
F_FLOAT = REAL
F_DOUBLE = DOUBLE_PRECISION
F_COMPLEX = COMPLEX
F_FLOAT_COMPLEX = COMPLEX
F_DOUBLE_COMPLEX = DOUBLE_COMPLEX


cdef dict _typedict = {}    # mpi4py's TypeDict: character codes and type strings -> datatype


cdef _add_codes(dict d, object pairs):
    """Later entries win, as in mpi4py's typemap.pxi; null datatypes are left out."""
    for code, t in pairs:
        if (<Datatype>t).ob_mpi != MPI_DATATYPE_NULL:
            d[code] = t


_add_codes(_typedict, [
    ("?", CXX_BOOL), ("?", C_BOOL),
    ("b", SIGNED_CHAR), ("h", SHORT), ("i", INT), ("l", LONG), ("q", LONG_LONG),
    ("B", UNSIGNED_CHAR), ("H", UNSIGNED_SHORT), ("I", UNSIGNED), ("L", UNSIGNED_LONG),
    ("Q", UNSIGNED_LONG_LONG),
    ("e", REAL2), ("e", FLOAT16_T), ("f", FLOAT), ("d", DOUBLE), ("g", LONG_DOUBLE),
    ("Ze", COMPLEX4), ("Zf", COMPLEX8), ("Zd", COMPLEX16),
    ("E", COMPLEX4), ("F", COMPLEX8), ("D", COMPLEX16),
    ("Zf", CXX_FLOAT_COMPLEX), ("Zd", CXX_DOUBLE_COMPLEX), ("Zg", CXX_LONG_DOUBLE_COMPLEX),
    ("F", CXX_FLOAT_COMPLEX), ("D", CXX_DOUBLE_COMPLEX), ("G", CXX_LONG_DOUBLE_COMPLEX),
    ("Zf", C_FLOAT_COMPLEX), ("Zd", C_DOUBLE_COMPLEX), ("Zg", C_LONG_DOUBLE_COMPLEX),
    ("F", C_FLOAT_COMPLEX), ("D", C_DOUBLE_COMPLEX), ("G", C_LONG_DOUBLE_COMPLEX),
    ("i1", INTEGER1), ("i2", INTEGER2), ("i4", INTEGER4), ("i8", INTEGER8), ("i16", INTEGER16),
    ("f2", REAL2), ("f4", REAL4), ("f8", REAL8), ("f16", REAL16),
    ("c4", COMPLEX4), ("c8", COMPLEX8), ("c16", COMPLEX16), ("c32", COMPLEX32),
    ("b1", CXX_BOOL), ("b1", C_BOOL),
])
_add_codes(_typedict, [(code, t) for code, size, t in (
    ("i1", sizeof(char), SIGNED_CHAR), ("u1", sizeof(char), UNSIGNED_CHAR),
    ("i2", sizeof(short), SHORT), ("u2", sizeof(short), UNSIGNED_SHORT),
    ("i4", sizeof(long), LONG), ("u4", sizeof(long), UNSIGNED_LONG),
    ("i4", sizeof(int), INT), ("u4", sizeof(int), UNSIGNED),
    ("i8", sizeof(long long), LONG_LONG), ("u8", sizeof(long long), UNSIGNED_LONG_LONG),
    ("i8", sizeof(long), LONG), ("u8", sizeof(long), UNSIGNED_LONG),
) if size == int(code[1:])])
_add_codes(_typedict, [
    ("i1", INT8_T), ("i2", INT16_T), ("i4", INT32_T), ("i8", INT64_T),
    ("u1", UINT8_T), ("u2", UINT16_T), ("u4", UINT32_T), ("u8", UINT64_T),
    ("f2", FLOAT16_T),
])
_add_codes(_typedict, [(code, t) for code, size, t in (
    ("f4", sizeof(float), FLOAT), ("c8", 2 * sizeof(float), CXX_FLOAT_COMPLEX),
    ("c8", 2 * sizeof(float), C_FLOAT_COMPLEX),
    ("f8", sizeof(double), DOUBLE), ("c16", 2 * sizeof(double), CXX_DOUBLE_COMPLEX),
    ("c16", 2 * sizeof(double), C_DOUBLE_COMPLEX),
    ("f12", sizeof(long double), LONG_DOUBLE),
    ("c24", 2 * sizeof(long double), CXX_LONG_DOUBLE_COMPLEX),
    ("c24", 2 * sizeof(long double), C_LONG_DOUBLE_COMPLEX),
    ("f16", sizeof(long double), LONG_DOUBLE),
    ("c32", 2 * sizeof(long double), CXX_LONG_DOUBLE_COMPLEX),
    ("c32", 2 * sizeof(long double), C_LONG_DOUBLE_COMPLEX),
) if size == int(code[1:])])
_add_codes(_typedict, [(code, t) for code, size, t in (
    ("n", sizeof(long long), LONG_LONG), ("N", sizeof(long long), UNSIGNED_LONG_LONG),
    ("n", sizeof(long), LONG), ("N", sizeof(long), UNSIGNED_LONG),
    ("n", sizeof(MPI_Count), COUNT),
    ("p", sizeof(long long), LONG_LONG), ("P", sizeof(long long), UNSIGNED_LONG_LONG),
    ("p", sizeof(long), LONG), ("P", sizeof(long), UNSIGNED_LONG),
    ("p", sizeof(MPI_Aint), AINT),
) if size == sizeof(void *)])
_add_codes(_typedict, [
    ("c", CHAR), ("a", CHAR), ("S", CHAR), ("S1", CHAR), ("s", CHAR), ("1s", CHAR),
    ("u", UNSIGNED_SHORT), ("1u", UNSIGNED_SHORT), ("u", UINT16_T), ("1u", UINT16_T),
    ("w", UNSIGNED), ("1w", UNSIGNED), ("w", UINT32_T), ("1w", UINT32_T),
    ("M", INT64_T), ("M8", INT64_T), ("m", INT64_T), ("m8", INT64_T),
])
if sizeof(wchar_t) == 4:
    _add_codes(_typedict, [("U", WCHAR), ("U1", WCHAR), ("w", WCHAR), ("1w", WCHAR)])


# buffer formats (struct-module / numpy typecodes) -> datatype, for msgbuffer.pxi
cdef dict _typemap = {
    "?": C_BOOL, "c": CHAR, "b": SIGNED_CHAR, "B": UNSIGNED_CHAR,
    "h": SHORT, "H": UNSIGNED_SHORT, "i": INT, "I": UNSIGNED,
    "l": LONG, "L": UNSIGNED_LONG, "q": LONG_LONG, "Q": UNSIGNED_LONG_LONG,
    "f": FLOAT, "d": DOUBLE, "g": LONG_DOUBLE,
    "Zf": C_FLOAT_COMPLEX, "Zd": C_DOUBLE_COMPLEX, "Zg": C_LONG_DOUBLE_COMPLEX,
    "F": C_FLOAT_COMPLEX, "D": C_DOUBLE_COMPLEX, "G": C_LONG_DOUBLE_COMPLEX,
}
for _code, _t in _typedict.items():
    _typemap.setdefault(_code, _t)
del _code, _t


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


# -- mpi4py's private _typecode / _typealign (what mpi4py.util.dtlib asks) ---------------------

cdef object _align_of_code(code):
    """The alignment of a character code or type string: a scalar's size, half a complex's."""
    entry = _CHAR_STR.get(code, code)
    if isinstance(entry, tuple):
        kind, size = entry
    else:
        kind, size = entry[0], int(entry[1:])
        if kind in "SU":                    # 'S1' a char, 'U1' a UCS-4 character
            return 1 if kind == "S" else 4
    return size // 2 if kind == "c" else size


def _typecode(Datatype datatype):
    """The character code or type string of a predefined datatype (or a Dup of one), else None:
    tocode() without the ValueError, as mpi4py's MPI._typecode."""
    return _code_of(datatype, 2)


# (value type, the MPI-1 pair type of (value, INT)) for MINLOC/MAXLOC: what Get_value_index
# answers before MPI 4.1, and how _typealign aligns a pair
_VALUE_INT_PAIRS = ((SHORT, SHORT_INT), (INT, INT_INT), (LONG, LONG_INT), (FLOAT, FLOAT_INT),
                    (DOUBLE, DOUBLE_INT), (LONG_DOUBLE, LONG_DOUBLE_INT))


def _typealign(Datatype datatype):
    """The alignment in bytes of a predefined datatype (or a Dup of one) or a value-index pair;
    None for anything else (as mpi4py's MPI._typealign)."""
    code = _code_of(datatype, 2)
    if code is not None:
        return _align_of_code(code)
    for value, pair in _VALUE_INT_PAIRS:
        if datatype == pair and pair != DATATYPE_NULL:
            return max(_typealign(value), _typealign(INT))
    return None
