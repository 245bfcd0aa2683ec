# The one wait loop. Every blocking call of this module is its nonblocking MPI form plus
# wait_until(): poll with MPI_Test (or Improbe, ...) - spin briefly for latency, then yield the
# core, then sleep in growing steps - and every few milliseconds take the GIL and run
# PyErr_CheckSignals, so Ctrl-C raises KeyboardInterrupt even in a collective that never completes.
# Plain MPI and mpi4py spin at 100% CPU and ignore signals while they wait.

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
_policy.yield_ = 2e-3
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
_wait_info.active = 0


cdef int wait_until(poll_fn poll, void *ctx, const char *call, int peer, int tag,
                    long long nbytes, object comm) except -1:
    """Poll until done. Raises MPI.Exception on an MPI error, or whatever a signal handler
    raises (KeyboardInterrupt); the caller then abandons or cancels its requests."""
    global _wait_comm
    cdef int done = 0
    cdef int ierr = poll(ctx, &done)
    if ierr != MPI_SUCCESS:
        return CHKERR(ierr)
    if done:
        return 0
    cdef double t0 = _now()
    cdef double t = t0, next_check
    cdef unsigned int spins = 0
    cdef double nap = 2e-6
    cdef timespec ts
    _wait_info.call = call
    _wait_info.peer = peer
    _wait_info.tag = tag
    _wait_info.nbytes = nbytes
    _wait_info.since = MPI_Wtime()
    _wait_info.active = 1
    _wait_comm = comm
    try:
        while True:
            next_check = _now() + _policy.check_every
            with nogil:
                while True:
                    ierr = poll(ctx, &done)
                    if ierr != MPI_SUCCESS or done:
                        break
                    # while spinning, read the clock only every 16 polls (it showed in profiles)
                    spins += 1
                    if (spins & 15) != 0 and t - t0 < _policy.spin:
                        continue
                    t = _now()
                    if t - t0 < _policy.spin:
                        pass
                    elif t - t0 < _policy.spin + _policy.yield_:
                        sched_yield()
                    else:
                        ts.tv_sec = 0
                        ts.tv_nsec = <long>(nap * 1e9)
                        nanosleep(&ts, NULL)
                        nap = nap * 2 if nap * 2 < _policy.sleep_max else _policy.sleep_max
                    if t >= next_check:
                        break
            if ierr != MPI_SUCCESS:
                return CHKERR(ierr)
            if done:
                return 0
            if PyErr_CheckSignals() < 0:
                return -1
    finally:
        _wait_info.active = 0
        _wait_comm = None


# -- poll functions -------------------------------------------------------------------------

cdef struct ReqSet:
    int n
    MPI_Request *reqs
    MPI_Status *statuses     # may be MPI_STATUSES_IGNORE
    int index                # Testany's answer

cdef int poll_one(void *ctx, int *done) noexcept nogil:
    cdef ReqSet *rs = <ReqSet *>ctx
    return MPI_Test(rs.reqs, done, rs.statuses)

cdef int poll_all(void *ctx, int *done) noexcept nogil:
    cdef ReqSet *rs = <ReqSet *>ctx
    return MPI_Testall(rs.n, rs.reqs, done, rs.statuses)

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
    """Wait for all of reqs; on interrupt, abandon them (see abandon) and re-raise."""
    cdef ReqSet rs
    rs.n = n
    rs.reqs = reqs
    rs.statuses = statuses
    try:
        if n == 1:
            wait_until(poll_one, &rs, call, peer, tag, nbytes, comm)
        else:
            wait_until(poll_all, &rs, call, peer, tag, nbytes, comm)
    except BaseException:
        abandon(n, reqs, cancellable, keepalive)
        raise
    return 0


def _waiting():
    """The blocking MPI call this process is waiting in now, or None (for diagnostics).

    Safe to call from another thread: the fields are written with the GIL held.
    """
    if not _wait_info.active:
        return None
    comm = _wait_comm
    name = None
    if comm is not None:
        try:
            name = comm.Get_name()
        except BaseException:
            name = None
    return {
        "call": _wait_info.call.decode() if _wait_info.call != NULL else "?",
        "peer": _wait_info.peer,
        "tag": _wait_info.tag,
        "bytes": _wait_info.nbytes,
        "comm": name,
        "since": _wait_info.since,
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
