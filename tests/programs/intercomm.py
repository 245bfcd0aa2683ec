"""Intercommunicators: Create_intercomm, the remote group, Merge, point-to-point across the two
groups, and every collective with mpi4py's root convention (MPI.ROOT on the root, PROC_NULL on
the rest of its group, the root's remote rank elsewhere), buffers and pickled objects; the same
values and exceptions as mpi4py. Needs 2 ranks or more (even ranks: group 0, odd: group 1)."""

from harness import MPI, RANK, SIZE, check, done, np, raises

W = MPI.COMM_WORLD
COLOR = RANK % 2
local = W.Split(COLOR, RANK)
inter = local.Create_intercomm(0, W, 1 - COLOR, tag=7)
LRANK, LSIZE, RSIZE = local.rank, local.size, inter.Get_remote_size()

check("kinds", lambda: (type(inter).__name__, inter.Is_inter(), inter.Is_intra(),
                        inter.is_inter, local.Is_inter()))
check("sizes", lambda: (inter.Get_size(), inter.Get_rank(), inter.remote_size, RSIZE))
check("remote group", lambda: inter.Get_remote_group().Translate_ranks(None, W.Get_group()))
check("local group", lambda: inter.Get_group().Translate_ranks(None, W.Get_group()))
check("Merge low/high", lambda: (lambda m: (m.size, m.rank, type(m).__name__))(
    inter.Merge(high=bool(COLOR))))
check("Dup stays inter", lambda: (lambda d: (type(d).__name__, d.remote_size))(inter.Dup()))
check("Split stays inter", lambda: (lambda s: (type(s).__name__, s.remote_size))(
    inter.Split(0, LRANK)))
check("Create from the local group", lambda: (lambda c: type(c).__name__)(
    inter.Create(inter.Get_group())))
check("Compare with Dup", lambda: inter.Compare(inter.Dup()), MPI.CONGRUENT)


# -- point to point: ranks name the remote group ----------------------------------------------------
def ping():
    if LRANK >= RSIZE:
        return "no partner"
    return inter.sendrecv(("from", RANK), dest=LRANK, sendtag=1, source=LRANK, recvtag=1)


check("sendrecv across", ping)


def ping_buffers():
    if LRANK >= RSIZE:
        return "no partner"
    got = np.zeros(3)
    req = inter.Irecv(got, source=LRANK, tag=2)
    inter.Send(np.arange(3.0) + RANK, dest=LRANK, tag=2)
    req.Wait()
    return got


check("Send/Irecv across", ping_buffers)


# -- collectives: each group takes a turn as root ---------------------------------------------------
def rooted(call, root_color):
    """(root argument, is the root, is in the root group) for group root_color with local rank
    0 as the root."""
    if COLOR == root_color:
        return (MPI.ROOT if LRANK == 0 else MPI.PROC_NULL), LRANK == 0, True
    return 0, False, False


def bcast(root_color):
    root, is_root, _ = rooted("Bcast", root_color)
    buf = np.arange(4.0) * 7 if is_root else np.zeros(4)
    inter.Bcast(buf, root=root)
    return buf


def gather(root_color):
    root, is_root, mine = rooted("Gather", root_color)
    recv = np.full(RSIZE, -1, dtype="i") if is_root else None
    inter.Gather(np.array([RANK], dtype="i"), recv, root=root)
    return recv


def scatter(root_color):
    root, is_root, mine = rooted("Scatter", root_color)
    send = np.arange(RSIZE, dtype="i") * 10 if is_root else None
    recv = np.full(1, -1, dtype="i")
    inter.Scatter(send, None if mine else recv, root=root)
    return None if mine else recv


def reduce_(root_color):
    root, is_root, mine = rooted("Reduce", root_color)
    recv = np.zeros(2) if is_root else None
    inter.Reduce(None if mine else np.array([RANK, 1.0]), recv, op=MPI.SUM, root=root)
    return recv


for color in (0, 1):
    check(f"Bcast from group {color}", lambda c=color: bcast(c))
    check(f"Gather to group {color}", lambda c=color: gather(c))
    check(f"Scatter from group {color}", lambda c=color: scatter(c))
    check(f"Reduce to group {color}", lambda c=color: reduce_(c))
    check(f"bcast from group {color}", lambda c=color: inter.bcast(
        {"from": c} if rooted("", c)[1] else None, root=rooted("", c)[0]))
    check(f"gather to group {color}", lambda c=color: inter.gather(RANK, root=rooted("", c)[0]))
    check(f"scatter from group {color}", lambda c=color: inter.scatter(
        [("item", i) for i in range(RSIZE)] if rooted("", c)[1] else None,
        root=rooted("", c)[0]))


def allgather():
    recv = np.full(RSIZE, -1, dtype="i")
    inter.Allgather(np.array([RANK], dtype="i"), recv)
    return recv


def allreduce():
    recv = np.zeros(2)
    inter.Allreduce(np.array([RANK, 1.0]), recv, op=MPI.SUM)
    return recv


def alltoall():
    recv = np.full(RSIZE, -1, dtype="i")
    inter.Alltoall(np.arange(RSIZE, dtype="i") + 100 * RANK, recv)
    return recv


def iallreduce():
    recv = np.zeros(1)
    inter.Iallreduce(np.array([RANK + 1.0]), recv, op=MPI.MAX).Wait()
    return recv


check("Allgather", allgather)
check("Allreduce", allreduce)
check("Alltoall", alltoall)
check("Iallreduce", iallreduce)
check("Barrier", lambda: inter.Barrier())
check("allgather", lambda: inter.allgather(("r", RANK)))
check("allreduce", lambda: inter.allreduce(RANK))



def every_root():
    """Each rank of each group is the root in turn (MPICH's nonblocking intercomm collectives
    lose step here; ours are point-to-point)."""
    out = []
    for color in (0, 1):
        for r in range(LSIZE if COLOR == color else RSIZE):
            if COLOR == color:
                root = MPI.ROOT if r == LRANK else MPI.PROC_NULL
            else:
                root = r
            buf = np.array([RANK], dtype="i") if root == MPI.ROOT else np.full(1, -1, dtype="i")
            inter.Bcast(buf, root=root)
            out.append((int(buf[0]), inter.bcast(("obj", RANK) if root == MPI.ROOT else None,
                                                  root=root)))
    return out


check("Bcast and bcast with every root", every_root)

# -- bad input ------------------------------------------------------------------------------------
raises("Bcast root outside the remote group", lambda: inter.Bcast(np.zeros(1), root=RSIZE))
raises("bcast root -7", lambda: inter.bcast(None, root=-7))
raises("Get_remote_size on an intracomm", lambda: local.Get_remote_size())
raises("Create_intercomm local leader outside", lambda: local.Create_intercomm(
    LSIZE, W, 1 - COLOR))
raises("Intercomm(intracomm)", lambda: MPI.Intercomm(local))
raises("Intracomm(intercomm)", lambda: MPI.Intracomm(inter))
done()
