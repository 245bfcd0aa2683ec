# Instrumentation: per-call tracing and the collective-checking mode (issues 10 and 12).
#
# Every MPI call of this module passes ONE entry hook: an inline test of `_instr_flags`. With
# tracing and checking off (the default) that is the whole cost: one predictable branch (and,
# for collectives, an increment of the communicator's call counter, which _waiting() reports).
# With TRACE set, the call writes one fixed-size C struct into a ring buffer (no Python objects
# on the hot path); the record is turned into dicts only by _trace_stop()/_trace_snapshot().
# With CHECK set, every collective first compares a small signature across the ranks with one
# MPI_Iallreduce on a private shadow communicator, and a blocking Recv probes before receiving
# so that a too-small buffer is reported with both sizes instead of truncating.
#
# Compile with -DMPIK_NO_INSTRUMENT (setup.py: MPIKERNEL_NO_INSTRUMENT=1) to remove the hooks
# entirely; benchmarks/instrument.py compares that build with the normal one.

cdef extern from *:
    """
    #ifdef MPIK_NO_INSTRUMENT
    #define MPIK_INSTRUMENTED 0
    #else
    #define MPIK_INSTRUMENTED 1
    #endif
    """
    const int MPIK_INSTRUMENTED

cdef enum:
    INSTR_TRACE = 1
    INSTR_CHECK = 2

cdef int _instr_flags = 0

# event kinds, as the record names them
cdef enum:
    K_SEND = 0
    K_RECV = 1
    K_SENDRECV = 2
    K_COLL = 3
    K_WAIT = 4
    K_PROBE = 5
    K_OTHER = 6

_KIND_NAMES = ("send", "recv", "sendrecv", "coll", "wait", "probe", "other")

cdef enum:
    NO_VALUE = -2147483647 - 1     # "not applicable" in an int field (becomes None)

cdef struct TraceEvent:
    const char *call
    int kind
    int comm            # index into _trace_labels, -1 for none
    int peer            # COMM_WORLD rank (dest or, once completed, the actual source)
    int tag
    int root            # COMM_WORLD rank
    int pending         # 1 until the call returns
    int nonblocking     # an I-call: `done` is set when a Wait/Test completes it
    int dest
    int sendtag
    int source
    int recvtag
    long long nbytes
    long long sendbytes
    long long recvbytes
    long long seq
    long long completed_by   # absolute index of the Wait/Test event that completed it, -1
    double t0
    double t1
    double done
    double wait


cdef TraceEvent *_ring = NULL
cdef long long _ring_cap = 0
cdef long long _ring_next = 0       # absolute index of the next event (never reset)
cdef long long _ring_base = 0       # absolute index of the first event of this trace
cdef long long _trace_polls = 0     # Test/Iprobe calls that found nothing (not recorded)
cdef double _trace_wait = 0.0       # seconds in the wait loop since the open event started
cdef double _trace_t_start = 0.0
cdef int _trace_gen = 0             # bumped by _trace_start: comm label ids are per trace
cdef list _trace_labels = []


cdef inline TraceEvent *_ev_at(long long ev) noexcept:
    """The slot of event `ev`, or NULL if it was dropped (overwritten) or belongs to an old trace."""
    if ev < _ring_base or ev < _ring_next - _ring_cap or ev >= _ring_next or _ring == NULL:
        return NULL
    return &_ring[ev % _ring_cap]


cdef long long _ev_new(const char *call, int kind, Comm comm) except -2:
    """Open a pending event (the slow path of every hook when tracing)."""
    global _ring_next, _trace_wait
    if not (_instr_flags & INSTR_TRACE) or _ring == NULL:
        return -1
    cdef long long ev = _ring_next
    cdef TraceEvent *e = &_ring[ev % _ring_cap]
    _ring_next += 1
    memset(e, 0, sizeof(TraceEvent))
    e.call = call
    e.kind = kind
    e.comm = _comm_label_id(comm) if comm is not None else -1
    e.peer = e.tag = e.root = NO_VALUE
    e.dest = e.sendtag = e.source = e.recvtag = NO_VALUE
    e.seq = 0
    e.completed_by = -1
    e.pending = 1
    e.t0 = MPI_Wtime()
    _trace_wait = 0.0
    return ev


