# Pickling for lowercase calls: pickle protocol 5 with out-of-band buffers. A large contiguous
# buffer inside the object (a numpy array's data) is not copied into the pickle: it travels as
# its own MPI message(s) straight from the array's memory into a fresh buffer on the receiver,
# which the unpickled array then uses without another copy.
#
# Wire format of the first message: the pickle bytes. If out-of-band buffers follow, the pickle
# is followed by a trailer: their sizes (uint64 each), their number (uint64) and an 8-byte
# magic. A plain pickle always ends with the STOP opcode '.', never with the magic's last byte.

import pickle as _pickle_module

cdef object _dumps = _pickle_module.dumps
cdef object _loads = _pickle_module.loads
cdef object _PickleBuffer = _pickle_module.PickleBuffer
cdef int PICKLE_PROTOCOL = 5
cdef Py_ssize_t OOB_THRESHOLD = 64 * 1024         # smaller buffers stay in the pickle
cdef Py_ssize_t CHUNK = 1 << 30                    # one MPI message carries at most 1 GiB
cdef bytes OOB_MAGIC = b"MPIKOOB\x00"
cdef bytes OOB_MAGIC_P = b"MPIKOOBP"              # the same, and the pickle is buffer 0
cdef Py_ssize_t IRECV_BUFSZ = 32 * 1024            # mpi4py's irecv default: what irecv posts


cdef class Pickle:
    """mpi4py's MPI.Pickle: how lowercase calls turn objects into bytes. ``MPI.pickle`` is the
    one they use; ``MPI.pickle.__init__(dill.dumps, dill.loads)`` swaps the serializer. Out-of-band
    buffers (arrays sent without a copy) need the stdlib pickle at protocol 5."""
    cdef object ob_dumps
    cdef object ob_loads
    cdef object ob_proto
    cdef object ob_thres

    def __cinit__(self, *args, **kwargs):
        self.ob_dumps = _dumps
        self.ob_loads = _loads
        self.ob_proto = PICKLE_PROTOCOL
        self.ob_thres = OOB_THRESHOLD

    def __init__(self, dumps=None, loads=None, protocol=None, threshold=None):
        self.ob_dumps = _dumps if dumps is None else dumps
        self.ob_loads = _loads if loads is None else loads
        self.ob_proto = PICKLE_PROTOCOL if protocol is None and self.ob_dumps is _dumps else protocol
        self.ob_thres = OOB_THRESHOLD if threshold is None else threshold

    def dumps(self, obj):
        """The pickle of obj (in band, one bytes object)."""
        if self.ob_proto is None:
            return self.ob_dumps(obj)
        return self.ob_dumps(obj, self.ob_proto)

    def loads(self, data):
        return self.ob_loads(data)

    def dumps_oob(self, obj):
        """(pickle, out-of-band buffers of at least THRESHOLD bytes, as MPI.buffer objects).
        Out-of-band needs protocol 5: a lower PROTOCOL set here is raised to 5 (as mpi4py)."""
        buffers = []
        def callback(pb):
            view = pb.raw()
            if view.nbytes < self.ob_thres:
                return True
            buffers.append(buffer(view))
            return False
        protocol = self.ob_proto
        if protocol is not None and 0 <= protocol < 5:
            protocol = 5
        return self.ob_dumps(obj, protocol, buffer_callback=callback), buffers

    def loads_oob(self, data, buffers):
        return self.ob_loads(data, buffers=buffers)

    @property
    def PROTOCOL(self):
        return self.ob_proto

    @PROTOCOL.setter
    def PROTOCOL(self, protocol):
        self.ob_proto = PICKLE_PROTOCOL if protocol is None and self.ob_dumps is _dumps else protocol

    @property
    def THRESHOLD(self):
        return self.ob_thres

    @THRESHOLD.setter
    def THRESHOLD(self, threshold):
        self.ob_thres = OOB_THRESHOLD if threshold is None else threshold

    cdef bint _oob(self):
        """The fast path: stdlib pickle, protocol 5, big buffers out of band."""
        return self.ob_dumps is _dumps and self.ob_proto is not None and self.ob_proto >= 5


cdef Pickle _PICKLE = Pickle()
pickle = _PICKLE


class _OOBCollector:
    """buffer_callback for pickle.dumps: keep big buffers out of band, small ones in band."""
    __slots__ = ("buffers",)

    def __init__(self):
        self.buffers = []

    def __call__(self, pb):
        view = pb.raw()
        if view.nbytes < _PICKLE.ob_thres:
            return True
        self.buffers.append(view)
        return False


