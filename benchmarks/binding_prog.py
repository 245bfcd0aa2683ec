"""The Python side of the binding benchmarks: one program, run under mpiexec, for both bindings.

    mpiexec -n 2 python binding_prog.py --impl mpi4py|mpikernel --config '{"cases": [...], ...}'

Only the import differs between the two runs (``from mpi4py import MPI`` or ``from mpikernel import
MPI``); every case below is the same code for both. The measuring rank prints one line per case,
``BENCH {json}``, with the samples in SI units (seconds, or a fraction of a core for CPU use).
This file is run as a script and imports nothing from the ``benchmarks`` package.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np

perf_counter = time.perf_counter


def report(case, samples, unit, **extra):
    record = {"case": case, "unit": unit, "samples": list(samples), **extra}
    print("BENCH " + json.dumps(record), flush=True)


def loaded_libmpi():
    """Paths of the libmpi shared objects mapped into this process."""
    paths = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split(maxsplit=5)[-1].strip()
            if "/libmpi" in path:
                paths.add(path)
    return sorted(paths)


# --- point to point (2 ranks) -----------------------------------------------------------------


def buffer_pingpong(comm, buf, iters):
    """One-way time of `iters` Send/Recv round trips between ranks 0 and 1 (on rank 0)."""
    Send, Recv = comm.Send, comm.Recv
    comm.Barrier()
    t0 = perf_counter()
    if comm.rank == 0:
        for _ in range(iters):
            Send(buf, 1, 0)
            Recv(buf, 1, 0)
    elif comm.rank == 1:
        for _ in range(iters):
            Recv(buf, 0, 0)
            Send(buf, 0, 0)
    return (perf_counter() - t0) / (2 * iters)


def object_pingpong(comm, obj, iters):
    """Round-trip time of `iters` lowercase send/recv exchanges of `obj` (on rank 0).

    Rank 1 sends back what it received, so every message is a freshly unpickled object.
    """
    send, recv = comm.send, comm.recv
    comm.Barrier()
    t0 = perf_counter()
    if comm.rank == 0:
        for _ in range(iters):
            send(obj, dest=1, tag=0)
            got = recv(source=1, tag=0)
    elif comm.rank == 1:
        for _ in range(iters):
            got = recv(source=0, tag=0)
            send(got, dest=0, tag=0)
    else:
        got = obj
    return (perf_counter() - t0) / iters, got


def case_pingpong(MPI, comm, cfg):
    for nbytes, iters in cfg["sizes"]:
        buf = np.ones(nbytes, dtype=np.uint8)
        buffer_pingpong(comm, buf, cfg["warmup"])
        samples = [buffer_pingpong(comm, buf, iters) for _ in range(cfg["reps"])]
        if comm.rank == 0:
            report("pingpong", samples, "s", nbytes=nbytes, iters=iters)


def case_pickle_small(MPI, comm, cfg):
    obj = {"step": 1, "rank": 0, "n": 1000, "flag": 7}
    iters = cfg["iters"]
    object_pingpong(comm, obj, cfg["warmup"])
    samples = []
    for _ in range(cfg["reps"]):
        t, got = object_pingpong(comm, obj, iters)
        samples.append(t)
    if got != obj:
        raise AssertionError(f"small dict came back as {got!r}")
    if comm.rank == 0:
        report("pickle_small", samples, "s", iters=iters)


def case_dict_array(MPI, comm, cfg):
    nbytes = cfg["nbytes"]
    obj = {"data": np.ones(nbytes // 8, dtype=np.float64), "step": 3}
    object_pingpong(comm, obj, 1)
    samples = []
    for _ in range(cfg["reps"]):
        t, got = object_pingpong(comm, obj, cfg["iters"])
        samples.append(t / 2)  # one way, like the buffer ping-pong
    if comm.rank < 2 and (got["step"] != 3 or got["data"].nbytes != nbytes or got["data"][-1] != 1.0):
        raise AssertionError("dict with array came back wrong")
    if comm.rank == 0:
        report("dict_array", samples, "s", nbytes=nbytes, iters=cfg["iters"])


def window_once(MPI, comm, bufs):
    """One window: rank 0 posts an Isend per buffer, rank 1 an Irecv per buffer, both Waitall."""
    if comm.rank == 0:
        reqs = [comm.Isend(b, 1, i) for i, b in enumerate(bufs)]
    elif comm.rank == 1:
        reqs = [comm.Irecv(b, 0, i) for i, b in enumerate(bufs)]
    else:
        reqs = []
    MPI.Request.Waitall(reqs)


def case_window(MPI, comm, cfg):
    """Nonblocking windows, the pattern of every halo exchange: `nreq` Isend/Irecv of `nbytes`
    each, then Waitall. Time per window on rank 0, up to rank 1's zero-byte acknowledgement."""
    ack = np.zeros(0, dtype=np.uint8)
    for nbytes, nreq, iters in cfg["windows"]:
        bufs = [np.full(nbytes, comm.rank, dtype=np.uint8) for _ in range(nreq)]
        window_once(MPI, comm, bufs)
        samples = []
        for _ in range(cfg["reps"]):
            comm.Barrier()
            t0 = perf_counter()
            for _ in range(iters):
                window_once(MPI, comm, bufs)
            if comm.rank == 0:
                comm.Recv(ack, 1, 99)
            elif comm.rank == 1:
                comm.Send(ack, 0, 99)
            samples.append((perf_counter() - t0) / iters)
        if comm.rank == 1 and any(b[0] != 0 or b[-1] != 0 for b in bufs):
            raise AssertionError("a window's receive buffer does not hold rank 0's data")
        if comm.rank == 0:
            report("window", samples, "s", nbytes=nbytes, nreq=nreq, iters=iters)


