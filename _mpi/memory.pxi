# MPI.buffer (mpi4py 4's class; MPI.memory is its old name): a flat, byte-addressed view of any
# memory mpi4py accepts (Python buffers, DLPack, CUDA array interface, a raw address, memory from
# MPI.Alloc_mem), which itself exports the buffer protocol, so numpy.frombuffer reads it.

from cpython.long cimport PyLong_AsVoidPtr, PyLong_FromVoidPtr
from cpython.memoryview cimport PyMemoryView_FromObject
from libc.string cimport memmove

cdef extern from * nogil:
    """
    #define MPIK_Alloc_mem(size, baseptr) MPI_Alloc_mem(size, MPI_INFO_NULL, baseptr)
    """
    int MPIK_Alloc_mem(MPI_Aint, void *)


cdef class buffer:
    """A byte view of memory: MPI.buffer(obj), buffer.allocate(n), buffer.fromaddress(a, n)."""
    cdef Py_buffer view
    cdef bint held          # view came from PyObject_GetBuffer (or DLPack/CAI): release it
    cdef int kind           # MEM_HOST or MEM_DEVICE
    cdef list keep          # what the view's format string and memory depend on

    def __cinit__(self, *args):
        self.held = False
        self.kind = MEM_HOST
        self.keep = []
        PyBuffer_FillInfo(&self.view, None, NULL, 0, 0, 0)
        if args:
            self.kind = _get_view(args[0], &self.view, 0, self.keep)
            self.held = True

    def __dealloc__(self):
        if self.held:
            PyBuffer_Release(&self.view)

    @staticmethod
    def allocate(MPI_Aint nbytes, bint clear=False):
        """nbytes of new memory (zeroed with clear=True), owned by the buffer."""
        if nbytes < 0:
            raise ValueError("expecting non-negative size")
        storage = bytearray(nbytes) if clear else PyByteArray_FromStringAndSize(NULL, nbytes)
        return buffer(storage)

    @staticmethod
    def frombuffer(obj, bint readonly=False):
        cdef buffer b = buffer.__new__(buffer)
        b.kind = _get_view(obj, &b.view, 0 if readonly else PyBUF_WRITABLE, b.keep)
        b.held = True
        b.view.readonly = readonly
        return b

    @staticmethod
    def fromaddress(address, MPI_Aint nbytes, bint readonly=False):
        """A view of nbytes at a raw address (nothing keeps that memory alive: the caller does)."""
        cdef void *addr = PyLong_AsVoidPtr(address)
        if nbytes < 0:
            raise ValueError("expecting non-negative buffer length")
        if nbytes > 0 and addr == NULL:
            raise ValueError("expecting non-NULL address")
        return _buffer_over(addr, nbytes, readonly)

    @property
    def address(self):
        return PyLong_FromVoidPtr(self.view.buf)

    @property
    def obj(self):
        return None if <void *>self.view.obj == NULL else <object><void *>self.view.obj

    @property
    def nbytes(self):
        return self.view.len

    @property
    def readonly(self):
        return bool(self.view.readonly)

    @property
    def format(self):
        return "B"

    @property
    def itemsize(self):
        return 1

    def cast(self, format, shape=Ellipsis):
        _check_host(self)
        mv = PyMemoryView_FromObject(self)
        return mv.cast(format) if shape is Ellipsis else mv.cast(format, shape)

    def tobytes(self, order=None):
        _check_host(self)
        return PyBytes_FromStringAndSize(<char *>self.view.buf, self.view.len)

    def toreadonly(self):
        cdef object source = self if <void *>self.view.obj == NULL else <object><void *>self.view.obj
        cdef buffer b = buffer.__new__(buffer)
        if isinstance(source, buffer):
            b.kind = (<buffer>source).kind
            PyObject_GetBuffer(source, &b.view, 0)
        else:
            b.kind = _get_view(source, &b.view, 0, b.keep)
        b.held = True
        b.view.buf = self.view.buf
        b.view.len = self.view.len
        b.view.readonly = 1
        return b

    def release(self):
        """Give the exported memory back now, not when the object is collected."""
        if self.held:
            PyBuffer_Release(&self.view)
        self.held = False
        self.kind = MEM_HOST
        PyBuffer_FillInfo(&self.view, None, NULL, 0, 0, 0)

    def __getbuffer__(self, Py_buffer *view, int flags):
        PyBuffer_FillInfo(view, self, self.view.buf, self.view.len, self.view.readonly, flags)

    def __len__(self):
        return self.view.len

    def __getitem__(self, item):
        _check_host(self)
        cdef unsigned char *data = <unsigned char *>self.view.buf
        cdef Py_ssize_t start, stop, step
        if isinstance(item, slice):
            start, stop, step = item.indices(self.view.len)
            if step != 1:
                raise IndexError("slice with step not supported")
            return _buffer_over(data + start, max(stop - start, 0), self.view.readonly, self)
        start = _byte_index(self, item)
        return data[start]

    def __setitem__(self, item, value):
        _check_host(self)
        if self.view.readonly:
            raise TypeError("buffer is read-only")
        cdef unsigned char *data = <unsigned char *>self.view.buf
        cdef Py_ssize_t start, stop, step, n
        cdef Py_buffer src
        if not isinstance(item, slice):
            data[_byte_index(self, item)] = <unsigned char>value
            return
        start, stop, step = item.indices(self.view.len)
        if step != 1:
            raise IndexError("slice with step not supported")
        n = max(stop - start, 0)
        if hasattr(value, "__index__"):
            memset(data + start, <unsigned char>value, n)
            return
        PyObject_GetBuffer(value, &src, 0)
        try:
            if src.len != n:
                raise ValueError("slice length does not match buffer")
            memmove(data + start, src.buf, n)
        finally:
            PyBuffer_Release(&src)


