"""Interleaved binding benchmarks: C, mpi4py and mpikernel samples alternate inside one run.

    mpiexec -n 2 python interleaved_prog.py --kernels libkernels.so --config JSON

On a shared machine the load changes faster than a process can be launched, so ratios between
separate runs are noisy. Here every rank imports both bindings (they share the one libmpi; mpi4py
initialises it, at MPI_THREAD_MULTIPLE) and loads the C loops of benchmarks/c/kernels.c through
ctypes; each repetition takes one sample of each, in rotating order, so every sample has partners
taken milliseconds apart. The Python loops are those of binding_prog.py, called with either
binding's COMM_WORLD. Rank 0 prints ``BENCH {json}`` lines with ``impl`` and aligned samples.
"""

import argparse
import ctypes
import json

import numpy as np

import binding_prog as bp


def rotated(items, k):
    k %= len(items)
    return items[k:] + items[:k]


class CKernels:
    """The C loops of kernels.c, called on this process's libmpi."""

    def __init__(self, path):
        lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        for name, args in (("bench_pingpong", [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]),
                           ("bench_allreduce_int", [ctypes.c_int]),
                           ("bench_bcast", [ctypes.c_void_p, ctypes.c_int, ctypes.c_int])):
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = args, ctypes.c_double
        self.lib = lib

    def pingpong(self, buf, iters):
        return self.lib.bench_pingpong(buf.ctypes.data, buf.nbytes, iters)

    def allreduce_int(self, iters):
        t = self.lib.bench_allreduce_int(iters)
        if t < 0:
            raise AssertionError("MPI_Allreduce gave a wrong sum")
        return t

    def bcast(self, buf, iters):
        return self.lib.bench_bcast(buf.ctypes.data, buf.nbytes, iters)


def emit(comm, case, per_impl, unit="s", **extra):
    if comm.rank == 0:
        for impl, samples in per_impl.items():
            bp.report(case, samples, unit, impl=impl, **extra)


def case_pingpong(comms, ck, cfg):
    comm = comms["mpikernel"]
    for nbytes, iters in cfg["sizes"]:
        buf = np.ones(nbytes, dtype=np.uint8)
        runners = {"c": lambda: ck.pingpong(buf, iters),
                   "mpi4py": lambda: bp.buffer_pingpong(comms["mpi4py"], buf, iters),
                   "mpikernel": lambda: bp.buffer_pingpong(comms["mpikernel"], buf, iters)}
        ck.pingpong(buf, cfg["warmup"])
        bp.buffer_pingpong(comms["mpi4py"], buf, cfg["warmup"])
        bp.buffer_pingpong(comms["mpikernel"], buf, cfg["warmup"])
        out = {k: [] for k in runners}
        for rep in range(cfg["reps"]):
            for impl in rotated(list(runners), rep):
                out[impl].append(runners[impl]())
        emit(comm, "pingpong", out, nbytes=nbytes, iters=iters)


def case_pickle_small(comms, ck, cfg):
    obj = {"step": 1, "rank": 0, "n": 1000, "flag": 7}
    impls = ["mpi4py", "mpikernel"]
    for impl in impls:
        bp.object_pingpong(comms[impl], obj, cfg["warmup"])
    out = {k: [] for k in impls}
    for rep in range(cfg["reps"]):
        for impl in rotated(impls, rep):
            t, got = bp.object_pingpong(comms[impl], obj, cfg["iters"])
            if got != obj:
                raise AssertionError(f"{impl}: small dict came back as {got!r}")
            out[impl].append(t)
    emit(comms["mpikernel"], "pickle_small", out, iters=cfg["iters"])


