# Groups: the ordered sets of processes communicators are made of (Comm.Get_group, Comm.Create).
# Local objects (no communication), so every call is its MPI_Group_* function; a freed or stale
# group and a rank list that is not a list of ints are caught here with a sentence of our own.

import weakref as _weakref_g

cdef object _derived_groups = _weakref_g.WeakSet()   # groups of the world; stale after a reset


cdef class Group:
    """An ordered set of processes (mpi4py's MPI.Group)."""
    cdef MPI_Group ob_mpi
    cdef int flags
    cdef bint stale
    cdef object __weakref__

    def __cinit__(self, Group group=None):
        self.ob_mpi = MPI_GROUP_NULL
        self.flags = 0
        self.stale = False
        if group is not None:
            self.ob_mpi = group.ob_mpi

    def __dealloc__(self):
        # mpi4py frees only on Free(); a forgotten group is a small leak, as there
        pass

    def __eq__(self, other):
        if not isinstance(other, Group):
            return NotImplemented
        return self.ob_mpi == (<Group>other).ob_mpi

    def __ne__(self, other):
        if not isinstance(other, Group):
            return NotImplemented
        return self.ob_mpi != (<Group>other).ob_mpi

    def __hash__(self):
        return hash(<intptr_t>self.ob_mpi)

    def __bool__(self):
        return self.ob_mpi != MPI_GROUP_NULL

    def __reduce__(self):
        return _reduce_predefined(self, {GROUP_NULL: "GROUP_NULL", GROUP_EMPTY: "GROUP_EMPTY"},
                                  "Group")

    def __repr__(self):
        if self.ob_mpi == MPI_GROUP_NULL:
            return "<mpikernel.MPI.Group NULL>"
        return f"<mpikernel.MPI.Group of {self.Get_size()}>"

    @property
    def handle(self):
        return <intptr_t>self.ob_mpi

    @classmethod
    def fromhandle(cls, handle):
        cdef Group g = Group.__new__(Group)
        g.ob_mpi = <MPI_Group><intptr_t>handle
        return g

    def py2f(self):
        return MPI_Group_c2f(self.ob_mpi)

    @classmethod
    def f2py(cls, arg):
        cdef Group g = Group.__new__(Group)
        g.ob_mpi = MPI_Group_f2c(arg)
        return g

    # -- accessors ------------------------------------------------------------------------

    def Get_size(self):
        cdef int size = -1
        check_group(self, b"Get_size")
        CHKERR(MPI_Group_size(self.ob_mpi, &size))
        return size

    def Get_rank(self):
        """This process's rank in the group, or MPI.UNDEFINED if it is not a member."""
        cdef int rank = MPI_UNDEFINED
        check_group(self, b"Get_rank")
        CHKERR(MPI_Group_rank(self.ob_mpi, &rank))
        return rank

    size = property(Get_size)
    rank = property(Get_rank)

    def Translate_ranks(self, ranks=None, Group group=None):
        """The ranks in `group` (default: COMM_WORLD's group) of `ranks` of this group
        (default: all of them); MPI.UNDEFINED for a process not in `group`."""
        cdef MPI_Group other = MPI_GROUP_NULL
        cdef int n = 0, i
        check_group(self, b"Translate_ranks")
        if ranks is None:
            n = self.Get_size()
            ranks = range(n)
        cdef _IntArray src = _IntArray(ranks, b"Translate_ranks", b"ranks")
        n = src.n
        cdef _IntArray dst = _IntArray.of_size(n)
        if group is not None:
            check_group(group, b"Translate_ranks")
            CHKERR(MPI_Group_translate_ranks(self.ob_mpi, n, src.p, group.ob_mpi, dst.p))
        else:
            CHKERR(MPI_Comm_group(MPI_COMM_WORLD, &other))
            try:
                CHKERR(MPI_Group_translate_ranks(self.ob_mpi, n, src.p, other, dst.p))
            finally:
                MPI_Group_free(&other)
        return dst.tolist()

    def Compare(self, Group group):
        """MPI.IDENT (same members, same order), SIMILAR (same members) or UNEQUAL."""
        cdef int result = MPI_UNEQUAL
        check_group(self, b"Compare")
        check_group(group, b"Compare")
        CHKERR(MPI_Group_compare(self.ob_mpi, group.ob_mpi, &result))
        return result

    # -- constructors -------------------------------------------------------------------------

    def Dup(self):
        check_group(self, b"Dup")
        return _group_op(self, GROUP_EMPTY, 0, b"Dup")

    @classmethod
    def Union(cls, Group group1, Group group2):
        return _group_op(group1, group2, 0, b"Union")

    @classmethod
    def Intersection(cls, Group group1, Group group2):
        return _group_op(group1, group2, 1, b"Intersection")

    Intersect = Intersection

    @classmethod
    def Difference(cls, Group group1, Group group2):
        return _group_op(group1, group2, 2, b"Difference")

    def Incl(self, ranks):
        """The group of the listed ranks of this one, in that order."""
        return _group_pick(self, ranks, False, b"Incl")

    def Excl(self, ranks):
        """This group without the listed ranks."""
        return _group_pick(self, ranks, True, b"Excl")

    def Range_incl(self, ranks):
        """The group of the ranks in the (first, last, stride) triplets."""
        return _group_ranges(self, ranks, False, b"Range_incl")

    def Range_excl(self, ranks):
        return _group_ranges(self, ranks, True, b"Range_excl")

    def Free(self):
        check_group(self, b"Free")
        if self.flags & COMM_PREDEFINED:
            usage_error(MPI_ERR_GROUP, "Group.Free: cannot free a predefined group "
                        "(GROUP_EMPTY)")
        CHKERR(MPI_Group_free(&self.ob_mpi))
        _derived_groups.discard(self)

    def free(self):
        """Free it unless it is null or predefined (mpi4py's lowercase free)."""
        if self.ob_mpi != MPI_GROUP_NULL and not self.flags & COMM_PREDEFINED:
            self.Free()


