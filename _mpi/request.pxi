# Requests of nonblocking calls. A request may stand for several MPI requests (a lowercase isend
# with out-of-band buffers) or for a small state machine (a lowercase irecv: the pickle, posted
# at the call, then its out-of-band buffers). Every wait goes through wait_until (waiting.pxi).

cdef enum:
    RQ_PLAIN = 0          # ob_mpi (+ more): complete when all are complete
    RQ_RECV_DATA = 2      # lowercase irecv, receiving the pickle (posted at the call)
    RQ_RECV_OOB = 3       # lowercase irecv, receiving out-of-band buffers (in `more`)
    RQ_DONE = 4


cdef class Request:
    """A pending nonblocking operation (``Isend``, ``irecv``, ``Ibcast``, ...)."""
    cdef MPI_Request ob_mpi
    cdef MPI_Request *more
    cdef int n_more
    cdef int state
    cdef bint is_recv          # cancellable on interrupt
    cdef object keep           # buffers MPI reads from / writes into until completion
    cdef object result         # lowercase irecv: the received object
    cdef MPI_Status status
    # lowercase irecv state
    cdef int source
    cdef int tag
    cdef Comm comm
    cdef MPI_Message message
    cdef object data
    cdef object oob
    cdef long long trace_ev    # the traced I-call that made it (instrument.pxi), -1

    def __cinit__(self, Request request=None):
        self.trace_ev = -1
        self.ob_mpi = MPI_REQUEST_NULL
        empty_status(&self.status)
        self.more = NULL
        self.n_more = 0
        self.state = RQ_PLAIN
        self.is_recv = False
        self.keep = None
        self.result = None
        self.message = MPI_MESSAGE_NULL
        memset(&self.status, 0, sizeof(MPI_Status))    # MPI's empty status (a null request's)
        self.status.MPI_SOURCE = MPI_ANY_SOURCE
        self.status.MPI_TAG = MPI_ANY_TAG
        if request is not None:             # mpi4py's copy: the same MPI handle
            if not request._plain():
                raise TypeError("Request(request): a lowercase irecv in progress cannot be "
                                "copied")
            self._set_handle(request._handle())

    cdef MPI_Request _handle(self):
        return self.ob_mpi

    cdef void _set_handle(self, MPI_Request handle):
        self.ob_mpi = handle
        self.state = RQ_PLAIN if handle != MPI_REQUEST_NULL else RQ_DONE

    @classmethod
    def fromhandle(cls, handle):
        cdef Request r = cls()
        r._set_handle(<MPI_Request><intptr_t>handle)
        return r

    def toint(self):
        return MPI_Request_c2f(self._handle())

    py2f = toint

    @classmethod
    def fromint(cls, int value):
        cdef Request r = cls()
        r._set_handle(MPI_Request_f2c(value))
        return r

    f2py = fromint

    def __dealloc__(self):
        free(self.more)

    def __bool__(self):
        return self._active()

    cdef bint _active(self):
        """An operation is pending (Prequest: started and not completed, while its truth is
        "not freed"); the *any/*some calls skip inactive requests."""
        return self.state != RQ_DONE and (self.ob_mpi != MPI_REQUEST_NULL or self.n_more > 0
                                          or self.state != RQ_PLAIN)

    def __repr__(self):
        return f"<mpikernel.MPI.Request {'active' if self else 'null'}>"

    def __eq__(self, other):
        """Like mpi4py: every completed (inactive) request equals MPI.REQUEST_NULL."""
        if not isinstance(other, Request):
            return NotImplemented
        if self is other:
            return True
        if not self and not other:
            return True
        return (self._handle() != MPI_REQUEST_NULL
                and self._handle() == (<Request>other)._handle())

    def __hash__(self):
        return 0 if not self else id(self)

    @property
    def handle(self):
        return <intptr_t>self._handle()

    # -- progress, one step, never blocking ------------------------------------------------

    cdef int _progress(self) except -1:
        """Advance without blocking; return 1 once complete. A lowercase irecv moves through
        its states here: matched probe, the pickle, then its out-of-band buffers."""
        if self.state == RQ_DONE:
            return 1
        if _finalized_flag:
            _check_alive()
        if self.state == RQ_PLAIN:
            return self._progress_plain()
        if self.state == RQ_RECV_DATA and not self._take_pickle():
            return 0
        if self.state == RQ_RECV_OOB:
            return self._take_buffers()
        return 1 if self.state == RQ_DONE else 0

    cdef int _progress_plain(self) except -1:
        """ob_mpi and `more`: complete once all of them are."""
        cdef int flag = 0
        if self.ob_mpi != MPI_REQUEST_NULL:
            CHKERR(MPI_Test(&self.ob_mpi, &flag, &self.status))
            if not flag:
                return 0
        if self.n_more:
            CHKERR(MPI_Testall(self.n_more, self.more, &flag, MPI_STATUSES_IGNORE))
            if not flag:
                return 0
        self._finish()
        return 1

    cdef int _take_pickle(self) except -1:
        """RQ_RECV_DATA: once the pickle is in, unpickle it (-> RQ_DONE) or receive its
        out-of-band buffers from the same source and tag (-> RQ_RECV_OOB)."""
        cdef int flag = 0, count = 0
        CHKERR(MPI_Test(&self.ob_mpi, &flag, &self.status))
        if not flag:
            return 0
        self.status.MPI_ERROR = MPI_SUCCESS
        CHKERR(MPI_Test_cancelled(&self.status, &flag))
        if flag:                                # Cancel()ed: nothing was received
            self.data = None
            self._finish()
            return 1
        CHKERR(MPI_Get_count(&self.status, MPI_BYTE, &count))
        return self._unpack(memoryview(self.data)[:count])

    cdef int _unpack(self, object data) except -1:
        """The first message is in (status: its envelope): unpickle it (-> RQ_DONE) or post
        the receives of its out-of-band buffers (-> RQ_RECV_OOB). Returns 1: it moved on."""
        cdef int k = 0
        payload, sizes = pickle_split(data)
        if sizes is None:
            self.result = pickle_loads(payload, None)
            self.data = None
            self._finish()
            return 1
        self.data = payload
        self.oob = [new_bytearray(s) for s in sizes]
        for s in sizes:
            k += n_chunks(s)
        self._alloc_more(k)
        k = 0
        for buf in self.oob:
            k += post_chunks(CHUNK_RECV, PyByteArray_AS_STRING(buf), len(buf),
                             self.status.MPI_SOURCE, self.status.MPI_TAG, self.comm.ob_mpi,
                             &self.more[k])
        self.state = RQ_RECV_OOB
        return 1

    cdef int _take_buffers(self) except -1:
        """RQ_RECV_OOB: once every buffer is in, unpickle with them (-> RQ_DONE)."""
        cdef int flag = 0
        CHKERR(MPI_Testall(self.n_more, self.more, &flag, MPI_STATUSES_IGNORE))
        if not flag:
            return 0
        self.result = pickle_loads(self.data, self.oob)
        self.data = self.oob = None
        self._finish()
        return 1

    cdef int _alloc_more(self, int n) except -1:
        """`more`: n MPI requests, all null (chunks of out-of-band buffers)."""
        cdef int i
        self.more = <MPI_Request *>malloc(n * sizeof(MPI_Request))
        if self.more == NULL:
            raise MemoryError()
        self.n_more = n
        for i in range(n):
            self.more[i] = MPI_REQUEST_NULL
        return 0

    cdef void _finish(self):
        if self.is_recv and self.source == MPI_PROC_NULL:
            null_recv_status(&self.status)
        self.state = RQ_DONE
        self.ob_mpi = MPI_REQUEST_NULL
        self.keep = None

    cdef bint _plain(self):
        return self.state == RQ_PLAIN or self.state == RQ_DONE

    cdef int _abandon(self) except -1:
        """After an interrupt: cancel a pending receive, keep anything else alive."""
        cdef MPI_Request r
        if self.ob_mpi != MPI_REQUEST_NULL:
            r = self.ob_mpi
            abandon(1, &r, self.is_recv or self.state == RQ_RECV_DATA, (self, self.keep, self.data))
        if self.n_more:
            abandon(self.n_more, self.more, self.is_recv or self.state == RQ_RECV_OOB,
                    (self, self.keep, self.oob))
        self._finish()
        return 0

    # -- blocking and testing, mpi4py's API ------------------------------------------------

    def Wait(self, Status status=None):
        """Wait for completion (interruptible with Ctrl-C). Returns True."""
        self._wait1(b"Wait")
        fill_status(status, &self.status)
        return True

    def Test(self, Status status=None):
        cdef int done = self._test1(b"Test")
        if done:
            fill_status(status, &self.status)
        return bool(done)

    def wait(self, Status status=None):
        """Wait and return the received object (None for sends)."""
        self._wait1(b"wait")
        fill_status(status, &self.status)
        return self._take_result()

    def test(self, Status status=None):
        if self._test1(b"test"):
            fill_status(status, &self.status)
            return (True, self._take_result())
        return (False, None)

    cdef object _take_result(self):
        """The received object (None for sends), handed over once: the request forgets it."""
        result, self.result = self.result, None
        return result

    cdef int _wait1(self, const char *call) except -1:
        """Wait for this request; a receive tells the wait loop what it waits for."""
        cdef long long ev = _call_hook(call, K_WAIT, None)
        if self.is_recv and self.comm is not None:
            _wait_list([self], 0, call, self.source, self.tag, self.comm)
        else:
            _wait_list([self], 0, call)
        if ev >= 0:
            _wait_done(ev, [self])
        return 0

    cdef int _test1(self, const char *call) except -1:
        cdef int done = self._progress()
        if MPIK_INSTRUMENTED and _instr_flags:
            _ev_test(call, K_WAIT, None, done, NULL, [self])
        return done

    def Get_status(self, Status status=None):
        """Non-destructive test (MPI_Request_get_status): the request stays active, so a
        Wait/Test still completes it. A lowercase irecv reports its first message."""
        cdef int flag = 1, f = 0, i
        cdef MPI_Status st
        memcpy(&st, &self.status, sizeof(MPI_Status))
        if self.ob_mpi != MPI_REQUEST_NULL or self.n_more == 0:   # null: the empty status
            CHKERR(MPI_Request_get_status(self.ob_mpi, &flag, &st))
        for i in range(self.n_more):
            if flag and self.more[i] != MPI_REQUEST_NULL:
                CHKERR(MPI_Request_get_status(self.more[i], &flag, MPI_STATUS_IGNORE))
        if flag:
            fill_status(status, &st)
        return bool(flag)

    get_status = Get_status

    def Cancel(self):
        if self.ob_mpi != MPI_REQUEST_NULL:
            CHKERR(MPI_Cancel(&self.ob_mpi))

    def Free(self):
        if self.ob_mpi != MPI_REQUEST_NULL:
            CHKERR(MPI_Request_free(&self.ob_mpi))
        self._finish()

    def free(self):
        """Free if not null (mpi4py's lowercase form)."""
        if self:
            self.Free()

    cancel = Cancel

    @staticmethod
    def Waitall(requests, statuses=None):
        reqs = list(requests)
        _waitall(reqs, b"Waitall")
        _fill_statuses(reqs, statuses)
        return True

    @staticmethod
    def waitall(requests, statuses=None):
        reqs = list(requests)
        _waitall(reqs, b"waitall")
        _fill_statuses(reqs, statuses)
        return [(<Request>r)._take_result() for r in reqs]

    @staticmethod
    def Testall(requests, statuses=None):
        return _testall(list(requests), statuses, b"Testall")

    @staticmethod
    def testall(requests, statuses=None):
        reqs = list(requests)
        if _testall(reqs, statuses, b"testall"):
            return (True, [(<Request>r)._take_result() for r in reqs])
        return (False, None)

    @staticmethod
    def Waitany(requests, Status status=None):
        return _waitany(list(requests), status, b"Waitany")

    @staticmethod
    def waitany(requests, Status status=None):
        reqs = list(requests)
        cdef int index = _waitany(reqs, status, b"waitany")
        if index == MPI_UNDEFINED:
            return (index, None)
        return (index, (<Request>reqs[index])._take_result())

    @staticmethod
    def Testany(requests, Status status=None):
        return _testany(list(requests), status, b"Testany")

    @staticmethod
    def testany(requests, Status status=None):
        reqs = list(requests)
        index, flag = _testany(reqs, status, b"testany")
        if flag and index != MPI_UNDEFINED:
            return (index, True, (<Request>reqs[index])._take_result())
        return (index, flag, None)

    @staticmethod
    def Waitsome(requests, statuses=None):
        return _some(list(requests), statuses, True, b"Waitsome")

    @staticmethod
    def Testsome(requests, statuses=None):
        return _some(list(requests), statuses, False, b"Testsome")

    @staticmethod
    def waitsome(requests, statuses=None):
        reqs = list(requests)
        return _some_results(reqs, _some(reqs, statuses, True, b"waitsome"))

    @staticmethod
    def testsome(requests, statuses=None):
        reqs = list(requests)
        return _some_results(reqs, _some(reqs, statuses, False, b"testsome"))


    @staticmethod
    def Get_status_any(requests, Status status=None):
        """Non-destructive Testany: (index, flag); (UNDEFINED, True) when none is active."""
        reqs = list(requests)
        active = [i for i in range(len(reqs)) if (<Request?>reqs[i])._active()]
        if not active:
            if status is not None:
                (<Request>REQUEST_NULL).Get_status(status)
            return (MPI_UNDEFINED, True)
        for i in active:
            if (<Request>reqs[i]).Get_status(status):
                return (i, True)
        return (MPI_UNDEFINED, False)

    @staticmethod
    def Get_status_all(requests, statuses=None):
        """Non-destructive Testall: True once every request is complete."""
        reqs = list(requests)
        sts = [Status() for _ in reqs]
        if not all([(<Request?>reqs[i]).Get_status(sts[i]) for i in range(len(reqs))]):
            return False
        if statuses is not None:
            if isinstance(statuses, list):
                statuses += [Status() for _ in range(len(statuses), len(reqs))]
            for i in range(min(len(reqs), len(statuses))):
                fill_status(statuses[i], &(<Status>sts[i]).ob_mpi)
        return True

    @staticmethod
    def Get_status_some(requests, statuses=None):
        """Non-destructive Testsome: the indices of the complete active requests, or None."""
        reqs = list(requests)
        active = [i for i in range(len(reqs)) if (<Request?>reqs[i])._active()]
        if not active:
            return None
        done = [i for i in active if (<Request>reqs[i]).Get_status()]
        _fill_statuses([reqs[i] for i in done], statuses)
        return done

    get_status_any = Get_status_any
    get_status_all = Get_status_all
    get_status_some = Get_status_some