# --- collectives (4 ranks) --------------------------------------------------------------------


def case_allreduce_int(MPI, comm, cfg):
    allreduce = comm.allreduce
    for _ in range(cfg["warmup"]):
        allreduce(1)
    samples = []
    for _ in range(cfg["reps"]):
        comm.Barrier()
        t0 = perf_counter()
        for _ in range(cfg["iters"]):
            total = allreduce(1)
        samples.append((perf_counter() - t0) / cfg["iters"])
    if total != comm.size:
        raise AssertionError(f"allreduce(1) gave {total} on {comm.size} ranks")
    if comm.rank == 0:
        report("allreduce_int", samples, "s", iters=cfg["iters"], ranks=comm.size)


def case_bcast_dict(MPI, comm, cfg):
    nbytes, narrays = cfg["nbytes"], cfg["arrays"]
    per = nbytes // narrays // 8
    data = {f"a{i}": np.full(per, float(i)) for i in range(narrays)} if comm.rank == 0 else None
    comm.bcast(data, root=0)
    samples = []
    for _ in range(cfg["reps"]):
        comm.Barrier()
        t0 = perf_counter()
        for _ in range(cfg["iters"]):
            got = comm.bcast(data, root=0)
        comm.Barrier()
        samples.append((perf_counter() - t0) / cfg["iters"])
    if len(got) != narrays or got[f"a{narrays - 1}"][0] != narrays - 1:
        raise AssertionError("bcast dict came back wrong")
    if comm.rank == 0:
        report("bcast_dict", samples, "s", nbytes=per * 8 * narrays, iters=cfg["iters"], ranks=comm.size)


# --- a busy, oversubscribed machine (4 or 5 ranks on 2 cores, plus spinning processes) -------

SPINNER = "import time\nend = time.monotonic() + {bound}\nwhile time.monotonic() < end:\n    pass\n"


def spinners(count, bound):
    """`count` processes that burn a core each (a browser, a build): each ends by itself after
    `bound` seconds at the latest, and the caller kills them as soon as it is done."""
    return [subprocess.Popen([sys.executable, "-c", SPINNER.format(bound=bound)], start_new_session=True)
            for _ in range(count)]


def jacobi(MPI, comm, u, iters):
    """1-D Jacobi sweeps: halo exchange with Sendrecv (PROC_NULL at the edges) and the global
    residual with allreduce, every iteration; the seconds per iteration."""
    left = comm.rank - 1 if comm.rank > 0 else MPI.PROC_NULL
    right = comm.rank + 1 if comm.rank < comm.size - 1 else MPI.PROC_NULL
    new = u.copy()
    comm.Barrier()
    t0 = perf_counter()
    for _ in range(iters):
        comm.Sendrecv(u[1:2], dest=left, recvbuf=u[-1:], source=right)
        comm.Sendrecv(u[-2:-1], dest=right, recvbuf=u[0:1], source=left)
        new[1:-1] = 0.5 * (u[:-2] + u[2:])
        residual = comm.allreduce(float(np.abs(new[1:-1] - u[1:-1]).sum()))
        u, new = new, u
    comm.Barrier()
    return (perf_counter() - t0) / iters, residual


