# The one wait loop. Every blocking call of this module is its nonblocking MPI form plus
# wait_until(): poll with MPI_Test (or Improbe, ...) - spin briefly for latency, then yield the
# core, then sleep in growing steps - and every few milliseconds take the GIL and run
# PyErr_CheckSignals, so Ctrl-C raises KeyboardInterrupt even in a collective that never completes.
# Plain MPI and mpi4py spin at 100% CPU and ignore signals while they wait.
# The back-off counts from the last progress, not from the start of the wait: MPI moves data
# only inside MPI calls, so a wait over many transfers (a halo exchange's Waitall) that slept
# while some of them were still completing would starve the rest. A poll function that sees
# part of its wait complete bumps _progress (poll_all does), and the phases start over.

cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    cdef struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int, timespec *)
    int nanosleep(const timespec *, timespec *)
    enum: CLOCK_MONOTONIC

cdef extern from "<sched.h>" nogil:
    int sched_yield()

# A poll function advances one wait: it returns an MPI error code and sets *done.
ctypedef int (*poll_fn)(void *ctx, int *done) noexcept nogil


cdef struct WaitPolicy:
    double spin          # seconds of pure polling before yielding (latency)
    double yield_        # seconds of poll + sched_yield before sleeping (oversubscribed cores)
    double sleep_max     # longest single sleep between polls (wake-up latency when idle)
    double check_every   # how often signals are checked (Ctrl-C latency)

cdef WaitPolicy _policy
_policy.spin = 20e-6
_policy.yield_ = 20e-3
_policy.sleep_max = 1e-3
_policy.check_every = 5e-3


cdef inline double _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <double>ts.tv_sec + <double>ts.tv_nsec * 1e-9


# What this process is blocked in right now, for the engine's diagnostics (MPI._waiting()).
# Only set once a wait leaves its first poll, so the fast path never touches it.
cdef struct WaitInfo:
    const char *call
    int peer
    int tag
    long long nbytes
    double since
    bint active

cdef WaitInfo _wait_info
cdef object _wait_comm = None
cdef object _wait_unexpected = None      # [(source, tag, bytes)] seen while blocked in a receive
_wait_info.active = 0

# A receive blocked this long starts looking (Iprobe) for messages it does not match, at most
# this often; only then, so the fast path and short waits never pay for it.
cdef double _UNEXPECTED_AFTER = 0.3
cdef double _UNEXPECTED_EVERY = 0.3


cdef int wait_until(poll_fn poll, void *ctx, const char *call, int peer, int tag,
                    long long nbytes, object comm) except -1:
    """Poll until done. Raises MPI.Exception on an MPI error, or whatever a signal handler
    raises (KeyboardInterrupt); the caller then abandons or cancels its requests (abandon).

    The fast path is one poll; only a wait that outlasts it enters the phases (_wait_slow)."""
    cdef int done = 0
    cdef int ierr = poll(ctx, &done)
    if ierr != MPI_SUCCESS:
        return CHKERR(ierr)
    if done:
        return 0
    return _wait_slow(poll, ctx, call, peer, tag, nbytes, comm)


# Bumped by a poll function when part of its wait completed (see the top of this file).
cdef unsigned int _progress = 0


# Where one wait is between polls (the phases below read and advance it).
cdef struct WaitState:
    double t0            # when the first poll found the operation pending
    double phase0        # when the phases (re)started: t0, or the last progress
    unsigned int seen    # _progress when the phases last (re)started
    double t             # the clock at its last reading
    double nap           # the next sleep (backing off: it doubles up to _policy.sleep_max)
    unsigned int spins   # polls so far
    double next_check    # when the signals are checked next
    double next_probe    # when a blocked receive looks for unmatched messages next


