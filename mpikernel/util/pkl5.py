"""Pickle protocol 5 communication without size limits: ``mpi4py.util.pkl5``'s API and wire
format, on our binding (``from mpikernel.util import pkl5``).

An object travels as several messages with one tag: a header of int64 lengths (the pickle
stream, then each out-of-band buffer), the stream, then each buffer straight from its memory.
A part over the count limit of the library's calls goes as one element of a contiguous type
(_BigMPI), so a 3 GiB numpy array is one message even where counts are 32-bit. The collectives
are point-to-point on a private duplicate of the communicator (util._context)."""

import struct

from mpikernel import MPI
from mpikernel.MPI import ANY_SOURCE, ANY_TAG, PROC_NULL, ROOT, Pickle, Status
from mpikernel.util._context import comm_lock as _comm_lock
from mpikernel.util._context import commctx_inter as _commctx_inter
from mpikernel.util._context import commctx_intra as _commctx_intra

__all__ = ["Comm", "Intercomm", "Intracomm", "Message", "Pickle", "Request", "pickle"]

pickle = Pickle()       # replaceable, as in mpi4py (tests swap in one with THRESHOLD = 0)


class _BigMPI:
    """(buffer, count, datatype) for a part of any size: bytes up to `blocksize`, else one
    element of a contiguous type of that many bytes, freed when the `with` block ends."""

    blocksize = (1 << 63) - 1 if MPI.Get_version() >= (4, 0) else (1 << 31) - 1

    def __init__(self):
        self.cache = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for dtype in self.cache.values():
            dtype.Free()
        self.cache.clear()

    def __call__(self, buf):
        buf = memoryview(buf)
        count = buf.nbytes
        if count <= self.blocksize:
            return (buf, count, MPI.BYTE)
        dtype = self.cache.get(count)
        if dtype is None:
            dtype = self.cache[count] = MPI.BYTE.Create_contiguous(count).Commit()
        return (buf, 1, dtype)


_bigmpi = _BigMPI()     # module-level and looked up at each call: tests swap it too

_HEADER_CODE = "q"


def _header_type():
    return MPI.Datatype.fromcode(_HEADER_CODE)


def _pack(lengths):
    return struct.pack(f"{len(lengths)}{_HEADER_CODE}", *lengths)


def _unpack(raw):
    return struct.unpack(f"{len(raw) // struct.calcsize(_HEADER_CODE)}{_HEADER_CODE}", raw)


def _header_buffer(n):
    return bytearray(n * struct.calcsize(_HEADER_CODE))


def _new_buffer(size):
    return MPI.buffer.allocate(size)


def _dumps(obj):
    return pickle.dumps_oob(obj)


def _loads(data, bufs):
    return pickle.loads_oob(data, bufs)


# -- point to point ---------------------------------------------------------------------------


def _send_parts(comm, send, data, bufs, dest, tag):
    send(comm, (_pack([len(data)] + [len(b) for b in bufs]), _header_type()), dest, tag)
    with _bigmpi as big:
        send(comm, big(data), dest, tag)
        for b in bufs:
            send(comm, big(b), dest, tag)


def _send(comm, send, obj, dest, tag):
    if dest == PROC_NULL:
        send(comm, (None, 0, MPI.BYTE), dest, tag)
        return
    data, bufs = _dumps(obj)
    with _comm_lock(comm, "send"):
        _send_parts(comm, send, data, bufs, dest, tag)


def _isend(comm, isend, obj, dest, tag):
    reqs = []
    _send(comm, lambda c, buf, d, t: reqs.append(isend(c, buf, d, t)), obj, dest, tag)
    return Request(reqs)


def _recv_parts(comm, recv, buf, source, tag, status=None):
    """Probe for the header, then receive the stream (into `buf` if it is large enough) and
    the buffers from the same source and tag."""
    status = Status() if status is None else status
    MPI.Comm.Probe(comm, source, tag, status)
    source, tag = status.Get_source(), status.Get_tag()
    header = _header_buffer(status.Get_elements(_header_type()))
    MPI.Comm.Recv(comm, (header, _header_type()), source, tag, status)
    lengths = _unpack(header)
    if buf is not None:
        buf = memoryview(buf).cast("B")
        buf = buf[: lengths[0]] if len(buf) >= lengths[0] else None
    data = _new_buffer(lengths[0]) if buf is None else buf
    bufs = [_new_buffer(n) for n in lengths[1:]]
    with _bigmpi as big:
        recv(comm, big(data), source, tag)
        for b in bufs:
            recv(comm, big(b), source, tag)
    status.Set_elements(MPI.BYTE, sum(lengths))
    return data, bufs


