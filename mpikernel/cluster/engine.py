"""What runs in each rank: an ipyparallel engine whose id is the MPI rank, plus a small agent.

`python -m mpikernel.cluster.engine --owner PID --control URL --file ENGINE_JSON` is started once per rank
by the World's single mpiexec job. Start-up order matters:

1. watch the owner (a rank must not outlive the notebook that started it, see watchdog);
2. import our binding (MPI_Init) and learn rank and size;
3. start the agent: a thread with its own zmq socket to the owner. It says hello (rank, pid,
   host) and answers "where are you?" while the main thread is busy in a cell — which ipyparallel
   cannot, since its requests queue behind the running cell. The answer holds `MPI._waiting()`
   (the blocking MPI call this rank is in) and the user's cell line from the main thread's frames;
4. run the ipyparallel engine (requesting id == rank) with `MPI`, `comm`, `rank`, `size`, `np`
   predefined in the user namespace.

The functions `reset_world`, `status` and `mpi_library_version` are also called by the owner
through ipyparallel's apply (they are importable on every rank).
"""

from __future__ import annotations

import argparse
import importlib
import linecache
import os
import signal
import socket
import sys
import threading
import types

from mpikernel.cluster.security import signed, verified
from mpikernel.cluster.watchdog import watch_owner

_AGENT = None  # the running EngineAgent (one per engine process)
_MAIN_THREAD_ID = threading.main_thread().ident


def binding():
    from mpikernel import MPI

    return MPI


class LazyModule(types.ModuleType):
    """Stands in for a module in the user namespace and imports it on first use.

    numpy costs ~0.4 s of CPU per rank at start-up — a third of an engine's start — and N ranks
    start at once on few cores; `np` is predefined for every cell, but many cells never use it.
    It is not put in sys.modules (ipykernel walks sys.modules at start-up, which would load it);
    on first use it imports the real module and puts that in the namespace in its place.
    """

    def __init__(self, name, namespace, key):
        super().__init__(name)
        self.__dict__["_lazy_target"] = (namespace, key)

    def _load(self):
        real = importlib.import_module(self.__name__)
        namespace, key = self.__dict__["_lazy_target"]
        if namespace.get(key) is self:
            namespace[key] = real
        return real

    def __getattr__(self, attr):
        return getattr(self._load(), attr)

    def __dir__(self):
        return dir(self._load())


def make_namespace(MPI):
    """The names every cell can use without importing anything."""
    comm = MPI.COMM_WORLD
    ns = {"MPI": MPI, "comm": comm, "rank": comm.Get_rank(), "size": comm.Get_size()}
    ns["np"] = sys.modules.get("numpy") or LazyModule("numpy", ns, "np")
    return ns


def _user_ns():
    from IPython import get_ipython

    shell = get_ipython()
    return shell.user_ns if shell is not None else None


def reset_world():
    """Collective (all ranks): give COMM_WORLD a fresh handle after an interrupt; rebind `comm`.

    Returns how many MPI calls the interrupt had abandoned on this rank (for the owner's log).
    """
    MPI = binding()
    abandoned = MPI._interrupted() if hasattr(MPI, "_interrupted") else 0
    if hasattr(MPI, "_reset_world"):
        MPI._reset_world()
    ns = _user_ns()
    if ns is not None:
        ns["comm"] = MPI.COMM_WORLD
        ns["MPI"] = MPI
    return abandoned


def mpi_library_version():
    """The MPI library of this rank, in short: "MPICH Version: 5.0.2", "Open MPI v5.0.11" ("" if unknown)."""
    MPI = binding()
    try:
        first = " ".join(MPI.Get_library_version().strip().splitlines()[0].split())
        return first.split(",")[0]  # not its build details
    except Exception:
        return ""


# ------------------------------------------------------------------------------ where is the rank


def _cell_files():
    from IPython import get_ipython

    shell = get_ipython()
    compiler = getattr(shell, "compile", None)
    return getattr(compiler, "_filename_map", {}) or {}


def _is_cell_file(filename, cell_files):
    return filename in cell_files or filename.startswith("<ipython-input-")


def user_frame():
    """(line number, source text) of the innermost frame of the user's cell in the main thread."""
    frame = sys._current_frames().get(_MAIN_THREAD_ID)
    try:
        cell_files = _cell_files()
    except Exception:
        cell_files = {}
    while frame is not None:
        filename = frame.f_code.co_filename
        if _is_cell_file(filename, cell_files):
            lineno = frame.f_lineno
            return lineno, linecache.getline(filename, lineno).strip()
        frame = frame.f_back
    return None


def _rss_bytes():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _plain_waiting(MPI, waiting):
    """MPI._waiting() with the MPI library's special ranks/tags as names (their values differ by MPI),
    plus "waited" (seconds). Every other field the binding reports (comm, seq, root, kind,
    unexpected) passes through for the owner's diagnostics (mpikernel/cells/diagnose.py)."""
    w = dict(waiting)
    peer, tag = w.get("peer"), w.get("tag")
    if peer == getattr(MPI, "PROC_NULL", None):
        w["peer"] = None
    elif peer == getattr(MPI, "ANY_SOURCE", None):
        w["peer"] = "ANY_SOURCE"
    if tag == getattr(MPI, "ANY_TAG", None):
        w["tag"] = "ANY_TAG"
    if w.get("root") == getattr(MPI, "PROC_NULL", None):
        w["root"] = None
    if w.get("since") is not None:  # seconds in this call, on this rank's own clock
        w["waited"] = max(0.0, MPI.Wtime() - w["since"])
    if w.get("unexpected"):  # messages that arrived but do not match: [(source, tag, bytes), ...]
        w["unexpected"] = [list(m) for m in w["unexpected"]]
    return w