cdef int _wait_slow(poll_fn poll, void *ctx, const char *call, int peer, int tag,
                    long long nbytes, object comm) except -1:
    """The wait after its first poll: spin, back off, and check the signals every
    _policy.check_every, until done, an MPI error or a signal handler's exception."""
    cdef WaitState w
    cdef int done = 0, ierr = MPI_SUCCESS
    _wait_enter(&w, call, peer, tag, nbytes, comm)
    try:
        while True:
            w.next_check = _now() + _policy.check_every
            with nogil:
                ierr = _poll_until_check(poll, ctx, &done, &w)
            if ierr != MPI_SUCCESS:
                return CHKERR(ierr)
            if done:
                return 0
            _check_signals(&w)
    finally:
        _wait_leave(&w)


cdef inline int _poll_until_check(poll_fn poll, void *ctx, int *done, WaitState *w) noexcept nogil:
    """Poll, spinning then backing off, until done, an MPI error, or the next signal check."""
    cdef int ierr
    while True:
        ierr = poll(ctx, done)
        if ierr != MPI_SUCCESS or done[0]:
            return ierr
        if _spin(w):
            continue
        _back_off(w)
        if w.t >= w.next_check:
            return MPI_SUCCESS


cdef inline bint _spin(WaitState *w) noexcept nogil:
    """Spin phase: poll again at once. While spinning, the clock is read only every 16 polls
    (reading it showed in profiles); False when it is time to read it (_back_off)."""
    w.spins += 1
    return (w.spins & 15) != 0 and w.t - w.phase0 < _policy.spin


cdef inline void _back_off(WaitState *w) noexcept nogil:
    """Read the clock; past the spin: yield the core (oversubscribed cores), then sleep in
    doubling steps up to _policy.sleep_max (a long wait burns little CPU). Progress since the
    phases started starts them over (spin, yield, short naps)."""
    cdef timespec ts
    w.t = _now()
    if w.seen != _progress:
        w.seen = _progress
        w.phase0 = w.t
        w.nap = 2e-6
    if w.t - w.phase0 < _policy.spin:
        return
    if w.t - w.phase0 < _policy.spin + _policy.yield_:
        sched_yield()
        return
    ts.tv_sec = 0
    ts.tv_nsec = <long>(w.nap * 1e9)
    nanosleep(&ts, NULL)
    w.nap = w.nap * 2 if w.nap * 2 < _policy.sleep_max else _policy.sleep_max


cdef inline int _check_signals(WaitState *w) except -1:
    """With the GIL, every _policy.check_every: run the signal handlers (Ctrl-C raises
    KeyboardInterrupt here); a receive blocked long looks for unmatched messages."""
    if PyErr_CheckSignals() < 0:
        return -1
    if w.t >= w.next_probe:
        w.next_probe = w.t + _UNEXPECTED_EVERY
        _refresh_unexpected()
    return 0


cdef inline void _wait_enter(WaitState *w, const char *call, int peer, int tag,
                             long long nbytes, object comm) noexcept:
    """Leaving the first poll: start the clocks, publish the wait for MPI._waiting()."""
    global _wait_comm
    w.t0 = w.t = w.phase0 = _now()
    w.seen = _progress
    w.spins = 0
    w.nap = 2e-6
    w.next_probe = w.t0 + _UNEXPECTED_AFTER
    _wait_info.call = call
    _wait_info.peer = peer
    _wait_info.tag = tag
    _wait_info.nbytes = nbytes
    _wait_info.since = MPI_Wtime()
    _wait_info.active = 1
    _wait_comm = comm


cdef inline void _wait_leave(WaitState *w) noexcept:
    """However the wait ends (done, error, interrupt): withdraw it from MPI._waiting() and
    count its time for the trace. The requests of an interrupted wait are the caller's to
    abandon (abandon, below)."""
    global _wait_comm, _wait_unexpected, _trace_wait
    _wait_info.active = 0
    _wait_comm = None
    _wait_unexpected = None
    if _instr_flags & INSTR_TRACE:
        _trace_wait += _now() - w.t0


# -- poll functions -------------------------------------------------------------------------