def case_jacobi(MPI, comm, cfg):
    """Rank 0 starts `load` spinning processes, then every rank runs `iters` Jacobi sweeps."""
    load = spinners(cfg["load"], cfg["load_bound"]) if comm.rank == 0 else []
    try:
        u = np.zeros(cfg["points"] + 2)
        if comm.rank == 0:
            u[0] = 1.0
        jacobi(MPI, comm, u, cfg["warmup"])
        samples = []
        for _ in range(cfg["reps"]):
            t, residual = jacobi(MPI, comm, u, cfg["iters"])
            samples.append(t)
        if not (residual >= 0.0):
            raise AssertionError(f"Jacobi residual {residual!r}")
    finally:
        for p in load:
            p.kill()
            p.wait()
    if comm.rank == 0:
        report("jacobi", samples, "s", ranks=comm.size, load=cfg["load"], iters=cfg["iters"])


# --- waiting: CPU and Ctrl-C (2 ranks) --------------------------------------------------------


def case_barrier_cpu(MPI, comm, cfg):
    """Rank 0 sleeps `block` seconds before the barrier; rank 1 measures the CPU it burns waiting."""
    block = cfg["block"]
    comm.Barrier()
    if comm.rank == 0:
        time.sleep(block)
        comm.Barrier()
    else:
        w0, c0 = perf_counter(), time.process_time()
        comm.Barrier()
        wall, cpu = perf_counter() - w0, time.process_time() - c0
        if comm.rank == 1:
            report("barrier_cpu", [cpu / wall], "core", block=block, wall=wall)


def case_ctrl_c(MPI, comm, cfg):
    """Rank 1 waits in a barrier rank 0 has not entered and is sent SIGINT after `delay` s.

    Latency = time from the signal to the KeyboardInterrupt in rank 1. Rank 0 enters the barrier
    when rank 1 says it was interrupted, or after `bound` s; it then tells rank 1 which it was, so
    an MPI whose blocking calls ignore signals shows up as "released by the timeout", i.e. no
    KeyboardInterrupt while blocked.
    """
    delay, bound = cfg["delay"], cfg["bound"]
    signal.signal(signal.SIGINT, signal.default_int_handler)
    comm.Barrier()
    if comm.rank == 0:
        deadline = perf_counter() + bound
        while perf_counter() < deadline and not comm.iprobe(source=1, tag=77):
            time.sleep(0.005)
        released_by = "message" if comm.iprobe(source=1, tag=77) else "timeout"
        comm.Barrier()
        comm.recv(source=1, tag=77)
        comm.send(released_by, dest=1, tag=78)
    elif comm.rank == 1:
        sent = {}

        def interrupt():
            sent["t"] = perf_counter()
            os.kill(os.getpid(), signal.SIGINT)

        timer = threading.Timer(delay, interrupt)
        t_enter = perf_counter()
        timer.start()
        try:
            comm.Barrier()
            time.sleep(0.5)  # a signal that arrived during the call is raised here at the latest
            t_exit = None
        except KeyboardInterrupt:
            t_exit = perf_counter()
        timer.join()
        comm.send("interrupted", dest=0, tag=77)
        released_by = comm.recv(source=0, tag=78)
        latency = None if t_exit is None else t_exit - sent["t"]
        blocked = released_by == "message"
        report("ctrl_c", [latency] if blocked and latency is not None else [], "s", delay=delay,
               bound=bound, released_by=released_by, latency=latency,
               raised_after=None if t_exit is None else t_exit - t_enter)
    else:
        comm.Barrier()


CASES = {
    "pingpong": case_pingpong,
    "pickle_small": case_pickle_small,
    "dict_array": case_dict_array,
    "window": case_window,
    "allreduce_int": case_allreduce_int,
    "bcast_dict": case_bcast_dict,
    "jacobi": case_jacobi,
    "barrier_cpu": case_barrier_cpu,
    "ctrl_c": case_ctrl_c,
}


def import_mpi(impl):
    if impl == "mpi4py":
        from mpi4py import MPI
    elif impl == "mpikernel":
        from mpikernel import MPI
    else:
        raise SystemExit(f"--impl must be mpi4py or mpikernel, not {impl!r}")
    return MPI


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", required=True, choices=["mpi4py", "mpikernel"])
    parser.add_argument("--config", required=True, help="JSON: {'cases': [[name, params], ...]}")
    args = parser.parse_args(argv)
    config = json.loads(args.config)
    MPI = import_mpi(args.impl)
    comm = MPI.COMM_WORLD
    if comm.rank == 0:
        try:
            thread_level = MPI.Query_thread()
        except Exception:  # noqa: BLE001 - informational only
            thread_level = None
        report("_info", [], "", impl=args.impl, library_version=MPI.Get_library_version(),
               libmpi=loaded_libmpi(), thread_level=thread_level, ranks=comm.size)
    for name, params in config["cases"]:
        CASES[name](MPI, comm, params)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