cdef object _some(list reqs, statuses, bint wait, const char *call):
    """Waitsome/Testsome: the indices of the active requests that are complete now (wait: at
    least one, through the wait loop), their statuses in that order into `statuses` (a list
    is extended, as mpi4py's); None when no request is active."""
    cdef Py_ssize_t i
    cdef int first = MPI_UNDEFINED
    active = [i for i in range(len(reqs)) if (<Request?>reqs[i])._active()]
    if not active:
        return None
    if wait:
        first = _waitany(reqs, None, call)
    done = [i for i in active if i == first or (<Request>reqs[i])._progress()]
    if not wait and MPIK_INSTRUMENTED and _instr_flags:
        _ev_test(call, K_WAIT, None, 1 if done else 0, NULL, reqs)
    _fill_statuses([reqs[i] for i in done], statuses)
    return done


cdef tuple _some_results(list reqs, object done):
    """The lowercase forms: (indices, received objects), (None, None) when none was active."""
    if done is None:
        return (None, None)
    return (done, [(<Request>reqs[i])._take_result() for i in done])


cdef int _waitall(list reqs, const char *call) except -1:
    cdef long long ev = _call_hook(call, K_WAIT, None)
    _wait_list(reqs, 0, call)
    if ev >= 0:
        _wait_done(ev, reqs)
    return 0