def _recv(comm, recv, buf, source, tag, status):
    if source == PROC_NULL:
        recv(comm, (None, 0, MPI.BYTE), source, tag, status)
        return None
    with _comm_lock(comm, "recv"):
        data, bufs = _recv_parts(comm, recv, buf, source, tag, status)
    return _loads(data, bufs)


def _mprobe(comm, mprobe, source, tag, status):
    """A Message of every part of the next object (None if Improbe found none yet)."""
    if source == PROC_NULL:
        return Message([MPI.Comm.Mprobe(comm, source, tag, status)])
    status = Status() if status is None else status
    with _comm_lock(comm, "recv"):
        first = mprobe(comm, source, tag, status)
        if first is None:
            return None
        parts, nbytes = [first], 0
        source, tag = status.Get_source(), status.Get_tag()
        for _ in range(status.Get_elements(_header_type())):
            parts.append(MPI.Comm.Mprobe(comm, source, tag, status))
            nbytes += status.Get_elements(MPI.BYTE)
        status.Set_elements(MPI.BYTE, nbytes)
        return Message(parts)


def _mrecv_parts(message, mrecv, status=None):
    if message[0] == MPI.MESSAGE_NO_PROC:
        header = _header_buffer(0)
        MPI.Message.Recv(message[0], (header, _header_type()), status)
        mrecv(MPI.MESSAGE_NO_PROC, (None, 0, MPI.BYTE))
        data, bufs = _dumps(None)
        return bytearray(data), bufs
    parts = iter(message)
    header = _header_buffer(len(message) - 1)
    MPI.Message.Recv(next(parts), (header, _header_type()), status)
    lengths = _unpack(header)
    data = _new_buffer(lengths[0])
    bufs = [_new_buffer(n) for n in lengths[1:]]
    with _bigmpi as big:
        mrecv(next(parts), big(data))
        for b in bufs:
            mrecv(next(parts), big(b))
    if status is not None:
        status.Set_elements(MPI.BYTE, sum(lengths))
    return data, bufs


def _mrecv(message, status):
    data, bufs = _mrecv_parts(message, MPI.Message.Recv, status)
    return _loads(data, bufs)


def _imrecv(message):
    reqs = []
    data, bufs = _mrecv_parts(message, lambda m, buf: reqs.append(MPI.Message.Irecv(m, buf)))
    request = Request(reqs)
    request._data_bufs = (data, bufs)
    return request


def _load(request):
    """The object an imrecv request received, once (None for sends)."""
    data_bufs = getattr(request, "_data_bufs", None)
    if data_bufs is None:
        return None
    if request == MPI.REQUEST_NULL:
        del request._data_bufs
    return _loads(*data_bufs)


def _test(request, test, status):
    flag = test(request, None if status is None else [status])
    return (flag, _load(request)) if flag else (flag, None)


def _testall(requests, testall, statuses):
    if isinstance(statuses, list):
        statuses += [Status() for _ in range(len(statuses), len(requests))]
    flat = [r for req in requests for r in req]
    flat_statuses = None
    if statuses is not None:
        flat_statuses = [st for req, st in zip(requests, statuses) for _ in req]
    flag = testall(flat, flat_statuses)
    return (flag, [_load(req) for req in requests]) if flag else (flag, None)


# -- collectives ------------------------------------------------------------------------------


def _bcast_parts(comm, bcast, data, bufs, root):
    """Broadcast the header's length, the header, then every part, from `root` of an
    intracommunicator; the other ranks allocate as the header says."""
    htype = _header_type()
    if comm.Get_rank() == root:
        lengths = [len(data)] + [len(b) for b in bufs]
        bcast(comm, (_pack([len(lengths)]), htype), root)
        bcast(comm, (_pack(lengths), htype), root)
    else:
        count = _header_buffer(1)
        bcast(comm, (count, htype), root)
        header = _header_buffer(_unpack(count)[0])
        bcast(comm, (header, htype), root)
        lengths = _unpack(header)
        data = _new_buffer(lengths[0])
        bufs = [_new_buffer(n) for n in lengths[1:]]
    with _bigmpi as big:
        bcast(comm, big(data), root)
        for b in bufs:
            bcast(comm, big(b), root)
    return data, bufs


def _bad_root(comm):
    comm.Call_errhandler(MPI.ERR_ROOT)
    raise MPI.Exception(MPI.ERR_ROOT)


