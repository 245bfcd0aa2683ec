# Info: MPI's string-to-string hints (for Comm.Dup_with_info, Split_type, Create_dist_graph,
# ...), as mpi4py has it: MPI_Info_* calls plus a dict-like face (info["key"], keys(), items()).

cdef class Info:
    """Key/value string hints passed to MPI (mpi4py's MPI.Info; behaves like a dict)."""
    cdef MPI_Info ob_mpi
    cdef int flags

    def __cinit__(self, Info info=None):
        self.ob_mpi = MPI_INFO_NULL
        self.flags = 0
        if info is not None:
            self.ob_mpi = info.ob_mpi

    def __eq__(self, other):
        if not isinstance(other, Info):
            return NotImplemented
        return self.ob_mpi == (<Info>other).ob_mpi

    def __ne__(self, other):
        if not isinstance(other, Info):
            return NotImplemented
        return self.ob_mpi != (<Info>other).ob_mpi

    def __hash__(self):
        return hash(<intptr_t>self.ob_mpi)

    def __bool__(self):
        return self.ob_mpi != MPI_INFO_NULL

    def __reduce__(self):
        if self.ob_mpi != MPI_INFO_NULL and self.ob_mpi != MPI_INFO_ENV:
            return (type(self).Create, (self.items(),))     # its items, as mpi4py
        return _reduce_predefined(self, {INFO_NULL: "INFO_NULL", INFO_ENV: "INFO_ENV"}, "Info")

    @property
    def handle(self):
        return <intptr_t>self.ob_mpi

    @classmethod
    def fromhandle(cls, handle):
        cdef Info i = Info.__new__(Info)
        i.ob_mpi = <MPI_Info><intptr_t>handle
        return i

    def py2f(self):
        return MPI_Info_c2f(self.ob_mpi)

    @classmethod
    def f2py(cls, arg):
        cdef Info i = Info.__new__(Info)
        i.ob_mpi = MPI_Info_f2c(arg)
        return i

    # -- MPI calls ----------------------------------------------------------------------------

    @classmethod
    def Create(cls, items=None):
        """A new, empty info object; filled from a mapping or (key, value) pairs if given."""
        cdef Info info = Info.__new__(Info)
        CHKERR(MPI_Info_create(&info.ob_mpi))
        if items is not None:
            info.update(items)
        return info

    @classmethod
    def Create_env(cls, args=None):
        """The info MPI would give a process started with args (MPI 4: like INFO_ENV)."""
        cdef Info info = Info.__new__(Info)
        cdef list keep = [str(a).encode() for a in (args or ())]
        cdef int argc = len(keep), i
        cdef char **argv = <char **>malloc((argc + 1) * sizeof(char *))
        if not MPIK_HAVE_MPI4:
            free(argv)
            raise NotImplementedError("Info.Create_env needs an MPI 4 library")
        try:
            for i in range(argc):
                argv[i] = <char *>(<bytes>keep[i])
            argv[argc] = NULL
            CHKERR(MPI_Info_create_env(argc, argv if argc else NULL, &info.ob_mpi))
        finally:
            free(argv)
        return info

    def Free(self):
        _check_info(self, b"Free")
        if self.flags & COMM_PREDEFINED:
            usage_error(MPI_ERR_INFO, "Info.Free: cannot free the predefined INFO_ENV")
        CHKERR(MPI_Info_free(&self.ob_mpi))

    def free(self):
        if self.ob_mpi != MPI_INFO_NULL and not self.flags & COMM_PREDEFINED:
            self.Free()

    def Dup(self):
        cdef Info info = Info.__new__(Info)
        _check_info(self, b"Dup")
        CHKERR(MPI_Info_dup(self.ob_mpi, &info.ob_mpi))
        return info

    def Get(self, key):
        """The value of key, or None if it is not set."""
        cdef int buflen = 0, flag = 0
        _check_info(self, b"Get")
        k = _info_str(key, MPI_MAX_INFO_KEY, b"key")
        CHKERR(MPI_Info_get_string(self.ob_mpi, k, &buflen, NULL, &flag))
        if not flag:
            return None
        value = new_bytearray(buflen + 1)
        CHKERR(MPI_Info_get_string(self.ob_mpi, k, &buflen, PyByteArray_AS_STRING(value), &flag))
        return bytes(value).split(b"\0", 1)[0].decode()

    def Set(self, key, value):
        _check_info(self, b"Set")
        k = _info_str(key, MPI_MAX_INFO_KEY, b"key")
        v = _info_str(value, MPI_MAX_INFO_VAL, b"value")
        CHKERR(MPI_Info_set(self.ob_mpi, k, v))

    def Delete(self, key):
        """Remove key (MPI.Exception with ERR_INFO_NOKEY if it is not set)."""
        _check_info(self, b"Delete")
        CHKERR(MPI_Info_delete(self.ob_mpi, _info_str(key, MPI_MAX_INFO_KEY, b"key")))

    def Get_nkeys(self):
        cdef int n = 0
        _check_info(self, b"Get_nkeys")
        CHKERR(MPI_Info_get_nkeys(self.ob_mpi, &n))
        return n

    def Get_nthkey(self, int n):
        cdef char key[MPI_MAX_INFO_KEY + 1]
        _check_info(self, b"Get_nthkey")
        key[0] = 0
        CHKERR(MPI_Info_get_nthkey(self.ob_mpi, n, key))
        return key.decode()

    # -- the dict-like face (an INFO_NULL is an empty mapping) -------------------------------

    def __len__(self):
        return 0 if not self else self.Get_nkeys()

    def __contains__(self, key):
        return bool(self) and self.Get(key) is not None

    def __iter__(self):
        return iter(self.keys())

    def __getitem__(self, key):
        value = self.Get(key) if self else None
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key, value):
        _writable_mapping(self)
        self.Set(key, value)

    def __delitem__(self, key):
        _writable_mapping(self)
        if key not in self:
            raise KeyError(key)
        self.Delete(key)

    def get(self, key, default=None):
        value = self.Get(key) if self else None
        return default if value is None else value

    def keys(self):
        return [self.Get_nthkey(i) for i in range(len(self))]

    def values(self):
        return [self.Get(k) for k in self.keys()]

    def items(self):
        return [(k, self.Get(k)) for k in self.keys()]

    def update(self, items=(), **kwds):
        _writable_mapping(self)
        if hasattr(items, "keys"):
            items = [(k, items[k]) for k in items.keys()]
        for k, v in items:
            self.Set(k, v)
        for k, v in kwds.items():
            self.Set(k, v)

    def pop(self, key, *default):
        if default and not self:
            return default[0]
        _writable_mapping(self)
        if key in self:
            value = self.Get(key)
            self.Delete(key)
            return value
        if default:
            return default[0]
        raise KeyError(key)

    def popitem(self):
        _writable_mapping(self)
        n = len(self)
        if n == 0:
            raise KeyError("popitem(): info is empty")
        key = self.Get_nthkey(n - 1)
        value = self.Get(key)
        self.Delete(key)
        return (key, value)

    def copy(self):
        return self.Dup() if self else Info()

    def clear(self):
        for key in self.keys():
            self.Delete(key)