cdef bint _testall(list reqs, statuses, const char *call) except -1:
    """Testall completes every request or none (MPI): plain requests are looked at without
    completing them (Get_status) until all are done; a lowercase irecv advances its steps."""
    cdef bint alldone = True
    cdef Request q
    for r in reqs:
        q = <Request?>r
        if not (q._progress() if not q._plain() else q.Get_status()):
            alldone = False
    if alldone:
        for r in reqs:
            (<Request>r)._progress()
    if MPIK_INSTRUMENTED and _instr_flags:
        _ev_test(call, K_WAIT, None, alldone, NULL, reqs)
    if alldone:
        _fill_statuses(reqs, statuses)
    return alldone


cdef int _waitany(list reqs, Status status, const char *call) except? -2:
    cdef long long ev = _call_hook(call, K_WAIT, None)
    cdef int index = _wait_list(reqs, 1, call)
    if ev >= 0:
        _wait_done(ev, reqs)
    if index != MPI_UNDEFINED:
        fill_status(status, &(<Request>reqs[index]).status)
    return index


cdef tuple _testany(list reqs, Status status, const char *call):
    cdef int i
    if not any([(<Request?>r)._active() for r in reqs]):
        return (MPI_UNDEFINED, True)
    for i in range(len(reqs)):
        if (<Request>reqs[i])._active() and (<Request>reqs[i])._progress():
            if MPIK_INSTRUMENTED and _instr_flags:
                _ev_test(call, K_WAIT, None, 1, NULL, reqs)
            fill_status(status, &(<Request>reqs[i]).status)
            return (i, True)
    if MPIK_INSTRUMENTED and _instr_flags:
        _ev_test(call, K_WAIT, None, 0, NULL, reqs)
    return (MPI_UNDEFINED, False)