cdef int _ev_close(long long ev, Comm comm, MPI_Status *st) except -1:
    """The call returned: end time, time in the wait loop, and for receives the actual
    source, tag and size (st may be NULL)."""
    cdef TraceEvent *e = _ev_at(ev)
    cdef int count = 0
    if e == NULL:
        return 0
    e.t1 = MPI_Wtime()
    e.wait = _trace_wait
    e.pending = 0
    if st != NULL:
        _ev_matched(e, comm, st)
    return 0


cdef void _ev_matched(TraceEvent *e, Comm comm, MPI_Status *st) noexcept:
    """A receive matched a message: record who sent it, with which tag, how many bytes."""
    cdef int count = 0
    if st.MPI_SOURCE < 0:             # PROC_NULL, or a status MPI never filled
        return
    st.MPI_ERROR = MPI_SUCCESS
    if MPI_Get_count(st, MPI_BYTE, &count) != MPI_SUCCESS:
        count = 0
    if e.kind == K_SENDRECV:
        e.source = _world_rank(comm, st.MPI_SOURCE)
        e.recvtag = st.MPI_TAG
        e.recvbytes = count
    else:
        e.peer = _world_rank(comm, st.MPI_SOURCE)
        e.tag = st.MPI_TAG
        e.nbytes = count


# -- hooks: the inline entry tests and their slow paths ----------------------------------------

cdef inline long long _p2p_hook(Request r, int kind, const char *call, Comm comm,
                                long long peer, long long tag, long long nbytes) except -2:
    """Entry of a point-to-point call (before the MPI call). Returns the event, -1 if off."""
    if MPIK_INSTRUMENTED and _instr_flags:
        return _p2p_open(r, kind, call, comm, peer, tag, nbytes)
    return -1


cdef long long _p2p_open(Request r, int kind, const char *call, Comm comm, long long peer,
                         long long tag, long long nbytes) except -2:
    cdef long long ev = _ev_new(call, kind, comm)
    cdef TraceEvent *e = _ev_at(ev)
    if e == NULL:
        return -1
    e.peer = _world_rank(comm, <int>peer)
    e.tag = <int>tag if tag >= 0 else NO_VALUE
    e.nbytes = nbytes
    if r is not None:
        r.trace_ev = ev
    return ev


cdef inline long long _coll_hook(Request r, const char *call, Comm comm, long long root,
                                 long long nbytes, long long sigbytes, int itemsize,
                                 object op) except -2:
    """Entry of a collective (before the MPI call): count it on the communicator (every rank
    counts the same calls, so "call 5 on COMM_WORLD" means the same call everywhere); when
    tracing, open an event; when checking, compare signatures with the other ranks first.
    root -1: none; nbytes: this rank's data (traced); sigbytes: the size every rank must
    agree on (checked), -1 where sizes may differ legitimately."""
    if MPIK_INSTRUMENTED:
        comm.coll_seq += 1
    if MPIK_INSTRUMENTED and _instr_flags:
        return _coll_open(r, call, comm, root, nbytes, sigbytes, itemsize, op)
    return -1


cdef long long _coll_open(Request r, const char *call, Comm comm, long long root,
                          long long nbytes, long long sigbytes, int itemsize,
                          object op) except -2:
    check_comm(comm)
    cdef long long ev = _ev_new(call, K_COLL, comm)
    cdef TraceEvent *e = _ev_at(ev)
    if e != NULL:
        e.root = _world_rank(comm, <int>root) if root >= 0 else NO_VALUE
        e.nbytes = nbytes
        e.seq = comm.coll_seq
        if r is not None:
            r.trace_ev = ev
    if _instr_flags & INSTR_CHECK:
        # inside the event: a collective only some ranks call blocks in its check, and the
        # trace must show it pending there
        try:
            _check_collective(comm, call, root, sigbytes, itemsize, op)
        except CollectiveMismatchError:
            if ev >= 0:
                _ev_close(ev, comm, NULL)
            if r is not None:
                r.trace_ev = -1
            raise
    return ev