cdef struct ReqSet:
    int n
    MPI_Request *reqs
    MPI_Status *statuses     # may be MPI_STATUSES_IGNORE
    int index                # Testany's answer
    # poll_all past its first poll (_some_begin): MPI_Testsome, to see part of the set complete
    int polled               # poll_all calls so far
    int left                 # requests not yet reported complete
    int *indices             # Testsome's answer (n); NULL: plain Testall
    MPI_Status *some         # Testsome's statuses (n), copied to `statuses` by index

cdef int poll_one(void *ctx, int *done) noexcept nogil:
    cdef ReqSet *rs = <ReqSet *>ctx
    return MPI_Test(rs.reqs, done, rs.statuses)

cdef int poll_all(void *ctx, int *done) noexcept nogil:
    """MPI_Testall on the first poll (the fast path); then MPI_Testsome, so that requests
    completing one by one count as progress (_progress) and the wait keeps polling briskly."""
    global _progress
    cdef ReqSet *rs = <ReqSet *>ctx
    cdef int outcount = 0, k, ierr
    rs.polled += 1
    if rs.polled == 2:
        _some_begin(rs)
    if rs.indices == NULL:
        return MPI_Testall(rs.n, rs.reqs, done, rs.statuses)
    ierr = MPI_Testsome(rs.n, rs.reqs, &outcount, rs.indices,
                        rs.some if rs.statuses != MPI_STATUSES_IGNORE else MPI_STATUSES_IGNORE)
    if ierr != MPI_SUCCESS and ierr != MPI_ERR_IN_STATUS:
        return ierr
    if outcount == MPI_UNDEFINED:       # none active any more (null or inactive persistent)
        done[0] = 1
        return ierr
    if outcount > 0:
        _progress += 1
        rs.left -= outcount
        if rs.statuses != MPI_STATUSES_IGNORE:
            for k in range(outcount):
                rs.statuses[rs.indices[k]] = rs.some[k]
    done[0] = rs.left <= 0
    return ierr


cdef void _some_begin(ReqSet *rs) noexcept nogil:
    """poll_all's scratch for MPI_Testsome; without memory it stays on MPI_Testall."""
    cdef int i
    rs.indices = <int *>malloc(rs.n * sizeof(int))
    rs.some = <MPI_Status *>malloc(rs.n * sizeof(MPI_Status))
    if rs.indices == NULL or rs.some == NULL:
        _some_end(rs)
        return
    rs.left = 0
    for i in range(rs.n):
        if rs.reqs[i] != MPI_REQUEST_NULL:
            rs.left += 1


cdef void _some_end(ReqSet *rs) noexcept nogil:
    """poll_all's scratch freed. The statuses Testsome never reported (null or inactive
    requests) keep the empty status wait_requests wrote, as MPI_Testall leaves them."""
    free(rs.indices)
    free(rs.some)
    rs.indices = NULL
    rs.some = NULL

cdef int poll_any(void *ctx, int *done) noexcept nogil:
    cdef ReqSet *rs = <ReqSet *>ctx
    return MPI_Testany(rs.n, rs.reqs, &rs.index, done, rs.statuses)


cdef struct ProbeCtx:
    int source
    int tag
    MPI_Comm comm
    MPI_Message message
    MPI_Status status
    bint matched           # 1: Improbe (takes the message), 0: Iprobe (leaves it)

cdef int poll_probe(void *ctx, int *done) noexcept nogil:
    cdef ProbeCtx *p = <ProbeCtx *>ctx
    if p.matched:
        return MPI_Improbe(p.source, p.tag, p.comm, done, &p.message, &p.status)
    return MPI_Iprobe(p.source, p.tag, p.comm, done, &p.status)


# -- requests an interrupt left behind --------------------------------------------------------

cdef class _Abandoned:
    """Requests an interrupt left pending, with the buffers MPI may still write into."""
    cdef MPI_Request *reqs
    cdef int n
    cdef object keepalive

    def __dealloc__(self):
        free(self.reqs)


cdef list _abandoned = []
cdef int _interrupt_count = 0


