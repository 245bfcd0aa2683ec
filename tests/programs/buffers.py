"""MPI.buffer, Alloc_mem, addresses and MPI.BOTTOM, DLPack and CUDA-array-interface objects
(host memory), compared with mpi4py (tests/binding/test_binding_buffers.py)."""

from harness import MPI, RANK, SIZE, check, done, np, raises

W = MPI.COMM_WORLD
right, left = (RANK + 1) % SIZE, (RANK - 1) % SIZE


class DL:
    """Only DLPack: no buffer protocol, so the binding must read __dlpack__."""
    def __init__(self, a):
        self.a = a

    def __dlpack__(self, **kw):
        return self.a.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self.a.__dlpack_device__()


class CAI:
    """Only __cuda_array_interface__, over host memory (as mpi4py's own tests do)."""
    def __init__(self, a):
        self.a = a
        self.__cuda_array_interface__ = {"version": 3, "data": (a.ctypes.data, False),
                                         "typestr": a.dtype.str, "shape": a.shape, "strides": None}


def ring(wrap):
    send = np.arange(4, dtype="d") + RANK
    recv = np.zeros(4)
    W.Sendrecv(wrap(send), right, 1, wrap(recv), left, 1)
    return recv


def buffer_ops():
    b = MPI.buffer.allocate(6, clear=True)
    b[0] = 7
    b[2:4] = b"xy"
    ro = b.toreadonly()
    view = MPI.buffer(bytearray(b"abcdef"))
    return (len(b), b.nbytes, b.tobytes(), b[0], b[1:3].tobytes(), ro.readonly, b.readonly,
            b.format, b.itemsize, view[2], bytes(b.cast("B")), MPI.memory is MPI.buffer)


def fromaddress():
    a = np.arange(3, dtype="i")
    b = MPI.buffer.fromaddress(a.ctypes.data, a.nbytes)
    return np.frombuffer(b, dtype="i").tolist(), b.address == a.ctypes.data


def alloc_mem():
    mem = MPI.Alloc_mem(16)
    arr = np.frombuffer(mem, dtype="d")
    arr[:] = [RANK, 2.5]
    W.Sendrecv([mem, MPI.DOUBLE], right, 2, [out := np.zeros(2), MPI.DOUBLE], left, 2)
    n = mem.nbytes
    MPI.Free_mem(mem)
    return n, out, mem.nbytes


def bottom_struct():
    a, b = np.array([RANK], "i"), np.array([RANK + 0.5])
    ra, rb = np.zeros(1, "i"), np.zeros(1)
    send = MPI.Datatype.Create_struct([1, 1], [MPI.Get_address(a), MPI.Get_address(b)],
                                      [MPI.INT, MPI.DOUBLE]).Commit()
    recv = MPI.Datatype.Create_struct([1, 1], [MPI.Get_address(ra), MPI.Get_address(rb)],
                                      [MPI.INT, MPI.DOUBLE]).Commit()
    W.Sendrecv([MPI.BOTTOM, 1, send], right, 3, [MPI.BOTTOM, 1, recv], left, 3)
    send.Free()
    recv.Free()
    return ra, rb


def addresses():
    a = np.zeros(4, "d")
    p0, p1 = MPI.Get_address(a), MPI.Get_address(a[1:])
    return MPI.Aint_diff(p1, p0), MPI.Aint_add(p0, 8) == p1, MPI.Get_address(MPI.BOTTOM)


check("MPI.buffer: allocate, index, slice, toreadonly, cast", buffer_ops)
check("MPI.buffer.fromaddress over a numpy array", fromaddress)
check("MPI.buffer.frombuffer", lambda: (MPI.buffer.frombuffer(b"ab", readonly=True).readonly,
                                        MPI.buffer.frombuffer(bytearray(3)).nbytes))
check("Alloc_mem in a message, Free_mem", alloc_mem)
check("Get_address, Aint_add/diff", addresses)
check("MPI.BOTTOM with absolute addresses", bottom_struct)
check("DLPack object in Sendrecv", lambda: ring(DL))
check("CUDA-array-interface object (host memory) in Sendrecv", lambda: ring(CAI))
check("MPI.buffer of a DLPack object", lambda: MPI.buffer(DL(np.arange(3, dtype="B"))).tobytes())
check("array.array and memoryview", lambda: ring(lambda a: memoryview(a)))
def CAI_ro():
    c = CAI(np.zeros(2))
    c.__cuda_array_interface__["data"] = (c.a.ctypes.data, True)
    return c


raises("a read-only receive buffer", lambda: W.Sendrecv(np.zeros(2), right, 4, bytes(16), left, 4))
raises("buffer.allocate(-1)", lambda: MPI.buffer.allocate(-1))
raises("buffer.fromaddress(0, 8)", lambda: MPI.buffer.fromaddress(0, 8))
raises("writing a read-only MPI.buffer", lambda: MPI.buffer.frombuffer(b"ab", readonly=True).__setitem__(0, 1))
raises("Get_address of a non-buffer", lambda: MPI.Get_address(object()))
raises("a read-only CAI object as a writable buffer", lambda: MPI.buffer.frombuffer(CAI_ro(), False))


check("end", W.Barrier, None)
done()
