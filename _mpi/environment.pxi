# Start-up and shut-down, and the module-level functions (Wtime, Get_processor_name, ...).
# MPI is initialised at import; COMM_WORLD/COMM_SELF report errors instead of aborting; a pristine
# duplicate of the world is kept for _reset_world(); MPI is finalised at interpreter exit.

import atexit as _atexit
import os as _os

ANY_SOURCE = MPI_ANY_SOURCE
ANY_TAG = MPI_ANY_TAG
PROC_NULL = MPI_PROC_NULL
ROOT = MPI_ROOT
UNDEFINED = MPI_UNDEFINED
TAG_UB = MPI_TAG_UB
IDENT = MPI_IDENT
CONGRUENT = MPI_CONGRUENT
SIMILAR = MPI_SIMILAR
UNEQUAL = MPI_UNEQUAL
CART = MPI_CART
GRAPH = MPI_GRAPH
DIST_GRAPH = MPI_DIST_GRAPH
THREAD_SINGLE = MPI_THREAD_SINGLE
THREAD_FUNNELED = MPI_THREAD_FUNNELED
THREAD_SERIALIZED = MPI_THREAD_SERIALIZED
THREAD_MULTIPLE = MPI_THREAD_MULTIPLE
VERSION = MPI_VERSION
SUBVERSION = MPI_SUBVERSION
MAX_PROCESSOR_NAME = MPI_MAX_PROCESSOR_NAME
MAX_ERROR_STRING = MPI_MAX_ERROR_STRING
MAX_LIBRARY_VERSION_STRING = MPI_MAX_LIBRARY_VERSION_STRING


class _Bottom:
    def __repr__(self):
        return "MPI.BOTTOM"

BOTTOM = _Bottom()

COMM_NULL = Comm()
COMM_SELF = Intracomm()
COMM_WORLD = Intracomm()

cdef MPI_Comm _pristine = MPI_COMM_NULL
cdef MPI_Request _reset_req = MPI_REQUEST_NULL    # a reset in progress (see _reset_world)
cdef MPI_Comm _reset_comm = MPI_COMM_NULL
cdef bint _we_initialized = False


cdef bint _initialized_ok() noexcept:
    cdef int flag = 0
    MPI_Initialized(&flag)
    return flag and not _finalized_flag


cdef int _thread_level() except -1:
    level = _os.environ.get("MPIKERNEL_THREAD_LEVEL", "multiple").strip().lower()
    levels = {"single": MPI_THREAD_SINGLE, "funneled": MPI_THREAD_FUNNELED,
              "serialized": MPI_THREAD_SERIALIZED, "multiple": MPI_THREAD_MULTIPLE}
    if level not in levels:
        raise ValueError(f"MPIKERNEL_THREAD_LEVEL={level!r}: use one of {', '.join(levels)}")
    return levels[level]


cdef int _startup() except -1:
    global _pristine, _we_initialized, _tag_ub
    cdef int flag = 0, provided = 0, ierr
    cdef void *value = NULL
    cdef int required = _thread_level()
    CHKERR(MPI_Initialized(&flag))
    if not flag:
        with nogil:
            ierr = MPI_Init_thread(NULL, NULL, required, &provided)
        CHKERR(ierr)
        _we_initialized = True
    (<Comm>COMM_WORLD).ob_mpi = MPI_COMM_WORLD
    (<Comm>COMM_WORLD).flags = COMM_PREDEFINED
    (<Comm>COMM_WORLD).from_world = True
    (<Comm>COMM_SELF).ob_mpi = MPI_COMM_SELF
    (<Comm>COMM_SELF).flags = COMM_PREDEFINED
    CHKERR(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN))
    CHKERR(MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN))
    if MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &value, &flag) == MPI_SUCCESS and flag:
        _tag_ub = (<int *>value)[0]
    # never used by user code: after an interrupt every rank dups it to get a clean world
    CHKERR(MPI_Comm_dup(MPI_COMM_WORLD, &_pristine))
    CHKERR(MPI_Comm_set_errhandler(_pristine, MPI_ERRORS_RETURN))
    _init_fast_ops()
    return 0