cdef inline long long _call_hook(const char *call, int kind, Comm comm) except -2:
    """Entry of any other traced call (Wait, Test, Probe, Sendrecv, ...)."""
    if MPIK_INSTRUMENTED and _instr_flags:
        return _ev_new(call, kind, comm)
    return -1


cdef inline Request _nb_return(Request r):
    """An I-call returns its request: close the event now; `done` comes with the Wait/Test."""
    cdef TraceEvent *e
    if MPIK_INSTRUMENTED and r.trace_ev >= 0:
        e = _ev_at(r.trace_ev)
        if e != NULL:
            e.nonblocking = 1
            e.t1 = MPI_Wtime()
            e.pending = 0
    return r


cdef inline int _wait_call(Request r, const char *call, int peer, int tag, Comm comm) except -1:
    """The body of a blocking call made of an I-call: wait, then close its event."""
    cdef long long ev = r.trace_ev
    cdef bint recv = r.is_recv
    if ev < 0:
        return _wait_req(r, call, peer, tag, comm)
    r.trace_ev = -1
    _wait_req(r, call, peer, tag, comm)
    return _ev_close(ev, comm, &r.status if recv else NULL)


cdef int _ev_completed(long long wait_ev, list reqs) except -1:
    """After a Wait/Test: mark the traced requests it completed (done time, actual source)."""
    cdef Request r
    cdef TraceEvent *e = _ev_at(wait_ev)
    cdef double now = e.t1 if e != NULL and not e.pending else MPI_Wtime()  # done == its t1
    for obj in reqs:
        r = <Request?>obj
        if r.trace_ev < 0 or r.state != RQ_DONE:
            continue
        e = _ev_at(r.trace_ev)
        r.trace_ev = -1
        if e == NULL:
            continue
        e.done = now
        e.completed_by = wait_ev
        if e.kind == K_RECV and r.comm is not None:
            _ev_matched(e, r.comm, &r.status)
    return 0


cdef int _ev_poll_failed() noexcept:
    """A Test/Iprobe that found nothing: counted, not recorded (polling loops would flood)."""
    global _trace_polls
    _trace_polls += 1
    return 0


# -- communicator names and COMM_WORLD ranks ---------------------------------------------------

cdef long long _comm_serial = 0

cdef int _next_comm_serial() noexcept:
    """Communicators are numbered in creation order: the same on every rank when every rank
    creates the same communicators (Dup/Split/... are collective), so comm#3 is one comm."""
    global _comm_serial
    _comm_serial += 1
    return <int>_comm_serial


cdef object _comm_label(Comm c):
    """The stable name of a communicator: COMM_WORLD, COMM_SELF, the name given with
    Set_name, or comm#<n>."""
    if c is None:
        return None
    if c is COMM_WORLD or (c.ob_mpi == (<Comm>COMM_WORLD).ob_mpi and c.label is None):
        return "COMM_WORLD"       # (or another Comm object wrapping its handle)
    if c is COMM_SELF or (c.ob_mpi == MPI_COMM_SELF and c.label is None):
        return "COMM_SELF"
    if c.label is not None:
        return c.label
    return f"comm#{c.serial}"


cdef int _comm_label_id(Comm c) except -2:
    if c.trace_gen != _trace_gen:
        c.trace_label = len(_trace_labels)
        _trace_labels.append(_comm_label(c))
        c.trace_gen = _trace_gen
    return c.trace_label