REQUEST_NULL = Request()


cdef int _fill_statuses(list reqs, statuses) except -1:
    if statuses is None:
        return 0
    cdef Py_ssize_t i
    if isinstance(statuses, list):      # a list grows to one Status per request (mpi4py)
        statuses += [Status() for _ in range(len(statuses), len(reqs))]
    for i in range(min(len(reqs), len(statuses))):
        fill_status(statuses[i], &(<Request>reqs[i]).status)
    return 0


cdef struct _ObjPoll:
    void *reqs          # borrowed list of Request
    int any             # return when any one is complete
    int index
    int error


cdef int _poll_objects(void *ctx, int *done) noexcept nogil:
    """Poll Python-level requests (state machines); takes the GIL for each step."""
    cdef _ObjPoll *p = <_ObjPoll *>ctx
    global _poll_exc
    with gil:
        try:
            done[0] = _progress_list(<list>p.reqs, p.any, &p.index)
        except BaseException as exc:
            _poll_exc = exc
            p.error = 1
            done[0] = 1
    return MPI_SUCCESS


cdef object _poll_exc = None


cdef int _progress_list(list reqs, int any, int *index) except -1:
    cdef Py_ssize_t i
    cdef int alldone = 1
    cdef int active = 0
    for i in range(len(reqs)):
        r = <Request>reqs[i]
        if not r._active():
            continue
        active += 1
        if r._progress():
            if any:
                index[0] = <int>i
                return 1
        else:
            alldone = 0
    if any and not active:
        index[0] = MPI_UNDEFINED
        return 1
    return alldone


