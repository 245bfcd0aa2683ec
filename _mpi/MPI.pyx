# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: embedsignature=True, initializedcheck=False
"""Message Passing Interface, with mpi4py's names and semantics.

``from mpikernel import MPI`` is meant as a drop-in for ``from mpi4py import MPI``. Two things are
different on purpose: every blocking call waits in one loop (``waiting.pxi``) that backs off instead
of spinning at 100% CPU and lets Ctrl-C raise KeyboardInterrupt; and lowercase (pickle-based)
calls send large buffers such as numpy arrays out of band, without copying them into the pickle.

MPI is initialised when this module is imported and finalised at interpreter exit.
"""

cimport cython
from libc.stdint cimport int64_t, intptr_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset
from cpython.buffer cimport (
    PyObject_GetBuffer, PyBuffer_Release, PyObject_CheckBuffer,
    PyBUF_ANY_CONTIGUOUS, PyBUF_FORMAT, PyBUF_WRITABLE,
)
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.bytearray cimport PyByteArray_FromStringAndSize, PyByteArray_AS_STRING
from cpython.exc cimport PyErr_CheckSignals

from libmpi cimport *

include "errors.pxi"
include "instrument.pxi"
include "waiting.pxi"
include "blocking.pxi"
include "carray.pxi"
include "datatype.pxi"
include "dtypes.pxi"
include "typedecode.pxi"
include "op.pxi"
include "status.pxi"
include "foreign.pxi"
include "memory.pxi"
include "msgbuffer.pxi"
include "msgpickle.pxi"
include "request.pxi"
include "p2pmode.pxi"
include "prequest.pxi"
include "message.pxi"
include "collmsg.pxi"
include "info.pxi"
include "pcoll.pxi"
include "group.pxi"
include "errhandler.pxi"
include "comm.pxi"
include "attr.pxi"
include "commnew.pxi"
include "intercomm.pxi"
include "topo.pxi"
include "handles.pxi"
include "environment.pxi"