cdef int _world_rank(Comm c, int rank) noexcept:
    """A rank of c as a COMM_WORLD rank (NO_VALUE for PROC_NULL / ANY_SOURCE)."""
    if rank < 0:
        return NO_VALUE
    if c is None or c is COMM_WORLD or c.ob_mpi == (<Comm>COMM_WORLD).ob_mpi:
        return rank
    if c.world_ranks is None:
        try:
            c.world_ranks = _translate_to_world(c)
        except BaseException:
            return NO_VALUE
    try:
        return <int>c.world_ranks[rank]
    except BaseException:
        return NO_VALUE


cdef tuple _translate_to_world(Comm c):
    cdef MPI_Group g = MPI_GROUP_NULL, w = MPI_GROUP_NULL
    cdef int n = 0, i
    cdef int *src = NULL
    cdef int *dst = NULL
    CHKERR(MPI_Comm_size(c.ob_mpi, &n))
    src = <int *>malloc((n or 1) * sizeof(int))
    dst = <int *>malloc((n or 1) * sizeof(int))
    try:
        if src == NULL or dst == NULL:
            raise MemoryError()
        for i in range(n):
            src[i] = i
        CHKERR(MPI_Comm_group(c.ob_mpi, &g))
        CHKERR(MPI_Comm_group(MPI_COMM_WORLD, &w))
        CHKERR(MPI_Group_translate_ranks(g, n, src, w, dst))
        return tuple(dst[i] if dst[i] >= 0 else NO_VALUE for i in range(n))
    finally:
        if g != MPI_GROUP_NULL:
            MPI_Group_free(&g)
        if w != MPI_GROUP_NULL:
            MPI_Group_free(&w)
        free(src)
        free(dst)


cdef int _world_rank_of_me() noexcept:
    cdef int r = 0
    MPI_Comm_rank(MPI_COMM_WORLD, &r)
    return r


# -- the trace API -----------------------------------------------------------------------------

def _trace_start(capacity=65536):
    """Clear and enable this process's trace: a ring buffer of the last `capacity` calls."""
    global _ring, _ring_cap, _ring_base, _trace_polls, _trace_gen, _trace_t_start, _instr_flags
    cdef long long cap = int(capacity)
    if cap < 1:
        raise ValueError(f"_trace_start: capacity must be at least 1, got {capacity}")
    if cap > 1 << 26:
        raise ValueError(f"_trace_start: capacity {capacity} is too large (at most {1 << 26} "
                         f"events, {sizeof(TraceEvent)} bytes each)")
    if not MPIK_INSTRUMENTED:
        raise RuntimeError("this build of mpikernel.MPI has no tracing (built with "
                           "MPIKERNEL_NO_INSTRUMENT=1)")
    _instr_flags &= ~INSTR_TRACE
    if cap != _ring_cap:
        free(_ring)
        _ring = NULL
        _ring_cap = 0
        _ring = <TraceEvent *>malloc(cap * sizeof(TraceEvent))
        if _ring == NULL:
            raise MemoryError(f"_trace_start: no memory for {capacity} events")
        _ring_cap = cap
    _ring_base = _ring_next
    _trace_polls = 0
    _trace_gen += 1
    del _trace_labels[:]
    _trace_t_start = MPI_Wtime()
    _instr_flags |= INSTR_TRACE


def _trace_stop():
    """Disable tracing and return the record (see _trace_snapshot)."""
    global _instr_flags
    _instr_flags &= ~INSTR_TRACE
    return _trace_record()


def _trace_snapshot():
    """The record so far, tracing stays on. Calls that have not returned (a blocked or
    interrupted receive) are included with "pending": True.

    {"rank", "size", "capacity", "dropped", "polls", "t_start", "t_now", "events": [...]}
    """
    return _trace_record()


def _tracing():
    """Whether tracing is on in this process."""
    return bool(_instr_flags & INSTR_TRACE)