def _bcast(comm, bcast, obj, root):
    if not comm.Is_inter():
        data, bufs = _dumps(obj if comm.Get_rank() == root else None)
        with _comm_lock(comm, "bcast"):
            data, bufs = _bcast_parts(comm, bcast, data, bufs, root)
        return _loads(data, bufs)
    rank, remote = comm.Get_rank(), comm.Get_remote_size()
    dup, tag, local, _ = _commctx_inter(comm)
    if root == PROC_NULL:
        return None
    if root == ROOT:        # the root sends to rank 0 of the other group, which broadcasts there
        data, bufs = _dumps(obj)
        _send_parts(dup, MPI.Comm.Send, data, bufs, 0, tag)
        return None
    if not 0 <= root < remote:
        _bad_root(comm)
    if rank == 0:
        data, bufs = _recv_parts(dup, MPI.Comm.Recv, None, root, tag)
    else:
        data, bufs = _dumps(None)
    with _comm_lock(local, "bcast"):
        data, bufs = _bcast_parts(local, bcast, data, bufs, 0)
    return _loads(data, bufs)


def _p2p():
    """([requests], isend into them, blocking recv): the collectives' point-to-point."""
    reqs = []
    return (reqs, lambda c, buf, d, t: reqs.append(MPI.Comm.Isend(c, buf, d, t)),
            lambda c, buf, s, t: MPI.Comm.Recv(c, buf, s, t))


def _rooted(comm, root, root_sends):
    """(private comm, tag, peers, this rank sends, this rank receives) of a rooted collective."""
    if comm.Is_inter():
        dup, tag, *_ = _commctx_inter(comm)
        size = comm.Get_remote_size()
        if root == PROC_NULL:
            return dup, tag, size, False, False
        if root == ROOT:
            return dup, tag, size, root_sends, not root_sends
        if 0 <= root < size:
            return dup, tag, size, not root_sends, root_sends
        _bad_root(comm)
    dup, tag = _commctx_intra(comm)
    size = comm.Get_size()
    if not 0 <= root < size:
        _bad_root(comm)
    at_root = root == comm.Get_rank()
    return dup, tag, size, (at_root if root_sends else True), (True if root_sends else at_root)


def _objects_for(objs, size):
    objs = [None] * size if objs is None else (objs if isinstance(objs, list) else list(objs))
    if len(objs) != size:
        raise ValueError(f"expecting {size} items, got {len(objs)}")
    return objs


def _gather(comm, obj, root):
    reqs, send, recv = _p2p()
    dup, tag, size, sends, receives = _rooted(comm, root, root_sends=False)
    if sends:
        _send_parts(dup, send, *_dumps(obj), root, tag)
    objs = [_loads(*_recv_parts(dup, recv, None, src, tag)) for src in range(size)] if receives else None
    MPI.Request.Waitall(reqs)
    return objs


def _scatter(comm, objs, root):
    reqs, send, recv = _p2p()
    dup, tag, size, sends, receives = _rooted(comm, root, root_sends=True)
    if sends:
        for dest, obj in enumerate(_objects_for(objs, size)):
            _send_parts(dup, send, *_dumps(obj), dest, tag)
    obj = _loads(*_recv_parts(dup, recv, None, root, tag)) if receives else None
    MPI.Request.Waitall(reqs)
    return obj


def _exchange(comm, objs_for):
    """allgather/alltoall: objs_for(size) is what goes to each peer; returns what came."""
    reqs, send, recv = _p2p()
    if comm.Is_inter():
        dup, tag, *_ = _commctx_inter(comm)
        size = comm.Get_remote_size()
    else:
        dup, tag = _commctx_intra(comm)
        size = comm.Get_size()
    for dest, obj in enumerate(objs_for(size)):
        _send_parts(dup, send, *_dumps(obj), dest, tag)
    got = [_loads(*_recv_parts(dup, recv, None, src, tag)) for src in range(size)]
    MPI.Request.Waitall(reqs)
    return got


# -- the objects --------------------------------------------------------------------------------


class _Parts(tuple):
    """The MPI requests or matched messages of one object's messages, used as one."""

    _part = None    # the MPI class of one part
    _null = None    # its null value

    def __new__(cls, parts=None):
        if parts is None:
            parts = (cls._null,)
        elif isinstance(parts, cls._part):
            parts = (parts,)
        return super().__new__(cls, parts)

    def __eq__(self, other):
        if isinstance(other, type(self)):
            return tuple(self) == tuple(other)
        if isinstance(other, self._part):
            return all(p == other for p in self)
        return NotImplemented

    def __ne__(self, other):
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = tuple.__hash__

    def __bool__(self):
        return any(p for p in self)


