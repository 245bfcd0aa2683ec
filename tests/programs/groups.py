"""Groups, communicator constructors, names, attributes and keyvals, Info and error handlers:
the same checks under mpi4py and mpikernel.MPI must give the same values and raise the same
exception classes (MPI error classes included) for bad input. Works on any number of ranks."""

from harness import MPI, RANK, SIZE, check, done, raises

W = MPI.COMM_WORLD
G = W.Get_group()

# -- groups -------------------------------------------------------------------------------------
check("group size, rank", lambda: (G.Get_size(), G.Get_rank(), G.size, G.rank), (SIZE, RANK, SIZE, RANK))
check("Compare self", lambda: MPI.Group.Compare(G, G), MPI.IDENT)
check("Incl reversed", lambda: G.Incl(list(range(SIZE))[::-1]).Translate_ranks([0], G))
check("Excl 0 size", lambda: G.Excl([0]).Get_size(), SIZE - 1)
check("Excl 0 rank", lambda: G.Excl([0]).Get_rank())
check("Range_incl evens", lambda: G.Range_incl([(0, SIZE - 1, 2)]).Translate_ranks(None, G))
check("Range_excl evens", lambda: G.Range_excl([(0, SIZE - 1, 2)]).Get_size())
check("Union", lambda: MPI.Group.Union(G.Incl([0]), G).Translate_ranks(None, G))
check("Intersection", lambda: MPI.Group.Intersection(G.Excl([0]), G).Get_size(), SIZE - 1)
check("Difference", lambda: MPI.Group.Difference(G, G.Incl([0])).Get_size(), SIZE - 1)
check("Difference empty", lambda: MPI.Group.Compare(MPI.Group.Difference(G, G),
                                                    MPI.GROUP_EMPTY), MPI.IDENT)
check("Compare reversed", lambda: MPI.Group.Compare(G, G.Incl(list(range(SIZE))[::-1])))
check("Translate to world", lambda: G.Translate_ranks([0]), [0])
check("Translate to EMPTY", lambda: G.Translate_ranks([0], MPI.GROUP_EMPTY), [MPI.UNDEFINED])
check("GROUP_EMPTY size, rank", lambda: (MPI.GROUP_EMPTY.size, MPI.GROUP_EMPTY.rank),
      (0, MPI.UNDEFINED))
check("GROUP_NULL is false", lambda: bool(MPI.GROUP_NULL), False)
check("Dup compares IDENT", lambda: MPI.Group.Compare(G.Dup(), G), MPI.IDENT)

# -- communicators made from groups -----------------------------------------------------------------
def create_evens(create):
    evens = G.Range_incl([(0, SIZE - 1, 2)])
    comm = create(evens)
    if comm == MPI.COMM_NULL:
        return "COMM_NULL"
    out = (type(comm).__name__, comm.Get_size(), comm.Get_rank(), comm.allreduce(RANK))
    comm.Free()
    return out


check("Create evens", lambda: create_evens(W.Create))
check("Create_group evens", lambda: create_evens(
    lambda g: W.Create_group(g) if g.rank != MPI.UNDEFINED else MPI.COMM_NULL))
check("Split_type SHARED", lambda: W.Split_type(MPI.COMM_TYPE_SHARED).allreduce(1), SIZE)
check("Split_type UNDEFINED", lambda: W.Split_type(MPI.UNDEFINED) == MPI.COMM_NULL, True)
check("Compare Dup", lambda: W.Compare(W.Dup()), MPI.CONGRUENT)
check("Compare self", lambda: W.Compare(W), MPI.IDENT)
check("Compare reversed split", lambda: W.Compare(W.Split(0, -RANK)),
      MPI.CONGRUENT if SIZE == 1 else MPI.SIMILAR)
check("Compare SELF", lambda: W.Compare(MPI.COMM_SELF), MPI.CONGRUENT if SIZE == 1 else MPI.UNEQUAL)


def idup():
    comm, req = W.Idup()
    req.Wait()
    return (comm.Get_size(), comm.allreduce(RANK), W.Compare(comm))