cdef int abandon(int n, MPI_Request *reqs, bint cancellable, object keepalive) except -1:
    """After an interrupted wait: cancel what MPI can cancel (receives); keep the rest alive.

    A receive left posted would swallow the next matching message, so it is cancelled. Sends
    and collectives cannot be cancelled; their requests and buffers are kept (MPI may still
    write into the buffers) and COMM_WORLD is replaced before the next cell (_reset_world).
    """
    global _interrupt_count
    cdef int i, flag = 0, pending = 0
    cdef double t0
    _interrupt_count += 1
    if cancellable:
        for i in range(n):
            if reqs[i] != MPI_REQUEST_NULL:
                MPI_Cancel(&reqs[i])
        t0 = _now()
        while _now() - t0 < 0.1:
            if MPI_Testall(n, reqs, &flag, MPI_STATUSES_IGNORE) != MPI_SUCCESS or flag:
                break
    for i in range(n):
        if reqs[i] != MPI_REQUEST_NULL:
            pending += 1
    if pending:
        a = _Abandoned()
        a.reqs = <MPI_Request *>malloc(n * sizeof(MPI_Request))
        if a.reqs == NULL:
            raise MemoryError()
        memcpy(a.reqs, reqs, n * sizeof(MPI_Request))
        a.n = n
        a.keepalive = keepalive
        _abandoned.append(a)
        for i in range(n):
            reqs[i] = MPI_REQUEST_NULL
    return 0


cdef int wait_requests(int n, MPI_Request *reqs, MPI_Status *statuses, const char *call,
                       int peer, int tag, long long nbytes, object comm, bint cancellable,
                       object keepalive) except -1:
    """Wait for all of reqs; on interrupt, abandon them (see abandon) and re-raise. The
    statuses start as the standard's empty one: an MPI may leave a send's untouched."""
    cdef ReqSet rs
    cdef int i
    if statuses != MPI_STATUSES_IGNORE and statuses != MPI_STATUS_IGNORE:
        for i in range(n):
            empty_status(&statuses[i])
    rs.n = n
    rs.reqs = reqs
    rs.statuses = statuses
    rs.polled = rs.left = 0
    rs.indices = NULL
    rs.some = NULL
    try:
        if n == 1:
            wait_until(poll_one, &rs, call, peer, tag, nbytes, comm)
        else:
            try:
                wait_until(poll_all, &rs, call, peer, tag, nbytes, comm)
            finally:
                _some_end(&rs)
    except BaseException:
        abandon(n, reqs, cancellable, keepalive)
        raise
    return 0


cdef int _refresh_unexpected() noexcept:
    """While blocked in a receive: which messages wait on its communicator without matching
    it (the classic unmatched tag or source). One Iprobe per source (the first message from
    each), never receiving anything. Errors are swallowed: this is diagnostics only."""
    global _wait_unexpected
    cdef int flag = 0, count = 0, size = 0, s, src, tag, nsrc
    cdef MPI_Status st
    cdef MPI_Comm handle
    try:
        comm = _wait_comm
        if not isinstance(comm, Comm) or (<Comm>comm).ob_mpi == MPI_COMM_NULL:
            return 0
        kind = _call_kind(_wait_info.call.decode() if _wait_info.call != NULL else "")
        if kind not in ("recv", "probe", "sendrecv", "wait"):
            return 0
        # recv/probe/wait know the pattern they wait for; a Sendrecv's posted receive would
        # already have taken a matching message, so everything it sees is unmatched
        src = _wait_info.peer if kind != "sendrecv" else MPI_ANY_SOURCE
        tag = _wait_info.tag if kind != "sendrecv" else MPI_ANY_TAG
        if src == MPI_ANY_SOURCE and tag == MPI_ANY_TAG and kind != "sendrecv":
            _wait_unexpected = []
            return 0
        handle = (<Comm>comm).ob_mpi
        if MPI_Comm_size(handle, &size) != MPI_SUCCESS:
            return 0
        found = []
        nsrc = size if size <= 64 else 1
        for s in range(nsrc):
            if MPI_Iprobe(s if size <= 64 else MPI_ANY_SOURCE, MPI_ANY_TAG, handle, &flag,
                          &st) != MPI_SUCCESS or not flag:
                continue
            if (src == MPI_ANY_SOURCE or src == st.MPI_SOURCE) and \
                    (tag == MPI_ANY_TAG or tag == st.MPI_TAG):
                continue    # it matches: about to be received, not unexpected
            st.MPI_ERROR = MPI_SUCCESS
            if MPI_Get_count(&st, MPI_BYTE, &count) != MPI_SUCCESS:
                count = 0
            found.append((st.MPI_SOURCE, st.MPI_TAG, count))
        _wait_unexpected = found
    except BaseException:
        pass
    return 0