def case_dict_array(comms, ck, cfg):
    """The dict of a 64 MiB array, each sample next to a C Send/Recv sample of the same bytes."""
    nbytes = cfg["nbytes"]
    obj = {"data": np.ones(nbytes // 8, dtype=np.float64), "step": 3}
    raw = np.ones(nbytes, dtype=np.uint8)
    runners = {"c": lambda: ck.pingpong(raw, cfg["iters"]),
               "mpi4py": lambda: bp.object_pingpong(comms["mpi4py"], obj, cfg["iters"]),
               "mpikernel": lambda: bp.object_pingpong(comms["mpikernel"], obj, cfg["iters"])}
    for impl in runners:
        runners[impl]()
    out = {k: [] for k in runners}
    for rep in range(cfg["reps"]):
        for impl in rotated(list(runners), rep):
            r = runners[impl]()
            if impl == "c":
                out[impl].append(r)
            else:
                t, got = r
                if comms[impl].rank < 2 and (got["data"].nbytes != nbytes or got["data"][-1] != 1.0):
                    raise AssertionError(f"{impl}: dict with array came back wrong")
                out[impl].append(t / 2)
    emit(comms["mpikernel"], "dict_array", out, nbytes=nbytes, iters=cfg["iters"])


def timed_allreduce(comm, iters):
    comm.Barrier()
    t0 = bp.perf_counter()
    for _ in range(iters):
        total = comm.allreduce(1)
    t = (bp.perf_counter() - t0) / iters
    if total != comm.size:
        raise AssertionError(f"allreduce(1) gave {total}")
    return t


def timed_bcast(comm, data, iters, narrays):
    comm.Barrier()
    t0 = bp.perf_counter()
    for _ in range(iters):
        got = comm.bcast(data, root=0)
    comm.Barrier()
    t = (bp.perf_counter() - t0) / iters
    if len(got) != narrays:
        raise AssertionError("bcast dict came back wrong")
    return t


def case_allreduce_int(comms, ck, cfg):
    runners = {"c": lambda: ck.allreduce_int(cfg["iters"]),
               "mpi4py": lambda: timed_allreduce(comms["mpi4py"], cfg["iters"]),
               "mpikernel": lambda: timed_allreduce(comms["mpikernel"], cfg["iters"])}
    ck.allreduce_int(cfg["warmup"])
    timed_allreduce(comms["mpi4py"], cfg["warmup"])
    timed_allreduce(comms["mpikernel"], cfg["warmup"])
    out = {k: [] for k in runners}
    for rep in range(cfg["reps"]):
        for impl in rotated(list(runners), rep):
            out[impl].append(runners[impl]())
    emit(comms["mpikernel"], "allreduce_int", out, iters=cfg["iters"], ranks=comms["mpikernel"].size)


def case_bcast_dict(comms, ck, cfg):
    comm = comms["mpikernel"]
    nbytes, narrays = cfg["nbytes"], cfg["arrays"]
    per = nbytes // narrays // 8
    data = {f"a{i}": np.full(per, float(i)) for i in range(narrays)} if comm.rank == 0 else None
    raw = np.full(per * 8 * narrays, 7 if comm.rank == 0 else 0, dtype=np.uint8)
    runners = {"c": lambda: ck.bcast(raw, cfg["iters"]),
               "mpi4py": lambda: timed_bcast(comms["mpi4py"], data, cfg["iters"], narrays),
               "mpikernel": lambda: timed_bcast(comms["mpikernel"], data, cfg["iters"], narrays)}
    for impl in runners:
        runners[impl]()
    out = {k: [] for k in runners}
    for rep in range(cfg["reps"]):
        for impl in rotated(list(runners), rep):
            out[impl].append(runners[impl]())
    emit(comm, "bcast_dict", out, nbytes=per * 8 * narrays, iters=cfg["iters"], ranks=comm.size)


CASES = {
    "pingpong": case_pingpong,
    "pickle_small": case_pickle_small,
    "dict_array": case_dict_array,
    "allreduce_int": case_allreduce_int,
    "bcast_dict": case_bcast_dict,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", required=True, help="path of libkernels.so")
    parser.add_argument("--config", required=True, help="JSON: {'cases': [[name, params], ...]}")
    args = parser.parse_args(argv)
    config = json.loads(args.config)
    from mpi4py import MPI as mpi4py_MPI
    from mpikernel import MPI as mpikernel_MPI

    comms = {"mpi4py": mpi4py_MPI.COMM_WORLD, "mpikernel": mpikernel_MPI.COMM_WORLD}
    ck = CKernels(args.kernels)
    if comms["mpikernel"].rank == 0:
        for impl, M in (("mpi4py", mpi4py_MPI), ("mpikernel", mpikernel_MPI)):
            bp.report("_info", [], "", impl=impl, library_version=M.Get_library_version(),
                      libmpi=bp.loaded_libmpi(), thread_level=M.Query_thread(),
                      ranks=comms[impl].size, interleaved=True)
        bp.report("_info", [], "", impl="c", library_version=mpi4py_MPI.Get_library_version(),
                  libmpi=bp.loaded_libmpi(), thread_level=mpi4py_MPI.Query_thread(), interleaved=True)
    for name, params in config["cases"]:
        CASES[name](comms, ck, params)


if __name__ == "__main__":
    main()