def _collective_count(Comm comm=None):
    """How many collectives this process has called on comm (default COMM_WORLD) since it was
    made (COMM_WORLD: since start-up or the last _reset_world()). The `seq` of the next one is
    this + 1; subtract the value at the start of a cell for "call 3 of this cell"."""
    if comm is None:
        comm = COMM_WORLD
    return comm.coll_seq


cdef object _none_if(long long v):
    return None if v == NO_VALUE else v


cdef dict _event_record(TraceEvent *e, long long ev):
    """One traced event as _trace_snapshot() gives it (ev: its ring number)."""
    d = {
        "call": e.call.decode() if e.call != NULL else "?",
        "kind": _KIND_NAMES[e.kind],
        "comm": _trace_labels[e.comm] if 0 <= e.comm < len(_trace_labels) else None,
        "peer": _none_if(e.peer),
        "tag": _none_if(e.tag),
        "bytes": e.nbytes,
        "root": _none_if(e.root),
        "seq": e.seq if e.kind == K_COLL else None,
        "t0": e.t0,
        "t1": None if e.pending else e.t1,
        "wait": e.wait,
        "pending": bool(e.pending),
        "req": None,
    }
    if e.kind == K_SENDRECV:
        d.update(dest=_none_if(e.dest), sendtag=_none_if(e.sendtag), sendbytes=e.sendbytes,
                 source=_none_if(e.source), recvtag=_none_if(e.recvtag),
                 recvbytes=e.recvbytes)
    if e.nonblocking:
        d["req"] = ev - _ring_base + 1
        d["done"] = e.done if e.done else None
    return d


cdef object _trace_record():
    cdef long long first, ev, total
    cdef TraceEvent *e
    cdef int size = 0
    MPI_Comm_size(MPI_COMM_WORLD, &size)
    total = _ring_next - _ring_base
    first = _ring_base if total <= _ring_cap else _ring_next - _ring_cap
    events = []
    index = {}
    for ev in range(first, _ring_next):
        d = _event_record(&_ring[ev % _ring_cap], ev)
        index[ev] = d
        events.append(d)
    # a Wait/Test names the requests it completed
    for ev in range(first, _ring_next):
        e = &_ring[ev % _ring_cap]
        if e.nonblocking and e.completed_by >= 0:
            w = index.get(e.completed_by)
            if w is not None:
                w.setdefault("reqs", []).append(ev - _ring_base + 1)
    for d in events:
        reqs = d.get("reqs")
        if reqs is not None and len(reqs) == 1:
            d["req"] = reqs[0]
        elif d["kind"] == "wait":
            d.setdefault("reqs", [])
    return {
        "rank": _world_rank_of_me(),
        "size": size,
        "capacity": _ring_cap,
        "dropped": max(0, total - _ring_cap),
        "polls": _trace_polls,
        "t_start": _trace_t_start,
        "t_now": MPI_Wtime(),
        "events": events,
    }


# -- checking mode -----------------------------------------------------------------------------

class CollectiveMismatchError(RuntimeError):
    """Ranks called different collectives (or the same one with a different root, operation,
    or size) as the same call on a communicator. Raised on every rank, before the collective
    starts, so no data is corrupted and nothing hangs."""


CollectiveMismatchError.__module__ = "mpikernel.MPI"

# Codes for the signature: an index in this fixed tuple, identical on every rank.
_COLL_NAMES = (
    "barrier", "Barrier", "Ibarrier", "bcast", "Bcast", "Ibcast", "scatter", "Scatter",
    "Iscatter", "Scatterv", "Iscatterv", "gather", "Gather", "Igather", "Gatherv", "Igatherv",
    "allgather", "Allgather", "Iallgather", "Allgatherv", "Iallgatherv", "alltoall", "Alltoall",
    "Ialltoall", "Alltoallv", "Ialltoallv", "reduce", "Reduce", "Ireduce", "allreduce",
    "Allreduce", "Iallreduce", "scan", "Scan", "Iscan", "exscan", "Exscan", "Iexscan",
    "Reduce_scatter_block", "Dup", "Split", "Create_cart",
)
_COLL_CODES = {name.encode(): i + 1 for i, name in enumerate(_COLL_NAMES)}
_OP_NAMES = ("MAX", "MIN", "SUM", "PROD", "LAND", "BAND", "LOR", "BOR", "LXOR", "BXOR",
             "MAXLOC", "MINLOC", "REPLACE", "NO_OP")
