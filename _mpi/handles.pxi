# MPI._handleof / MPI._addressof, as mpi4py has them: the raw MPI handle of an object (for C
# code via ctypes or cffi) and the address of the handle inside the Python object. (A Status
# has no handle: both give the address of its MPI_Status.) Message comes with its own module.

from libc.stdint cimport uintptr_t


def _addressof(arg):
    """Memory address of the MPI handle inside arg."""
    cdef void *ptr = NULL
    if isinstance(arg, Status):
        ptr = <void *>&(<Status>arg).ob_mpi
    elif isinstance(arg, Datatype):
        ptr = <void *>&(<Datatype>arg).ob_mpi
    elif isinstance(arg, Request):
        ptr = <void *>&(<Request>arg).ob_mpi
    elif isinstance(arg, Op):
        ptr = <void *>&(<Op>arg).ob_mpi
    elif isinstance(arg, Group):
        ptr = <void *>&(<Group>arg).ob_mpi
    elif isinstance(arg, Info):
        ptr = <void *>&(<Info>arg).ob_mpi
    elif isinstance(arg, Errhandler):
        ptr = <void *>&(<Errhandler>arg).ob_mpi
    elif isinstance(arg, Comm):
        ptr = <void *>&(<Comm>arg).ob_mpi
    else:
        raise NotImplementedError(f"_addressof: {type(arg).__name__} has no MPI handle here")
    return <uintptr_t>ptr


def _handleof(arg):
    """The MPI handle of arg as an unsigned integer."""
    if isinstance(arg, Status):
        return <uintptr_t>&(<Status>arg).ob_mpi
    if isinstance(arg, Datatype):
        return <uintptr_t>(<Datatype>arg).ob_mpi
    if isinstance(arg, Request):
        return <uintptr_t>(<Request>arg).ob_mpi
    if isinstance(arg, Op):
        return <uintptr_t>(<Op>arg).ob_mpi
    if isinstance(arg, Group):
        return <uintptr_t>(<Group>arg).ob_mpi
    if isinstance(arg, Info):
        return <uintptr_t>(<Info>arg).ob_mpi
    if isinstance(arg, Errhandler):
        return <uintptr_t>(<Errhandler>arg).ob_mpi
    if isinstance(arg, Comm):
        return <uintptr_t>(<Comm>arg).ob_mpi
    raise NotImplementedError(f"_handleof: {type(arg).__name__} has no MPI handle here")