_CALL_KINDS = {}


def _call_kind(call):
    """'send' | 'recv' | 'sendrecv' | 'coll' | 'wait' | 'probe' | 'other' for a call name."""
    kind = _CALL_KINDS.get(call)
    if kind is not None:
        return kind
    low = call.lower()
    if call in _COLL_NAMES:
        kind = "coll"
    elif low.startswith("sendrecv"):
        kind = "sendrecv"
    elif low in ("send", "ssend", "isend", "issend", "bsend", "rsend"):
        kind = "send"
    elif low in ("recv", "irecv", "mrecv"):
        kind = "recv"
    elif "probe" in low:
        kind = "probe"
    elif low.startswith(("wait", "test")):
        kind = "wait"
    else:
        kind = "other"
    _CALL_KINDS[call] = kind
    return kind


def _waiting():
    """The blocking MPI call this process is waiting in now, or None (for diagnostics).

    {"call", "kind", "comm", "peer", "world_peer", "tag", "bytes", "root", "seq", "since",
    "unexpected"}: peer/root are ranks of that communicator, as the user wrote them (world_peer:
    peer or root as a COMM_WORLD rank, None if none); seq is the collective's
    call number on the communicator (1-based); unexpected lists (source, tag, bytes) of
    messages waiting on the communicator that do not match a receive blocked > 0.3 s.
    Safe to call from another thread: the fields are written with the GIL held.
    """
    if not _wait_info.active:
        return None
    comm = _wait_comm
    call = _wait_info.call.decode() if _wait_info.call != NULL else "?"
    kind = _call_kind(call)
    peer = _wait_info.peer
    seq = root = None
    if kind == "coll" and isinstance(comm, Comm):
        seq = (<Comm>comm).coll_seq
        root = peer if peer >= 0 else None
    unexpected = _wait_unexpected
    world_peer = None
    if isinstance(comm, Comm) and peer >= 0:
        world_peer = _world_rank(<Comm>comm, peer)
        world_peer = None if world_peer == NO_VALUE else world_peer
    return {
        "call": call,
        "kind": kind,
        "peer": peer,
        "world_peer": world_peer,
        "tag": _wait_info.tag,
        "bytes": _wait_info.nbytes,
        "comm": _comm_label(comm) if isinstance(comm, Comm) else None,
        "root": root,
        "seq": seq,
        "since": _wait_info.since,
        "unexpected": list(unexpected) if unexpected is not None else [],
    }


def _interrupted():
    """How many waits an interrupt has abandoned since start-up or the last _reset_world()."""
    return _interrupt_count


def _set_wait_policy(spin=None, yield_=None, sleep_max=None, check_every=None):
    """Tune the wait loop (seconds). Returns the policy in force before the call."""
    old = dict(spin=_policy.spin, yield_=_policy.yield_, sleep_max=_policy.sleep_max,
               check_every=_policy.check_every)
    if spin is not None:
        _policy.spin = float(spin)
    if yield_ is not None:
        _policy.yield_ = float(yield_)
    if sleep_max is not None:
        _policy.sleep_max = float(sleep_max)
    if check_every is not None:
        _policy.check_every = float(check_every)
    return old