def _reset_world():
    """Collective on all ranks: point COMM_WORLD at a fresh dup of the pristine communicator.

    Operations an interrupt left pending stay on the old handle and can no longer match new
    ones. Communicators made from the old world become stale (a clear error if used).
    """
    global _interrupt_count, _reset_req, _reset_comm
    cdef MPI_Comm newcomm
    cdef ReqSet rs
    cdef Comm c
    if _finalized_flag:
        usage_error(MPI_ERR_OTHER, "MPI has been finalized")
    # Every rank's k-th idup on the pristine communicator must match: an interrupted reset
    # keeps its request, and the next call waits for that one instead of posting another.
    if _reset_req == MPI_REQUEST_NULL:
        CHKERR(MPI_Comm_idup(_pristine, &_reset_comm, &_reset_req))
    rs.n = 1
    rs.reqs = &_reset_req
    rs.statuses = MPI_STATUS_IGNORE
    wait_until(poll_one, &rs, b"_reset_world", MPI_PROC_NULL, 0, 0, None)
    newcomm = _reset_comm
    _reset_comm = MPI_COMM_NULL
    CHKERR(MPI_Comm_set_errhandler(newcomm, MPI_ERRORS_RETURN))
    CHKERR(MPI_Comm_set_name(newcomm, b"MPI_COMM_WORLD"))
    (<Comm>COMM_WORLD).ob_mpi = newcomm
    # a new world: collectives count from 1 again on every rank, and the checking mode's
    # shadow (which may hold an interrupted check) is replaced now, while every rank is here
    (<Comm>COMM_WORLD).coll_seq = 0
    (<Comm>COMM_WORLD).shadow = MPI_COMM_NULL
    if _instr_flags & INSTR_CHECK:
        _shadow_of(<Comm>COMM_WORLD, b"_reset_world")
    for obj in list(_derived):
        c = <Comm>obj
        c.ob_mpi = MPI_COMM_NULL
        c.stale = True
    _derived.clear()
    _stale_groups()
    _interrupt_count = 0


def _finalize_at_exit():
    global _finalized_flag
    cdef int flag = 0
    if _finalized_flag or not _we_initialized:
        return
    MPI_Finalized(&flag)
    if flag:
        return
    _finalized_flag = True
    if _abandoned:
        # Operations an interrupt left pending could make MPI_Finalize wait for peers that
        # never come: finalize (the launcher counts a rank that skips it as failed), but do
        # not let the process hang at exit for it.
        import threading
        t = threading.Timer(_FINALIZE_GRACE, _os._exit, (_exit_status[0],))
        t.daemon = True
        t.start()
    with nogil:
        MPI_Finalize()


_FINALIZE_GRACE = 5.0
_exit_status = [0]     # what the interpreter will exit with, as far as we can tell


def _remember_failure(exc_type, exc, tb, _previous=__import__("sys").excepthook):
    """sys.excepthook: an uncaught exception means the process fails (130 for Ctrl-C)."""
    _exit_status[0] = 130 if issubclass(exc_type, KeyboardInterrupt) else 1
    _previous(exc_type, exc, tb)


__import__("sys").excepthook = _remember_failure


def Init():
    """MPI is initialised when mpikernel.MPI is imported; kept for mpi4py compatibility."""
    if _finalized_flag:
        usage_error(MPI_ERR_OTHER, "MPI cannot be initialised again after Finalize")


def Init_thread(int required=MPI_THREAD_MULTIPLE):
    Init()
    return Query_thread()


def Finalize():
    """Finalize MPI now; afterwards every MPI call raises MPI.Exception."""
    global _finalized_flag
    cdef int ierr
    if _finalized_flag:
        usage_error(MPI_ERR_OTHER, "MPI has already been finalized")
    _finalized_flag = True
    with nogil:
        ierr = MPI_Finalize()
    CHKERR(ierr)


def Is_initialized():
    cdef int flag = 0
    CHKERR(MPI_Initialized(&flag))
    return bool(flag)


def Is_finalized():
    cdef int flag = 0
    CHKERR(MPI_Finalized(&flag))
    return bool(flag)


def Query_thread():
    cdef int level = 0
    _check_alive()
    CHKERR(MPI_Query_thread(&level))
    return level


cdef int _check_alive() except -1:
    if _finalized_flag:
        usage_error(MPI_ERR_OTHER, "MPI has been finalized: no MPI call is possible after "
                    "MPI.Finalize()")
    return 0


def Wtime():
    """Seconds since an arbitrary moment (for timing)."""
    return MPI_Wtime()


def Wtick():
    return MPI_Wtick()


def Get_processor_name():
    cdef char name[MPI_MAX_PROCESSOR_NAME + 1]
    cdef int n = 0
    _check_alive()
    CHKERR(MPI_Get_processor_name(name, &n))
    return name[:n].decode("utf-8", "replace")