INFO_NULL = Info()
INFO_ENV = Info()
(<Info>INFO_ENV).ob_mpi = MPI_INFO_ENV
(<Info>INFO_ENV).flags = COMM_PREDEFINED
(<Info>INFO_NULL).flags = COMM_PREDEFINED


cdef int _check_info(Info info, const char *what) except -1:
    if info.ob_mpi == MPI_INFO_NULL:
        return usage_error(MPI_ERR_ARG, f"Info.{what.decode()}: the info object is INFO_NULL "
                           "(it was freed, or never made: use MPI.Info.Create())")
    return 0


cdef int _writable_mapping(Info info) except -1:
    """INFO_NULL is an empty mapping that cannot be changed (KeyError, as mpi4py)."""
    if info.ob_mpi == MPI_INFO_NULL:
        raise KeyError("INFO_NULL cannot be changed: make one with MPI.Info.Create()")
    return 0


cdef bytes _info_str(object s, int limit, const char *arg):
    if not isinstance(s, str):
        raise TypeError(f"Info: {arg.decode()} must be a str, got {type(s).__name__}")
    b = s.encode()
    if len(b) > limit:
        usage_error(MPI_ERR_INFO_KEY if arg[0] == b"k" else MPI_ERR_INFO_VALUE,
                    f"Info: {arg.decode()} {s[:40]!r}... is longer than MPI's limit of {limit}")
    return b


cdef MPI_Info _info_arg(object info) except? NULL:
    """An `info` argument: None or an Info (INFO_NULL allowed)."""
    if info is None:
        return MPI_INFO_NULL
    if not isinstance(info, Info):
        raise TypeError(f"info must be an MPI.Info (or None), got {type(info).__name__}")
    return (<Info>info).ob_mpi


cdef object _reduce_predefined(object obj, dict names, str kind):
    """Pickling: a predefined handle pickles as its name (and unpickles to the same object);
    any other is a local MPI object, meaningless in another process."""
    for const, name in names.items():
        if obj is const:
            return name
    for const, name in names.items():
        if obj == const:
            return (type(obj), (const,))
    raise ValueError(f"cannot pickle a {kind} object: it is local to this MPI process")