_OP_CODES = {name: i + 1 for i, name in enumerate(_OP_NAMES)}
_USER_OP = 100

cdef enum:
    SIG_FIELDS = 6     # call, root, op, bytes, item size, seq


def _set_checking(on):
    """Turn the collective-checking mode on or off in this process (every rank must agree)."""
    global _instr_flags
    if not MPIK_INSTRUMENTED and on:
        raise RuntimeError("this build of mpikernel.MPI has no checking mode (built with "
                           "MPIKERNEL_NO_INSTRUMENT=1)")
    if on:
        _instr_flags |= INSTR_CHECK
        _shadow_of(<Comm>COMM_WORLD, b"_set_checking")
    else:
        _instr_flags &= ~INSTR_CHECK


def _checking():
    """Whether the collective-checking mode is on in this process."""
    return bool(_instr_flags & INSTR_CHECK)


cdef long long _op_code(object op):
    if op is None:
        return 0
    if isinstance(op, Op):
        if (<Op>op).predefined:
            return _OP_CODES.get((<Op>op).name, _USER_OP)
        return _USER_OP
    return _USER_OP     # a Python function (lowercase reduce)


cdef int _shadow_of(Comm comm, const char *call) except -1:
    """Make comm.shadow, a private duplicate of comm for the checks: user messages can never
    match a check's reduction, nor a check theirs.

    Made where every rank is sure to be (start-up, _set_checking, a communicator's creation, a
    reset), not lazily in the first collective: when only some ranks reach that collective, the
    others never join the dup, and on Open MPI 4 one unfinished communicator construction blocks
    every later one - the reset after the interrupt hung (measured: Debian's 4.1.4)."""
    cdef MPI_Request req = MPI_REQUEST_NULL
    if comm.shadow != MPI_COMM_NULL:
        return 0
    # MPI writes the handle when the idup completes: into memory an interrupt cannot free
    holder = new_bytearray(sizeof(MPI_Comm))
    cdef MPI_Comm *dup = <MPI_Comm *>PyByteArray_AS_STRING(holder)
    dup[0] = MPI_COMM_NULL
    CHKERR(MPI_Comm_idup(comm.ob_mpi, dup, &req))
    # waits under the user's call: a collective only some ranks call blocks here first
    wait_requests(1, &req, MPI_STATUS_IGNORE, call, MPI_PROC_NULL, 0, 0, comm, False, holder)
    MPI_Comm_set_errhandler(dup[0], MPI_ERRORS_RETURN)
    comm.shadow = dup[0]
    return 0


cdef int _check_collective(Comm comm, const char *call, long long root, long long nbytes,
                           int itemsize, object op) except -1:
    """One Iallreduce(MAX) of (x, -x) for each signature field: equal everywhere iff
    max == -max(-x). Only on a mismatch, a second step gathers every rank's signature."""
    _shadow_of(comm, call)
    cdef MPI_Comm shadow = comm.shadow
    cdef MPI_Request req = MPI_REQUEST_NULL
    cdef long long sig[6]     # SIG_FIELDS
    cdef int i
    sig[0] = _COLL_CODES.get(<bytes>call, 0)
    sig[1] = root
    sig[2] = _op_code(op)
    sig[3] = nbytes
    sig[4] = itemsize
    sig[5] = comm.coll_seq
    # buffers on the heap: an interrupted check leaves its request to MPI (see abandon)
    both = new_bytearray(2 * 2 * SIG_FIELDS * sizeof(long long))
    cdef long long *inout = <long long *>PyByteArray_AS_STRING(both)
    for i in range(SIG_FIELDS):
        inout[2 * i] = sig[i]
        inout[2 * i + 1] = -sig[i]
    CHKERR(MPI_Iallreduce(inout, inout + 2 * SIG_FIELDS, 2 * SIG_FIELDS, MPI_LONG_LONG,
                          MPI_MAX, shadow, &req))
    # (root -1 means "none" here, but -1 is ANY_SOURCE in Open MPI: say PROC_NULL to the waiter)
    wait_requests(1, &req, MPI_STATUS_IGNORE, call, <int>root if root >= 0 else MPI_PROC_NULL,
                  0, 0, comm, False, both)
    for i in range(SIG_FIELDS):
        if inout[2 * SIG_FIELDS + 2 * i] != -inout[2 * SIG_FIELDS + 2 * i + 1]:
            return _report_mismatch(comm, shadow, sig, call)
    return 0