memory = buffer


cdef Py_ssize_t _byte_index(buffer self, item) except -1:
    if not hasattr(item, "__index__"):
        raise TypeError("index must be integer or slice")
    cdef Py_ssize_t i = item.__index__()
    if i < 0:
        i += self.view.len
    if i < 0 or i >= self.view.len:
        raise IndexError("index out of range")
    return i


cdef int _check_host(buffer self) except -1:
    if self.kind == MEM_DEVICE:
        raise BufferError("buffer: the memory is declared device memory (DLPack off the CPU or "
                          "__cuda_array_interface__); Python does not read it")
    return 0


cdef buffer _buffer_over(void *addr, Py_ssize_t nbytes, bint readonly, object owner=None):
    """A buffer over raw memory (kept alive by `owner`, if given)."""
    cdef buffer b = buffer.__new__(buffer)
    PyBuffer_FillInfo(&b.view, owner, addr, nbytes, readonly, 0)
    if owner is not None:
        b.held = True       # releasing drops the reference FillInfo took on owner
        if isinstance(owner, buffer):
            b.kind = (<buffer>owner).kind
    return b


def Alloc_mem(MPI_Aint size, info=None):
    """size bytes from MPI_Alloc_mem (memory MPI may register for RMA), as an MPI.buffer; give
    it back with MPI.Free_mem. (The info hints are not passed on: MPI may ignore them.)"""
    _check_alive()
    if size < 0:
        raise ValueError(f"Alloc_mem: size must be >= 0, got {size}")
    cdef void *base = NULL
    CHKERR(MPIK_Alloc_mem(size, &base))
    cdef buffer b = _buffer_over(base, size, False)
    b.keep.append(_ALLOC_MARK)
    return b


_ALLOC_MARK = object()


def Free_mem(buffer mem):
    """Free memory from MPI.Alloc_mem; the buffer is empty afterwards."""
    if _ALLOC_MARK not in mem.keep:
        raise ValueError("Free_mem: this buffer was not allocated with MPI.Alloc_mem "
                         "(or it was freed already)")
    cdef void *base = mem.view.buf
    mem.keep.remove(_ALLOC_MARK)
    mem.release()
    CHKERR(MPI_Free_mem(base))