check("Idup", idup, (SIZE, SIZE * (SIZE - 1) // 2, MPI.CONGRUENT))
check("Dup_with_info", lambda: W.Dup_with_info(MPI.INFO_NULL).allreduce(1), SIZE)
check("Set_name/name", lambda: (W.Dup().__setattr__("name", "mine"), None)[1], None)


def named():
    comm = W.Dup()
    comm.Set_name("grid")
    return (comm.Get_name(), comm.name)


check("names", named, ("grid", "grid"))
check("f2py round trip", lambda: MPI.Comm.f2py(W.py2f()) == W, True)
check("handleof equals handle", lambda: MPI._handleof(W) == W.handle, True)
check("Get_info is an Info", lambda: type(W.Get_info()).__name__, "Info")

# -- attributes ---------------------------------------------------------------------------------------
check("TAG_UB at least 32767", lambda: W.Get_attr(MPI.TAG_UB) >= 32767, True)


def attrs(copy_fn, value=None):
    seen = []
    kv = MPI.Comm.Create_keyval(copy_fn, lambda c, k, v: seen.append(("deleted", v)))
    W.Set_attr(kv, value if value is not None else [1, 2, 3])
    got = W.Get_attr(kv)
    dup = W.Dup()
    copied = dup.Get_attr(kv)
    dup.Free()
    W.Delete_attr(kv)
    after = W.Get_attr(kv)
    MPI.Comm.Free_keyval(kv)
    return (got, copied, after, seen)


check("attr copy True", lambda: attrs(True))
check("attr no copy", lambda: attrs(None))
check("attr copy fn", lambda: attrs(lambda c, k, v: v + ["copied"]))
check("attr copy NotImplemented", lambda: attrs(lambda c, k, v: NotImplemented))
check("Free_keyval returns KEYVAL_INVALID", lambda: MPI.Comm.Free_keyval(
    MPI.Comm.Create_keyval()) == MPI.KEYVAL_INVALID, True)


def nopython():
    kv = MPI.Comm.Create_keyval(True, nopython=True)
    W.Set_attr(kv, 123456)
    dup = W.Dup()
    out = (W.Get_attr(kv), dup.Get_attr(kv))
    dup.Free()
    W.Delete_attr(kv)
    MPI.Comm.Free_keyval(kv)
    return out


check("attr nopython", nopython, (123456, 123456))

# -- Info ------------------------------------------------------------------------------------------
def info_dict():
    info = MPI.Info.Create({"a": "1", "b": "two"})
    info["c"] = "3"
    del info["a"]
    out = (sorted(info.items()), len(info), "b" in info, info.get("zz", "dflt"), info.Get("zz"),
           info.Get_nkeys(), sorted(info.keys()), info.pop("c"), info.Dup().items())
    info.Free()
    return out


check("Info as a dict", info_dict)
check("INFO_NULL is empty", lambda: (len(MPI.INFO_NULL), MPI.INFO_NULL.items(), bool(MPI.INFO_NULL)))
check("INFO_ENV is an Info", lambda: (type(MPI.INFO_ENV).__name__, bool(MPI.INFO_ENV)))

# -- error handlers and classes ----------------------------------------------------------------------
def errhandlers():
    comm = W.Dup()
    comm.Set_errhandler(MPI.ERRORS_RETURN)
    eh = comm.Get_errhandler()
    same = eh == MPI.ERRORS_RETURN
    eh.Free()
    comm.Call_errhandler(MPI.SUCCESS)
    comm.Free()
    return same


check("Set/Get_errhandler", errhandlers, True)
check("predefined errhandlers", lambda: [bool(e) for e in (MPI.ERRHANDLER_NULL, MPI.ERRORS_RETURN,
                                                           MPI.ERRORS_ARE_FATAL,
                                                           MPI.ERRORS_ABORT)])


def user_error():
    cls = MPI.Add_error_class()
    code = MPI.Add_error_code(cls)
    MPI.Add_error_string(code, "my error")
    return (MPI.Get_error_class(code) == cls, MPI.Get_error_string(code))


check("Add_error_class/code/string", user_error, (True, "my error"))
check("error classes", lambda: [MPI.Get_error_class(getattr(MPI, n)) == getattr(MPI, n)
                                for n in ("ERR_INFO_NOKEY", "ERR_KEYVAL", "ERR_GROUP",
                                          "ERR_TOPOLOGY", "ERR_DIMS", "ERR_INFO")])
check("Exception repr", lambda: repr(MPI.Exception(MPI.ERR_GROUP)))

# -- bad input --------------------------------------------------------------------------------------
freed = W.Get_group()
freed.Free()
raises("freed group: Get_size", lambda: freed.Get_size())
raises("freed group: Incl", lambda: freed.Incl([0]))
raises("Incl rank outside the group", lambda: G.Incl([SIZE]))
raises("Excl rank outside the group", lambda: G.Excl([-1]))
raises("Incl not ints", lambda: G.Incl(["a"]))
raises("Translate_ranks rank outside", lambda: G.Translate_ranks([SIZE], G))
raises("Range_incl not triplets", lambda: G.Range_incl([(0, 1)]))
raises("Create with a freed group", lambda: W.Create(freed))
raises("Set_attr wrong keyval", lambda: W.Set_attr(987654, 1))
raises("Delete_attr wrong keyval", lambda: W.Delete_attr(987654))
raises("Free_keyval wrong keyval", lambda: MPI.Comm.Free_keyval(987654))
raises("Info Delete missing key", lambda: MPI.Info.Create().Delete("nokey"))
raises("Info [] missing key", lambda: MPI.Info.Create()["nokey"])
raises("Info Set int value", lambda: MPI.Info.Create().Set("k", 5))
raises("freed Info Get", lambda: (lambda i: (i.Free(), i.Get("k")))(MPI.Info.Create()))
raises("Set_errhandler ERRHANDLER_NULL", lambda: W.Dup().Set_errhandler(MPI.ERRHANDLER_NULL))
raises("Split_type bad info", lambda: W.Split_type(MPI.COMM_TYPE_SHARED, info="x"))
done()