def Get_version():
    """(version, subversion) of the MPI standard the library implements."""
    cdef int version = 0, subversion = 0
    CHKERR(MPI_Get_version(&version, &subversion))
    return (version, subversion)


def Get_library_version():
    cdef char text[MPI_MAX_LIBRARY_VERSION_STRING + 1]
    cdef int n = 0
    CHKERR(MPI_Get_library_version(text, &n))
    return text[:n].decode("utf-8", "replace")


_VENDORS = (  # (name mpi4py reports, pattern of the library's version string)
    ("Intel MPI", r"Intel\(R\) MPI Library (\d+)(?:\.(\d+))?(?:\.(\d+))?"),
    ("MVAPICH", r"MVAPICH\d? Version\s*:\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?"),
    ("MPICH", r"MPICH Version\s*:\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?"),
    ("Open MPI", r"Open MPI v(\d+)(?:\.(\d+))?(?:\.(\d+))?"),
)


def get_vendor():
    """(name, (major, minor, micro)) of the MPI library loaded now, as mpi4py's get_vendor.

    Read from MPI_Get_library_version at run time (the library may differ from the one built
    against); ("unknown", (0, 0, 0)) for a library we do not recognise.
    """
    import re

    text = Get_library_version()
    for name, pattern in _VENDORS:
        m = re.search(pattern, text)
        if m:
            return name, tuple(int(g or 0) for g in m.groups())
    return "unknown", (0, 0, 0)


def Get_error_string(int errorcode):
    return error_string(errorcode)


def Get_error_class(int errorcode):
    cdef int cls = 0
    CHKERR(MPI_Error_class(errorcode, &cls))
    return cls


# (variable a launcher sets to the job size, that launcher)
_LAUNCHER_SIZE_VARS = (("OMPI_COMM_WORLD_SIZE", "Open MPI's mpiexec"),
                       ("PMI_SIZE", "an MPICH-style (PMI) mpiexec or srun"),
                       ("PMIX_SIZE", "a PMIx launcher (Open MPI's mpiexec, srun --mpi=pmix)"))


def _launcher_error(who, ranks):
    import mpikernel._libmpi as _lib
    cfg = _lib.build_config()
    built = f"{cfg.get('vendor', 'an MPI')} {cfg.get('version', '')}".strip()
    return RuntimeError(
        f"mpikernel.MPI was built against {built} but this process was started by {who}"
        + (f" for {ranks} ranks, so every rank would be rank 0 of 1" if ranks else "")
        + f"; launch with the mpiexec of {built} (`python -m mpikernel info` shows it) or "
        "rebuild against the other MPI: `MPICC=/path/to/mpicc pip install --no-cache-dir "
        "--force-reinstall mpikernel`."
    )


def _check_launcher_before_init():
    """Each MPI aborts inside MPI_Init when started by the other's launcher: say why first."""
    if _os.environ.get("MPIKERNEL_SKIP_LAUNCHER_CHECK"):
        return
    import mpikernel._libmpi as _lib
    env = _os.environ
    vendor = _lib.build_config().get("vendor")
    pmix = "OMPI_COMM_WORLD_SIZE" in env or "PMIX_RANK" in env
    if vendor == "MPICH" and "PMI_RANK" not in env and pmix:
        size = env.get("OMPI_COMM_WORLD_SIZE") or env.get("PMIX_SIZE") or ""
        raise _launcher_error("a PMIx launcher (Open MPI's mpiexec, or srun --mpi=pmix)", size)
    if vendor == "Open MPI" and "PMI_RANK" in env and not pmix:
        raise _launcher_error("an MPICH-style (PMI) mpiexec", env.get("PMI_SIZE", ""))


def _check_launcher():
    """The classic mix-up: started by another MPI's mpiexec, every rank is rank 0 of 1."""
    if _os.environ.get("MPIKERNEL_SKIP_LAUNCHER_CHECK"):
        return
    if COMM_WORLD.Get_size() != 1:
        return
    for var, who in _LAUNCHER_SIZE_VARS:
        value = _os.environ.get(var, "")
        if value.isdigit() and int(value) > 1:
            raise _launcher_error(who, value)


_check_launcher_before_init()
_startup()
_atexit.register(_finalize_at_exit)
_check_launcher()
if _instr_flags & INSTR_CHECK:  # MPIKERNEL_CHECK_COLLECTIVES: every rank is importing now
    _shadow_of(<Comm>COMM_WORLD, b"import")