GROUP_NULL = Group()
GROUP_EMPTY = Group()
(<Group>GROUP_EMPTY).ob_mpi = MPI_GROUP_EMPTY
(<Group>GROUP_EMPTY).flags = COMM_PREDEFINED
(<Group>GROUP_NULL).flags = COMM_PREDEFINED


cdef int check_group(Group g, const char *what) except -1:
    if g.stale:
        return usage_error(MPI_ERR_GROUP, f"{what.decode()}: this group was taken from a "
                           "communicator of the world an interrupt reset; take it again "
                           "(comm.Get_group())")
    if g.ob_mpi == MPI_GROUP_NULL:
        return usage_error(MPI_ERR_GROUP, f"{what.decode()}: the group is GROUP_NULL "
                           "(it was freed, or never made)")
    return 0


cdef Group _new_group(MPI_Group handle, bint from_world):
    cdef Group g = Group.__new__(Group)
    g.ob_mpi = handle
    if from_world and handle != MPI_GROUP_EMPTY:
        _derived_groups.add(g)
    return g


cdef bint _group_from_world(Group a) noexcept:
    return a in _derived_groups


cdef Group _group_op(Group a, Group b, int which, const char *what):
    cdef MPI_Group out = MPI_GROUP_NULL
    check_group(a, what)
    check_group(b, what)
    if which == 0:
        CHKERR(MPI_Group_union(a.ob_mpi, b.ob_mpi, &out))
    elif which == 1:
        CHKERR(MPI_Group_intersection(a.ob_mpi, b.ob_mpi, &out))
    else:
        CHKERR(MPI_Group_difference(a.ob_mpi, b.ob_mpi, &out))
    return _new_group(out, _group_from_world(a) or _group_from_world(b))


cdef int _check_group_ranks(Group g, _IntArray r, const char *what) except -1:
    """Every rank a member of g (MPI would say only 'invalid rank')."""
    cdef int size = g.Get_size(), i
    for i in range(r.n):
        if r.p[i] < 0 or r.p[i] >= size:
            return usage_error(MPI_ERR_RANK, f"Group.{what.decode()}: rank {r.p[i]} is not in "
                               f"this group of {size} (ranks 0..{size - 1})")
    return 0


cdef Group _group_pick(Group g, ranks, bint excl, const char *what):
    cdef MPI_Group out = MPI_GROUP_NULL
    check_group(g, what)
    cdef _IntArray r = _IntArray(ranks, what, b"ranks")
    _check_group_ranks(g, r, what)
    if excl:
        CHKERR(MPI_Group_excl(g.ob_mpi, r.n, r.p, &out))
    else:
        CHKERR(MPI_Group_incl(g.ob_mpi, r.n, r.p, &out))
    return _new_group(out, _group_from_world(g))


cdef Group _group_ranges(Group g, ranks, bint excl, const char *what):
    cdef MPI_Group out = MPI_GROUP_NULL
    check_group(g, what)
    flat = []
    for triplet in ranks:
        t = tuple(triplet)
        if len(t) != 3:
            raise ValueError(f"Group.{what.decode()}: each range is (first, last, stride), "
                             f"got {triplet!r}")
        flat.extend(t)
    cdef _IntArray r = _IntArray(flat, what, b"ranks")
    if excl:
        CHKERR(MPI_Group_range_excl(g.ob_mpi, r.n // 3, <int (*)[3]>r.p, &out))
    else:
        CHKERR(MPI_Group_range_incl(g.ob_mpi, r.n // 3, <int (*)[3]>r.p, &out))
    return _new_group(out, _group_from_world(g))


cdef int _stale_groups() except -1:
    """After _reset_world: the world's groups are marked stale (a clear error if used)."""
    cdef Group g
    for obj in list(_derived_groups):
        g = <Group>obj
        g.ob_mpi = MPI_GROUP_NULL
        g.stale = True
    _derived_groups.clear()
    return 0