def status():
    """What the owner shows in %mpi_status and in its deadlock/timeout reports."""
    MPI = sys.modules.get("mpikernel.MPI")
    waiting = None
    if MPI is not None and hasattr(MPI, "_waiting"):
        try:
            waiting = MPI._waiting()
        except Exception:
            waiting = None
    where = user_frame()
    return {
        "rank": _AGENT.rank if _AGENT else None,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "busy": where is not None,
        "line": where[0] if where else None,
        "code": where[1] if where else None,
        "waiting": _plain_waiting(MPI, waiting) if waiting else None,
        "rss": _rss_bytes(),
        "interrupted": MPI._interrupted() if MPI is not None and hasattr(MPI, "_interrupted") else 0,
    }


# --------------------------------------------------------------------------------------- the agent


class EngineAgent:
    """The rank's side of the owner's control channel (a zmq DEALER in a daemon thread).

    Requests (JSON): {"op": "status"} -> status(); {"op": "interrupt"} -> SIGINT to this
    process if a cell is running (how ranks on other hosts get Ctrl-C); {"op": "ping"}.
    Every frame pair is signed with the world's key both ways (`security.signed`); a request
    that is not is dropped unread, and no request can carry code: the ops are a fixed list.
    """

    def __init__(self, url, rank, size, key=""):
        self.url, self.rank, self.size, self.key = url, rank, size, key
        self.thread = threading.Thread(target=self._run, name="mpikernel-agent", daemon=True)

    def start(self):
        self.thread.start()

    def _run(self):
        import zmq

        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, f"rank-{self.rank}".encode())
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.url)
        hello = {"op": "hello", "rank": self.rank, "size": self.size, "pid": os.getpid(),
                 "host": socket.gethostname()}
        sock.send_multipart(signed(self.key, hello))
        while True:
            try:
                req = verified(self.key, sock.recv_multipart())
            except Exception:
                return
            if req is None:
                continue  # not from our owner (see cluster.ControlChannel)
            reply = self.handle(req)
            reply.update(seq=req.get("seq"), rank=self.rank)
            try:
                sock.send_multipart(signed(self.key, reply))
            except Exception:
                return

    def handle(self, req):
        op = req.get("op")
        try:
            if op == "status":
                return {"op": "status", "status": status()}
            if op == "interrupt":
                busy = user_frame() is not None
                if busy:
                    os.kill(os.getpid(), signal.SIGINT)
                return {"op": "interrupt", "sent": busy}
            if op == "ping":
                return {"op": "pong"}
            return {"op": "error", "error": f"unknown op {op!r}"}
        except Exception as e:  # the agent must survive whatever a status probe trips over
            return {"op": "error", "error": repr(e)}


def _engine_class():
    """ipyparallel's engine, except that SIGTERM ends the rank at once, and that the rank's
    clear_output / update_display_data reach the owner (mpikernel.cluster.displayops).

    A launcher ends the job with SIGTERM when a rank dies (or the world stops); ipyparallel's
    graceful stop kept Open MPI 4's mpirun waiting about 2 s for its SIGKILL before it exited
    and said which rank failed. A rank whose world is gone has nothing to save."""
    from ipyparallel.engine.app import IPEngine

    class MPIEngine(IPEngine):
        def init_signal(self):
            super().init_signal()
            signal.signal(signal.SIGTERM, _end_at_once)

        async def complete_registration(self, *args, **kwargs):
            await super().complete_registration(*args, **kwargs)
            if getattr(self, "kernel", None) is not None:  # clears and display updates reach the owner
                from mpikernel.cluster import displayops

                displayops.install(self.kernel.shell)

    return MPIEngine


def _end_at_once(sig, frame):
    """SIGTERM's default action: the process ends now, without ipyparallel's graceful stop."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m mpikernel.cluster.engine", description=__doc__.split("\n")[0])
    p.add_argument("--owner", type=int, required=True, help="pid of the owner; we exit when it does")
    p.add_argument("--control", required=True, help="zmq url of the owner's control socket")
    p.add_argument("--file", required=True, help="ipcontroller-engine.json")
    p.add_argument("--log-level", default="WARN")
    args, rest = p.parse_known_args(argv)

    watch_owner(args.owner)
    MPI = binding()
    ns = make_namespace(MPI)
    global _AGENT
    _AGENT = EngineAgent(args.control, ns["rank"], ns["size"], os.environ.pop("MPIKERNEL_CONTROL_KEY", ""))
    _AGENT.start()

    app = _engine_class().instance()
    app.initialize([
        f"--file={args.file}",
        f"--IPEngine.id={ns['rank']}",
        "--IPEngine.enable_nanny=False",
        "--IPEngine.out_stream_factory=mpikernel.cluster.displayops.RankOutStream",  # bounded, counted per cell
        "--IPEngine.wait_for_url_file=60",
        f"--log-level={args.log_level}",
        *rest,
    ])
    app.user_ns = ns
    app.start()


if __name__ == "__main__":
    main()
