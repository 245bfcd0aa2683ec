# Memory that is not a Python buffer: objects with __dlpack__/__dlpack_device__ (DLPack, v0 and
# v1 capsules) or __cuda_array_interface__ become a Py_buffer over their memory, with the checks
# and exception types of mpi4py's asdlpack.pxi/ascaibuf.pxi. MPI gets the pointer as it is.
#
# A pointer declared as device memory is host memory when no CUDA driver is loaded in this
# process (then no device memory can exist); with a driver loaded, the driver is asked, and real
# device memory is refused unless the MPI library says it is CUDA-aware.

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from cpython.pycapsule cimport PyCapsule_IsValid, PyCapsule_GetPointer
from cpython.buffer cimport PyBuffer_FillInfo

cdef extern from * nogil:
    """
    #include <dlfcn.h>
    typedef struct { int32_t device_type; int32_t device_id; } mpik_DLDevice;
    typedef struct { uint8_t code; uint8_t bits; uint16_t lanes; } mpik_DLDataType;
    typedef struct {
        void *data; mpik_DLDevice device; int32_t ndim; mpik_DLDataType dtype;
        int64_t *shape; int64_t *strides; uint64_t byte_offset;
    } mpik_DLTensor;
    typedef struct { mpik_DLTensor dl_tensor; void *manager_ctx; void *deleter; } mpik_DLManaged;
    typedef struct { uint32_t major; uint32_t minor; } mpik_DLVersion;
    typedef struct {
        mpik_DLVersion version; void *manager_ctx; void *deleter; uint64_t flags;
        mpik_DLTensor dl_tensor;
    } mpik_DLManagedVersioned;

    /* 1 if p is CUDA device memory (not managed, not host): asks the driver, if one is loaded */
    static int mpik_is_device_ptr(void *p) {
        void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
        if (!h) return 0;
        typedef int (*getattr_t)(void *, int, unsigned long long);
        getattr_t f = (getattr_t)dlsym(h, "cuPointerGetAttribute");
        unsigned int memtype = 0, managed = 0;
        int device = 0;
        if (f && f(&memtype, 2, (unsigned long long)(size_t)p) == 0 && memtype == 2) {
            device = !(f(&managed, 8, (unsigned long long)(size_t)p) == 0 && managed);
        }
        dlclose(h);
        return device;
    }
    static int mpik_mpi_cuda_aware(void) {
    #if defined(MPIX_GPU_SUPPORT_CUDA)
        int flag = 0;
        if (MPIX_GPU_query_support(MPIX_GPU_SUPPORT_CUDA, &flag) != MPI_SUCCESS) return 0;
        return flag;
    #else
        return 0;
    #endif
    }
    """
    ctypedef struct mpik_DLDevice:
        int32_t device_type
        int32_t device_id
    ctypedef struct mpik_DLDataType:
        uint8_t code
        uint8_t bits
        uint16_t lanes
    ctypedef struct mpik_DLTensor:
        void *data
        mpik_DLDevice device
        int32_t ndim
        mpik_DLDataType dtype
        int64_t *shape
        int64_t *strides
        uint64_t byte_offset
    ctypedef struct mpik_DLManaged:
        mpik_DLTensor dl_tensor
    ctypedef struct mpik_DLVersion:
        uint32_t major
        uint32_t minor
    ctypedef struct mpik_DLManagedVersioned:
        mpik_DLVersion version
        uint64_t flags
        mpik_DLTensor dl_tensor
    int mpik_is_device_ptr(void *)
    int mpik_mpi_cuda_aware()

cdef enum:
    MEM_HOST = 0        # a Python buffer, or DLPack on the CPU
    MEM_DEVICE = 1      # declared device memory (CAI, DLPack off the CPU): not read by Python
    DL_CPU = 1
    DL_CUDA_HOST = 3
    DL_CUDA_MANAGED = 13
    DL_INT = 0
    DL_UINT = 1
    DL_FLOAT = 2
    DL_COMPLEX = 5
    DL_BOOL = 6