cdef tuple pickle_dumps(object obj, bint p2p=False):
    """(bytes to send first, list of memoryviews to send after it, or None).

    p2p: the first message must fit the IRECV_BUFSZ buffer that a lowercase irecv posts when
    it is called (as mpi4py's does), so a longer pickle travels out of band as buffer 0."""
    collector = _OOBCollector()
    try:
        if _PICKLE._oob():
            data = _dumps(obj, _PICKLE.ob_proto, buffer_callback=collector)
        else:
            data = _PICKLE.dumps(obj)
    except (_pickle_module.PicklingError, TypeError, AttributeError) as exc:
        raise type(exc)(
            f"cannot send a {type(obj).__name__} object: it cannot be pickled ({exc}). "
            "Send plain data (numbers, strings, lists, dicts, numpy arrays) instead."
        ) from exc
    if type(data) is not bytes:         # a custom dumps may give any buffer
        data = bytes(data)
    bufs = collector.buffers
    magic = OOB_MAGIC
    if p2p and len(data) + 16 + 8 * len(bufs) > IRECV_BUFSZ:
        bufs.insert(0, memoryview(data))
        data = b""
        magic = OOB_MAGIC_P
    if not bufs:
        return data, None
    import struct
    trailer = struct.pack(f"<{len(bufs)}QQ", *[v.nbytes for v in bufs], len(bufs)) + magic
    return data + trailer, bufs


cdef tuple pickle_split(object data):
    """For received bytes: (pickle part, list of out-of-band buffer sizes or None); the pickle
    part is None when the pickle itself is out-of-band buffer 0."""
    cdef Py_ssize_t n = len(data)
    if n >= 16 and data[n - 8:] in (OOB_MAGIC, OOB_MAGIC_P):
        import struct
        (count,) = struct.unpack_from("<Q", data, n - 16)
        start = n - 16 - 8 * count
        sizes = list(struct.unpack_from(f"<{count}Q", data, start))
        if data[n - 8:] == OOB_MAGIC_P:
            return None, sizes
        return memoryview(data)[:start], sizes
    return data, None


cdef object pickle_loads(object data, object buffers):
    """data: pickle_split's pickle part (None: it is buffers[0])."""
    cdef object loads = _PICKLE.ob_loads
    if buffers is None:
        return loads(data) if len(data) else None      # an empty message is None (mpi4py)
    if data is None:
        return loads(buffers[0], buffers=buffers[1:])
    return loads(data, buffers=buffers)


cdef inline object new_bytes(Py_ssize_t n):
    return PyBytes_FromStringAndSize(NULL, n)


cdef inline object new_bytearray(Py_ssize_t n):
    """Uninitialised, writable storage for a received buffer (no zero-fill of big arrays)."""
    return PyByteArray_FromStringAndSize(NULL, n)


cdef int n_chunks(Py_ssize_t nbytes) noexcept:
    return <int>((nbytes + CHUNK - 1) // CHUNK) if nbytes > 0 else 1


cdef enum:              # what post_chunks posts for each chunk of an out-of-band buffer
    CHUNK_SEND = 0      # MPI_Isend to peer
    CHUNK_RECV = 1      # MPI_Irecv from peer
    CHUNK_BCAST = 2     # MPI_Ibcast from the root peer


cdef int post_chunks(int kind, char *base, Py_ssize_t size, int peer, int tag, MPI_Comm comm,
                     MPI_Request *reqs) except -1:
    """One nonblocking call per CHUNK of [base, base + size) (one, empty, when size is 0),
    into reqs[0 .. n_chunks(size)). Returns how many it posted."""
    cdef Py_ssize_t off = 0
    cdef int c, k = 0
    while True:
        c = <int>(size - off if size - off < CHUNK else CHUNK)
        if kind == CHUNK_SEND:
            CHKERR(MPI_Isend(base + off, c, MPI_BYTE, peer, tag, comm, &reqs[k]))
        elif kind == CHUNK_RECV:
            CHKERR(MPI_Irecv(base + off, c, MPI_BYTE, peer, tag, comm, &reqs[k]))
        else:
            CHKERR(MPI_Ibcast(base + off, c, MPI_BYTE, peer, comm, &reqs[k]))
        k += 1
        off += c
        if off >= size:
            return k
