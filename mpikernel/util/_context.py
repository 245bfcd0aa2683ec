"""Per-communicator state the pickle-based collectives need: a lock per kind of operation (so two
threads' multi-message sends do not interleave) and a private duplicate with a fresh tag per
call (so a collective's messages never match the user's own point-to-point traffic).

The duplicate is cached as an attribute of the communicator: made by the first collective (all
ranks call it, so the Dup is collective there), freed when the communicator is freed.
"""

import atexit
import threading

from mpikernel import MPI

_locks: dict = {}
_locks_guard = threading.Lock()
_keyval = None
_TAGS = 32768       # the standard guarantees tags up to 32767 everywhere
_holders: dict = {}     # handle -> a communicator whose attribute holds a context (to free at exit)


def comm_lock(comm, key=None):
    """The lock of (comm, key): a context manager."""
    ident = (MPI._handleof(comm), key)
    with _locks_guard:
        lock = _locks.get(ident)
        if lock is None:
            lock = _locks[ident] = threading.Lock()
    return lock


def _free_context(comm, keyval, ctx):
    _holders.pop(MPI._handleof(comm), None)
    for c in ctx["comms"]:
        c.Free()


@atexit.register
def _free_contexts_at_exit():
    """Free the duplicates before MPI_Finalize (registered after the binding's own exit hook,
    so it runs first): COMM_WORLD is never freed, and a duplicate still cached on it when MPI
    finalizes made MPICH kill a rank now and then."""
    if _keyval is None or MPI.Is_finalized():
        return
    for comm in list(_holders.values()):
        try:
            MPI.Comm.Delete_attr(comm, _keyval)
        except MPI.Exception:
            pass


def _context(comm, make):
    global _keyval
    if _keyval is None:
        _keyval = MPI.Comm.Create_keyval(delete_fn=_free_context)
    ctx = MPI.Comm.Get_attr(comm, _keyval)
    if ctx is None:
        ctx = make()
        ctx["tag"] = 0
        MPI.Comm.Set_attr(comm, _keyval, ctx)
        _holders[MPI._handleof(comm)] = comm
    tag = ctx["tag"]
    ctx["tag"] = (tag + 1) % _TAGS
    return ctx, tag


def commctx_intra(comm):
    """(private duplicate of the intracommunicator, tag for this call)."""
    def make():
        dup = MPI.Intracomm(MPI.Comm.Dup(comm))
        return {"comms": [dup], "dup": dup}

    ctx, tag = _context(comm, make)
    return ctx["dup"], tag


def commctx_inter(comm):
    """(private duplicate of the intercommunicator, tag, an intracommunicator of the local group,
    whether the local group comes first in the merged order)."""
    def make():
        dup = MPI.Intercomm(MPI.Comm.Dup(comm))
        merged = MPI.Intercomm.Merge(dup, False)
        try:
            local_group, merged_group = MPI.Comm.Get_group(dup), merged.Get_group()
            here = MPI.Group.Translate_ranks(local_group, list(range(local_group.Get_size())), merged_group)
            local_group.Free()
            merged_group.Free()
            first = min(here)
            local = merged.Split(first, MPI.Comm.Get_rank(dup))
        finally:
            merged.Free()
        return {"comms": [local, dup], "dup": dup, "local": local, "low": first == 0}

    ctx, tag = _context(comm, make)
    return ctx["dup"], tag, ctx["local"], ctx["low"]