cdef object _format_of(str kind, Py_ssize_t itemsize):
    """The struct format of a DLPack/CAI element, or 'B' (bytes) when there is none."""
    if kind == "c":
        ch = _char_of("f", itemsize // 2)
        return "B" if ch is None else "Z" + ch
    if kind == "b":
        return "?" if itemsize == 1 else "B"
    ch = _char_of(kind, itemsize) if kind in ("i", "u", "f") else None
    return "B" if ch is None else ch


cdef int _check_device_memory(void *ptr, what) except -1:
    if mpik_is_device_ptr(ptr) and not mpik_mpi_cuda_aware():
        raise BufferError(f"{what}: the buffer is CUDA device memory and {_library_name()} is "
                          "not CUDA-aware; copy it to the host first (e.g. cupy.asnumpy)")
    return 0


cdef bint _dl_contig(const mpik_DLTensor *t, bint fortran) noexcept:
    cdef int i, index
    cdef int64_t size = 1
    if t.strides == NULL:
        return not fortran or t.ndim <= 1
    for i in range(t.ndim):
        index = i if fortran else t.ndim - 1 - i
        if t.shape[index] > 1 and size != t.strides[index]:
            return False
        size *= t.shape[index]
    return True


cdef int _dl_check(const mpik_DLTensor *t, bint readonly, bint writable) except -1:
    cdef int i
    if t.ndim < 0:
        raise BufferError("dlpack: number of dimensions is negative")
    if t.ndim > 0 and t.shape == NULL:
        raise BufferError("dlpack: shape is NULL")
    for i in range(t.ndim):
        if t.shape[i] < 0:
            raise BufferError("dlpack: shape item is negative")
        if t.strides != NULL and t.strides[i] < 0:
            raise BufferError("dlpack: strides item is negative")
    if not _dl_contig(t, False) and not _dl_contig(t, True):
        raise BufferError("dlpack: buffer is not contiguous")
    if readonly and writable:
        raise BufferError("dlpack: buffer is not writable")
    return 0


cdef object _dl_format(const mpik_DLTensor *t, Py_ssize_t *itemsize):
    cdef int code = t.dtype.code, bits = t.dtype.bits
    kind = {DL_INT: "i", DL_UINT: "u", DL_FLOAT: "f", DL_COMPLEX: "c", DL_BOOL: "b"}.get(code)
    if t.dtype.lanes == 2 and code == DL_FLOAT:
        kind, bits = "c", bits * 2
    elif t.dtype.lanes != 1:
        kind = None
    fmt = "B" if kind is None or bits % 8 else _format_of(kind, bits // 8)
    itemsize[0] = 1 if fmt == "B" else bits // 8
    return fmt


cdef int _get_dlpack(object obj, Py_buffer *view, int flags, list keep) except -1:
    """Fill view from obj's DLPack capsule; returns MEM_HOST or MEM_DEVICE."""
    cdef unsigned device_type
    cdef int device_id
    device_type, device_id = obj.__dlpack_device__()
    dlpack = obj.__dlpack__
    versioned = True
    try:
        if device_type == DL_CPU:
            capsule = dlpack(max_version=(1, 0), copy=False)
        else:
            capsule = dlpack(stream=-1, max_version=(1, 0), copy=False)
    except TypeError:
        versioned = False
        capsule = dlpack() if device_type == DL_CPU else dlpack(stream=-1)
    name = b"dltensor_versioned" if versioned else b"dltensor"
    if not PyCapsule_IsValid(capsule, name):
        raise BufferError("dlpack: invalid capsule object")
    cdef void *p = PyCapsule_GetPointer(capsule, name)
    cdef const mpik_DLTensor *t
    cdef bint readonly = False
    if versioned:
        if (<mpik_DLManagedVersioned *>p).version.major < 1:
            raise BufferError("dlpack: unexpected version")
        t = &(<mpik_DLManagedVersioned *>p).dl_tensor
        readonly = ((<mpik_DLManagedVersioned *>p).flags & 1) != 0
    else:
        t = &(<mpik_DLManaged *>p).dl_tensor
    _dl_check(t, readonly, (flags & PyBUF_WRITABLE) == PyBUF_WRITABLE)
    cdef Py_ssize_t size = 1, itemsize = 1
    cdef int i
    for i in range(t.ndim):
        size *= t.shape[i]
    size *= (t.dtype.bits * t.dtype.lanes + 7) // 8
    fmt = _dl_format(t, &itemsize)
    cdef char *data = <char *>t.data + t.byte_offset
    cdef int kind = MEM_HOST
    if device_type not in (DL_CPU, DL_CUDA_HOST, DL_CUDA_MANAGED):
        _check_device_memory(data, "dlpack")
        kind = MEM_DEVICE
    _fill_view(view, capsule, data, size, readonly, flags, fmt, itemsize, keep)
    return kind


cdef bint _cai_contig(tuple shape, tuple strides, Py_ssize_t itemsize, bint fortran) except -1:
    cdef Py_ssize_t i, n = len(shape), size = itemsize, index
    for i in range(n):
        index = i if fortran else n - 1 - i
        if shape[index] > 1 and size != strides[index]:
            return False
        size *= shape[index]
    return True


cdef int _get_cai(object obj, Py_buffer *view, int flags, list keep) except -1:
    """Fill view from obj.__cuda_array_interface__; returns MEM_DEVICE."""
    cdef dict cai = obj.__cuda_array_interface__
    cdef tuple data = cai["data"]
    cdef str typestr = cai["typestr"]
    cdef tuple shape = cai["shape"]
    strides = cai.get("strides")
    mask, descr = cai.get("mask"), cai.get("descr")
    ptr, readonly = data
    cdef Py_ssize_t size = 1
    for s in shape:
        size *= s
    if ptr is None and size == 0:
        ptr = 0
    cdef void *addr = PyLong_AsVoidPtr(ptr)
    order, kind, itemsize = typestr[0:1], typestr[1:2], int(typestr[2:])
    if order not in ("|", "<" if _little_endian() else ">"):
        raise BufferError(f"__cuda_array_interface__: typestr {typestr!r} with "
                          + ("non-native" if order in "<>" else "unrecognized") + " byte order")
    if mask is not None:
        raise BufferError("__cuda_array_interface__: cannot handle masked arrays")
    if size < 0:
        raise BufferError(f"__cuda_array_interface__: buffer with negative size (shape:{shape})")
    if strides is not None and not _cai_contig(shape, strides, itemsize, False) \
            and not _cai_contig(shape, strides, itemsize, True):
        raise BufferError(f"__cuda_array_interface__: buffer is not contiguous "
                          f"(shape:{shape}, strides:{strides}, itemsize:{itemsize})")
    if readonly and (flags & PyBUF_WRITABLE) == PyBUF_WRITABLE:
        raise BufferError("__cuda_array_interface__: buffer is not writable")
    if descr is not None and (len(descr) != 1 or descr[0] != ("", typestr)):
        import warnings
        warnings.warn("__cuda_array_interface__: ignoring 'descr' key", RuntimeWarning, 2)
    _check_device_memory(addr, "__cuda_array_interface__")
    fmt = _format_of(kind, itemsize)
    _fill_view(view, obj, addr, size * itemsize, readonly, flags, fmt,
               1 if fmt == "B" else itemsize, keep)
    return MEM_DEVICE


cdef int _fill_view(Py_buffer *view, object owner, void *addr, Py_ssize_t nbytes, bint readonly,
                    int flags, str fmt, Py_ssize_t itemsize, list keep) except -1:
    PyBuffer_FillInfo(view, owner, addr, nbytes, readonly, flags & ~PyBUF_WRITABLE)
    if (flags & PyBUF_FORMAT) == PyBUF_FORMAT:
        b = fmt.encode("ascii")
        keep.append(b)              # the format string must outlive the view
        view.format = PyBytes_AS_STRING(b)
        view.itemsize = itemsize
    return 0


cdef bint _little_endian() noexcept:
    cdef int one = 1
    return (<char *>&one)[0] == 1


cdef int _get_view(object obj, Py_buffer *view, int flags, list keep) except -1:
    """Any memory mpi4py accepts -> view (released with PyBuffer_Release); MEM_HOST/MEM_DEVICE."""
    if PyObject_CheckBuffer(obj):
        PyObject_GetBuffer(obj, view, flags)
        return MEM_HOST
    if hasattr(obj, "__dlpack__"):
        return _get_dlpack(obj, view, flags, keep)
    if hasattr(obj, "__cuda_array_interface__"):
        return _get_cai(obj, view, flags, keep)
    raise TypeError(f"expected a buffer (numpy array, bytearray, ...), an object with "
                    f"__dlpack__ or __cuda_array_interface__, got {type(obj).__name__}")