cdef int _wait_list(list reqs, int any, const char *call=b"Waitall", int peer=MPI_PROC_NULL,
                    int tag=0, object comm=None, long long nbytes=0) except? -2:
    """Wait for all (or any) of a list of Requests. Returns the index for `any`."""
    cdef Py_ssize_t total = 0
    cdef Request r
    cdef bint plain = True, single = True
    _check_alive()
    for x in reqs:
        r = <Request?>x
        if not r._plain():
            plain = False
        if r.n_more:
            single = False
        total += (1 if r.ob_mpi != MPI_REQUEST_NULL else 0) + r.n_more
    if plain and not any:
        return _wait_handles(reqs, total, call, peer, tag, comm, nbytes)
    if plain and single and reqs:
        return _waitany_handles(reqs, call, peer, tag, comm, nbytes)
    return _wait_machines(reqs, any, call, peer, tag, comm, nbytes)


cdef int _wait_handles(list reqs, Py_ssize_t total, const char *call, int peer, int tag,
                       object comm, long long nbytes) except -1:
    """The common case, only MPI requests (`total` handles): one wait over all of them."""
    cdef Py_ssize_t i, n = len(reqs)
    cdef MPI_Request *handles
    cdef MPI_Status *sts
    cdef Request r
    if total == 0:
        for i in range(n):
            (<Request>reqs[i])._progress()
        return 0
    if n == 1 and (<Request>reqs[0]).n_more == 0:
        r = <Request>reqs[0]
        wait_requests(1, &r.ob_mpi, &r.status, call, peer, tag, nbytes, comm, r.is_recv, r.keep)
        r._finish()
        return 0
    handles = <MPI_Request *>malloc(total * sizeof(MPI_Request))
    sts = <MPI_Status *>malloc(total * sizeof(MPI_Status))
    try:
        if handles == NULL or sts == NULL:
            raise MemoryError()
        _gather_handles(reqs, handles)
        try:
            wait_requests(<int>total, handles, sts, call, peer, tag, nbytes, comm, False,
                          list(reqs))
        except BaseException:
            for i in range(n):
                (<Request>reqs[i])._finish()
            raise
        _finish_handles(reqs, sts)
    finally:
        free(handles)
        free(sts)
    return 0