cdef int _report_mismatch(Comm comm, MPI_Comm shadow, long long *sig, const char *call) except -1:
    """Gather every rank's signature (only after a mismatch) and raise the same error on all."""
    cdef MPI_Request req = MPI_REQUEST_NULL
    cdef int size = _size(comm), i
    buf = new_bytearray((size + 1) * SIG_FIELDS * sizeof(long long))
    cdef long long *all_ = <long long *>PyByteArray_AS_STRING(buf)
    memcpy(all_ + size * SIG_FIELDS, sig, SIG_FIELDS * sizeof(long long))
    CHKERR(MPI_Iallgather(all_ + size * SIG_FIELDS, SIG_FIELDS, MPI_LONG_LONG, all_,
                          SIG_FIELDS, MPI_LONG_LONG, shadow, &req))
    wait_requests(1, &req, MPI_STATUS_IGNORE, call, MPI_PROC_NULL, 0, 0, comm, False, buf)
    sigs = [tuple(all_[i * SIG_FIELDS + k] for k in range(SIG_FIELDS)) for i in range(size)]
    raise CollectiveMismatchError(_mismatch_message(_comm_label(comm), sigs,
                                                    [_world_rank(comm, i) for i in range(size)]))


def _describe_signature(sig, show_seq):
    code, root, op, nbytes, itemsize, seq = sig
    name = _COLL_NAMES[code - 1] if 0 < code <= len(_COLL_NAMES) else "an unknown call"
    args = []
    if root >= 0:
        args.append(f"root={root}")
    if op:
        args.append(f"op={_OP_NAMES[op - 1]}" if 0 < op <= len(_OP_NAMES) else "op=<user op>")
    if nbytes >= 0:
        if itemsize > 0 and nbytes % itemsize == 0:
            args.append(f"{nbytes // itemsize} x {itemsize}-byte items")
        else:
            args.append(f"{nbytes} bytes")
    text = f"{name}({', '.join(args)})"
    if show_seq:
        text += f" as its call {seq}"
    return text


def _rank_list(ranks):
    return ("rank " if len(ranks) == 1 else "ranks ") + ",".join(str(r) for r in ranks)


def _mismatch_message(label, sigs, world_ranks):
    """'collective mismatch on COMM_WORLD call 5: ranks 0,2,3 called bcast(root=0), rank 1
    called reduce(root=0)' (identical on every rank: built from the gathered signatures)."""
    seqs = {s[5] for s in sigs}
    show_seq = len(seqs) > 1
    groups = {}
    for i, s in enumerate(sigs):
        groups.setdefault(_describe_signature(s, show_seq), []).append(
            world_ranks[i] if world_ranks[i] is not None and world_ranks[i] != NO_VALUE else i)
    where = f"on {label}" + ("" if show_seq else f" call {sigs[0][5]}")
    parts = [f"{_rank_list(ranks)} called {text}"
             for text, ranks in sorted(groups.items(), key=lambda kv: kv[1][0])]
    return (f"collective mismatch {where}: " + ", ".join(parts) +
            ". Every rank must call the same collectives in the same order, with the same "
            "root and operation.")


