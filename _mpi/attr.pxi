# Communicator attributes and keyvals, as mpi4py has them: a keyval made with
# Comm.Create_keyval holds Python objects (a reference is kept while the attribute is set) or,
# with nopython=True, plain integers (addresses); copy_fn decides what Dup copies (None/False:
# nothing, True: the same object, a function (comm, keyval, value) -> new value or
# NotImplemented), delete_fn is called when the attribute goes (Delete_attr, Free, overwrite).
# Predefined keyvals (TAG_UB, HOST, ...) read as ints.

from cpython.ref cimport Py_INCREF, Py_DECREF

KEYVAL_INVALID = MPI_KEYVAL_INVALID
HOST = MPI_HOST
IO = MPI_IO
WTIME_IS_GLOBAL = MPI_WTIME_IS_GLOBAL
UNIVERSE_SIZE = MPI_UNIVERSE_SIZE
APPNUM = MPI_APPNUM
LASTUSEDCODE = MPI_LASTUSEDCODE

cdef frozenset _PREDEFINED_KEYVALS = frozenset(
    [MPI_TAG_UB, MPI_HOST, MPI_IO, MPI_WTIME_IS_GLOBAL, MPI_UNIVERSE_SIZE, MPI_APPNUM,
     MPI_LASTUSEDCODE])


@cython.final
cdef class _Keyval:
    """What one Create_keyval asked for; MPI passes it back as extra_state (kept alive in
    _keyvals for as long as the module lives, as attributes may outlive Free_keyval)."""
    cdef object copy_fn
    cdef object delete_fn
    cdef bint nopython


cdef dict _keyvals = {}          # keyval -> _Keyval (of this module's Create_keyval)
cdef list _freed_keyvals = []    # their _Keyval after Free_keyval: MPI may still call them
cdef object _attr_error = None   # an exception a copy/delete function raised inside MPI


cdef Comm _comm_view(MPI_Comm handle):
    """A Comm object for a handle MPI hands a callback (never freed through it)."""
    cdef Comm c = Comm.__new__(Comm)
    c.ob_mpi = handle
    c.flags = COMM_PREDEFINED
    return c


cdef object _attr_value(_Keyval k, void *value):
    return <intptr_t>value if k.nopython else <object>value


cdef int _attr_copy(MPI_Comm oldcomm, int keyval, void *extra, void *value_in, void *value_out,
                    int *flag) noexcept with gil:
    global _attr_error
    cdef _Keyval k = <_Keyval>extra
    flag[0] = 0
    try:
        value = _attr_value(k, value_in)
        if k.copy_fn is True:
            new = value
        else:
            new = k.copy_fn(_comm_view(oldcomm), keyval, value)
            if new is NotImplemented:
                return MPI_SUCCESS
        if k.nopython:
            (<void **>value_out)[0] = <void *><intptr_t>new
        else:
            Py_INCREF(new)
            (<void **>value_out)[0] = <void *>new
        flag[0] = 1
        return MPI_SUCCESS
    except BaseException as exc:
        _attr_error = exc
        return MPI_ERR_OTHER


cdef int _attr_delete(MPI_Comm comm, int keyval, void *value, void *extra) noexcept with gil:
    global _attr_error
    cdef _Keyval k = <_Keyval>extra
    try:
        if k.delete_fn is not None:
            k.delete_fn(_comm_view(comm), keyval, _attr_value(k, value))
        return MPI_SUCCESS
    except BaseException as exc:
        _attr_error = exc
        return MPI_ERR_OTHER
    finally:
        if not k.nopython:
            Py_DECREF(<object>value)


cdef int _attr_chk(int ierr) except -1:
    """CHKERR, but an exception a copy/delete function raised is raised as itself."""
    global _attr_error
    if ierr == MPI_SUCCESS:
        _attr_error = None
        return 0
    exc, _attr_error = _attr_error, None
    if exc is not None:
        raise exc
    return CHKERR(ierr)


cdef int _create_keyval(copy_fn, delete_fn, bint nopython) except? -1:
    cdef int keyval = MPI_KEYVAL_INVALID
    cdef _Keyval k = _Keyval.__new__(_Keyval)
    if copy_fn is False:
        copy_fn = None
    if copy_fn is not None and copy_fn is not True and not callable(copy_fn):
        raise TypeError(f"Create_keyval: copy_fn must be None, True, False or a function "
                        f"(comm, keyval, value) -> value, got {copy_fn!r}")
    if delete_fn is not None and not callable(delete_fn):
        raise TypeError(f"Create_keyval: delete_fn must be None or a function "
                        f"(comm, keyval, value), got {delete_fn!r}")
    k.copy_fn = copy_fn
    k.delete_fn = delete_fn
    k.nopython = nopython
    CHKERR(MPI_Comm_create_keyval(
        MPI_COMM_NULL_COPY_FN if copy_fn is None else _attr_copy, _attr_delete, &keyval,
        <void *>k))
    _keyvals[keyval] = k
    return keyval


cdef int _free_keyval(int keyval) except -1:
    cdef int kv = keyval
    if keyval not in _keyvals:
        return usage_error(MPI_ERR_KEYVAL, f"Free_keyval: {keyval} is not a keyval made with "
                           "Comm.Create_keyval (or it was freed already)")
    CHKERR(MPI_Comm_free_keyval(&kv))
    _freed_keyvals.append(_keyvals.pop(keyval))
    return 0


cdef _Keyval _user_keyval(int keyval, const char *what):
    k = _keyvals.get(keyval)
    if k is None:
        if keyval in _PREDEFINED_KEYVALS:
            usage_error(MPI_ERR_KEYVAL, f"{what.decode()}: keyval {keyval} is predefined by MPI "
                        "(read-only)")
        usage_error(MPI_ERR_KEYVAL, f"{what.decode()}: {keyval} is not a keyval of "
                    "Comm.Create_keyval (or it was freed)")
    return <_Keyval>k


cdef object _get_attr(Comm comm, int keyval):
    cdef void *value = NULL
    cdef int flag = 0
    check_comm(comm)
    CHKERR(MPI_Comm_get_attr(comm.ob_mpi, keyval, &value, &flag))
    if not flag:
        return None
    if keyval in _PREDEFINED_KEYVALS:
        return (<int *>value)[0] if value != NULL else None
    k = _keyvals.get(keyval)
    if k is None:
        return <intptr_t>value
    return _attr_value(<_Keyval>k, value)


cdef int _set_attr(Comm comm, int keyval, object attrval) except -1:
    check_comm(comm)
    cdef _Keyval k = _user_keyval(keyval, b"Set_attr")
    cdef void *value
    if k.nopython:
        value = <void *><intptr_t>attrval.__index__()
    else:
        value = <void *>attrval
        Py_INCREF(attrval)
    cdef int ierr = MPI_Comm_set_attr(comm.ob_mpi, keyval, value)
    if ierr != MPI_SUCCESS and not k.nopython:
        Py_DECREF(attrval)
    return _attr_chk(ierr)


cdef int _delete_attr(Comm comm, int keyval) except -1:
    check_comm(comm)
    _user_keyval(keyval, b"Delete_attr")
    return _attr_chk(MPI_Comm_delete_attr(comm.ob_mpi, keyval))