cdef int _waitany_handles(list reqs, const char *call, int peer, int tag, object comm,
                          long long nbytes) except? -2:
    """Waitany over plain requests of one handle each: MPI_Testany in the wait loop, no Python
    between polls. Returns the index, MPI_UNDEFINED when none was active."""
    cdef Py_ssize_t i, n = len(reqs)
    cdef MPI_Request *handles = <MPI_Request *>malloc(n * sizeof(MPI_Request))
    cdef MPI_Status st
    cdef ReqSet rs
    cdef Request r
    if handles == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            handles[i] = (<Request>reqs[i]).ob_mpi
        rs.n = <int>n
        rs.reqs = handles
        rs.statuses = &st
        rs.index = MPI_UNDEFINED
        try:
            wait_until(poll_any, &rs, call, peer, tag, nbytes, comm)
        except BaseException:
            for x in reqs:
                (<Request>x)._abandon()
            raise
        if rs.index == MPI_UNDEFINED:
            return MPI_UNDEFINED
        r = <Request>reqs[rs.index]
        memcpy(&r.status, &st, sizeof(MPI_Status))
        r.ob_mpi = MPI_REQUEST_NULL
        r._finish()
        return rs.index
    finally:
        free(handles)


cdef int _gather_handles(list reqs, MPI_Request *handles) except -1:
    """Every request's ob_mpi (if any) and `more`, in order, into handles."""
    cdef Py_ssize_t k = 0
    cdef Request r
    for x in reqs:
        r = <Request>x
        if r.ob_mpi != MPI_REQUEST_NULL:
            handles[k] = r.ob_mpi
            k += 1
        memcpy(&handles[k], r.more, r.n_more * sizeof(MPI_Request))
        k += r.n_more
    return 0


cdef int _finish_handles(list reqs, MPI_Status *sts) except -1:
    """After _gather_handles' wait: each request's status (of its ob_mpi), all complete."""
    cdef Py_ssize_t k = 0
    cdef int j
    cdef Request r
    for x in reqs:
        r = <Request>x
        if r.ob_mpi != MPI_REQUEST_NULL:
            memcpy(&r.status, &sts[k], sizeof(MPI_Status))
            k += 1
        k += r.n_more
    for x in reqs:
        r = <Request>x
        r.ob_mpi = MPI_REQUEST_NULL
        for j in range(r.n_more):
            r.more[j] = MPI_REQUEST_NULL
        r._finish()
    return 0


cdef int _wait_machines(list reqs, int any, const char *call, int peer, int tag, object comm,
                        long long nbytes) except? -2:
    """Requests with state machines (lowercase irecv) or `any`: the wait loop advances them
    through _poll_objects; on interrupt each is abandoned. Returns the index for `any`."""
    global _poll_exc
    cdef _ObjPoll p
    p.reqs = <void *>reqs
    p.any = any
    p.index = MPI_UNDEFINED
    p.error = 0
    try:
        wait_until(_poll_objects, &p, call, peer, tag, nbytes, comm)
    except BaseException:
        for x in reqs:
            (<Request>x)._abandon()
        raise
    if p.error:
        exc, _poll_exc = _poll_exc, None
        raise exc
    return p.index