# -- checking mode: a blocking Recv reports a too-small buffer ---------------------------------

cdef int _checked_recv(Comm comm, _Buf m, long long source, long long tag, MPI_Status *st,
                       long long ev) except -1:
    """Probe (without receiving) until a matching message is there; if it does not fit the
    buffer, raise naming both sizes and leave the message to be received; else receive that
    very message (same source and tag: MPI keeps the order from one source)."""
    cdef ProbeCtx p
    cdef int count = 0
    cdef MPI_Request req = MPI_REQUEST_NULL
    cdef long long have = _data_bytes(m)
    p.source = <int>source
    p.tag = <int>tag
    p.comm = comm.ob_mpi
    p.matched = 0
    wait_until(poll_probe, &p, b"Recv", <int>source, <int>tag, 0, comm)
    p.status.MPI_ERROR = MPI_SUCCESS
    CHKERR(MPI_Get_count(&p.status, MPI_BYTE, &count))
    if count > have:
        me = _world_rank_of_me()
        src = _world_rank(comm, p.status.MPI_SOURCE)
        usage_error(MPI_ERR_TRUNCATE,
                    f"Recv: rank {me}'s Recv buffer holds {have} bytes; rank {src} sent {count} "
                    f"(tag {p.status.MPI_TAG}). Receive into a buffer of at least {count} bytes "
                    "(the message is still there to be received).")
    CHKERR(MPI_Irecv(m.addr, m.count, m.dtype, p.status.MPI_SOURCE, p.status.MPI_TAG,
                     comm.ob_mpi, &req))
    wait_requests(1, &req, st, b"Recv", p.status.MPI_SOURCE, p.status.MPI_TAG, have, comm,
                  True, m)
    return 0



# -- small event writers used by comm.pxi / request.pxi ----------------------------------------

cdef int _ev_sendrecv(long long ev, Comm comm, long long dest, long long sendtag,
                      long long sendbytes, long long source, long long recvtag,
                      long long recvbytes) except -1:
    """Both directions of a Sendrecv; peer/tag/bytes repeat the send side."""
    cdef TraceEvent *e = _ev_at(ev)
    if e == NULL:
        return 0
    e.dest = e.peer = _world_rank(comm, <int>dest)
    e.sendtag = e.tag = <int>sendtag if sendtag >= 0 else NO_VALUE
    e.sendbytes = e.nbytes = sendbytes
    e.source = _world_rank(comm, <int>source)
    e.recvtag = <int>recvtag if recvtag >= 0 else NO_VALUE
    e.recvbytes = recvbytes
    return 0


cdef int _ev_add_bytes(long long ev, long long n) except -1:
    cdef TraceEvent *e = _ev_at(ev)
    if e != NULL:
        e.nbytes += n
    return 0


cdef int _ev_test(const char *call, int kind, Comm comm, int flag, MPI_Status *st,
                  list reqs) except -1:
    """A Test/Iprobe-like call returned: recorded only if it found something."""
    cdef long long ev
    if not (_instr_flags & INSTR_TRACE):
        return 0
    if not flag:
        return _ev_poll_failed()
    ev = _ev_new(call, kind, comm)
    _ev_close(ev, comm, st)
    if reqs is not None:
        _ev_completed(ev, reqs)
    return 0


cdef int _wait_done(long long ev, list reqs) except -1:
    """A traced Wait-like call returned: close it, mark the requests it completed."""
    _ev_close(ev, None, NULL)
    return _ev_completed(ev, reqs)


def _os_environ_flag(name):
    value = __import__("os").environ.get(name, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


# read once at import: the tutorial kernel spec sets it
if MPIK_INSTRUMENTED and _os_environ_flag("MPIKERNEL_CHECK_COLLECTIVES"):
    _instr_flags |= INSTR_CHECK