class Request(_Parts):
    """The MPI requests of one object's messages, completed together."""

    _part, _null = MPI.Request, MPI.REQUEST_NULL

    def Free(self) -> None:  # noqa: N802 - mpi4py's name
        for r in self:
            r.Free()

    def free(self) -> None:
        for r in self:
            r.free()

    def cancel(self):
        for r in self:
            r.Cancel()

    def get_status(self, status=None):
        statuses = [status] + [None] * (len(self) - 1)
        return all([MPI.Request.Get_status(r, s) for r, s in zip(self, statuses)])

    def test(self, status=None):
        return _test(self, MPI.Request.Testall, status)

    def wait(self, status=None):
        return _test(self, MPI.Request.Waitall, status)[1]

    @classmethod
    def get_status_all(cls, requests, statuses=None):
        if statuses is None:
            return all([r.get_status() for r in requests])
        statuses += [Status() for _ in range(len(statuses), len(requests))]
        return all([r.get_status(s) for r, s in zip(requests, statuses)])

    @classmethod
    def testall(cls, requests, statuses=None):
        return _testall(requests, MPI.Request.Testall, statuses)

    @classmethod
    def waitall(cls, requests, statuses=None):
        return _testall(requests, MPI.Request.Waitall, statuses)[1]


class Message(_Parts):
    """The matched MPI messages of one object (header, stream, buffers)."""

    _part, _null = MPI.Message, MPI.MESSAGE_NULL

    def free(self) -> None:
        for m in self:
            m.free()

    def recv(self, status=None):
        return _mrecv(self, status)

    def irecv(self):
        return _imrecv(self)

    @classmethod
    def probe(cls, comm, source=ANY_SOURCE, tag=ANY_TAG, status=None):
        return _mprobe(comm, MPI.Comm.Mprobe, source, tag, status)

    @classmethod
    def iprobe(cls, comm, source=ANY_SOURCE, tag=ANY_TAG, status=None):
        return _mprobe(comm, MPI.Comm.Improbe, source, tag, status)


class Comm(MPI.Comm):
    """A communicator whose lowercase calls use this module's messages (same handle)."""

    def __new__(cls, comm=None):
        return MPI.Comm.__new__(cls, comm)

    def send(self, obj, dest, tag=0):
        _send(self, MPI.Comm.Send, obj, dest, tag)

    def bsend(self, obj, dest, tag=0):
        _send(self, MPI.Comm.Bsend, obj, dest, tag)

    def ssend(self, obj, dest, tag=0):
        MPI.Request.Waitall(_isend(self, MPI.Comm.Issend, obj, dest, tag))

    def isend(self, obj, dest, tag=0):
        return _isend(self, MPI.Comm.Isend, obj, dest, tag)

    def ibsend(self, obj, dest, tag=0):
        return _isend(self, MPI.Comm.Ibsend, obj, dest, tag)

    def issend(self, obj, dest, tag=0):
        return _isend(self, MPI.Comm.Issend, obj, dest, tag)

    def recv(self, buf=None, source=ANY_SOURCE, tag=ANY_TAG, status=None):
        return _recv(self, MPI.Comm.Recv, buf, source, tag, status)

    def irecv(self, buf=None, source=ANY_SOURCE, tag=ANY_TAG):  # noqa: ARG002
        """Not supported (as in mpi4py): the size is known only once the header is in;
        use ``mprobe(...).irecv()``."""
        raise RuntimeError("unsupported")

    def sendrecv(self, sendobj, dest, sendtag=0, recvbuf=None, source=ANY_SOURCE, recvtag=ANY_TAG,
                 status=None):
        sent = _isend(self, MPI.Comm.Isend, sendobj, dest, sendtag)
        got = _recv(self, MPI.Comm.Recv, recvbuf, source, recvtag, status)
        MPI.Request.Waitall(sent)
        return got

    def mprobe(self, source=ANY_SOURCE, tag=ANY_TAG, status=None):
        return _mprobe(self, MPI.Comm.Mprobe, source, tag, status)

    def improbe(self, source=ANY_SOURCE, tag=ANY_TAG, status=None):
        return _mprobe(self, MPI.Comm.Improbe, source, tag, status)

    def bcast(self, obj, root=0):
        return _bcast(self, MPI.Comm.Bcast, obj, root)

    def gather(self, sendobj, root=0):
        return _gather(self, sendobj, root)

    def scatter(self, sendobj, root=0):
        return _scatter(self, sendobj, root)

    def allgather(self, sendobj):
        return _exchange(self, lambda size: [sendobj] * size)

    def alltoall(self, sendobj):
        return _exchange(self, lambda size: _objects_for(sendobj, size))


class Intracomm(Comm, MPI.Intracomm):
    """Intracommunicator."""


class Intercomm(Comm, MPI.Intercomm):
    """Intercommunicator."""
