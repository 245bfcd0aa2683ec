"""Worlds across the nodes of .ci/cluster-up: start, cell round trip, latency and bandwidth.

    .ci/cluster-up exec python -m benchmarks.multinode [--reps 5] [--json PATH]

Run on the simulated cluster's login node (the kernel's place). In ONE run it measures:

- start: `start_world(6, launcher="slurm", nodes 3)` until the 6 engines (2 per node) are
  connected, Slurm's queue included;
- cell: the round trip of a `%%px_mpi` cell doing an allreduce over the 3 nodes (median of reps);
- 8 B latency (one way) and 1 MiB bandwidth of Send/Recv ping-pong between rank 0 (n1) and
  rank 2 (n2), inside a cell of that world (mpikernel.MPI), then the same code with mpi4py in a
  plain `srun -N2 -n2` job on the same two nodes, MPI's TCP on the same interface (eth0).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

PINGPONG = '''
import time
import numpy as np

def pingpong(comm, nbytes, reps, peer):
    buf = np.zeros(nbytes, "B")
    rank, other = comm.Get_rank(), (peer if comm.Get_rank() == 0 else 0)
    comm.Barrier()
    t = 0.0
    if rank in (0, peer):
        for i in range(reps + 5):  # 5 rounds of warm-up
            if i == 5:
                t = time.perf_counter()
            if rank == 0:
                comm.Send(buf, dest=other)
                comm.Recv(buf, source=other)
            else:
                comm.Recv(buf, source=other)
                comm.Send(buf, dest=other)
        t = (time.perf_counter() - t) / reps / 2
    comm.Barrier()
    return t
'''
SIZES = {"latency_8B_s": (8, 1000), "oneway_1MiB_s": (1 << 20, 50)}


def in_world(reps, env):
    """The world's numbers, measured through the magics in this process."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from mpikernel.cluster.slurm import SlurmOptions
    from mpikernel.front import magics

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "mpikernel")
    out = {}
    t0 = time.perf_counter()
    w = magics.start_world(6, launcher="slurm", slurm=SlurmOptions(nodes="3"), env=env)
    out["start_s"] = time.perf_counter() - t0
    try:
        out["hosts"] = {e.rank: e.host for e in w.engines.values()}
        peer = min(r for r, h in out["hosts"].items() if h != out["hosts"][0])
        cells = []
        for _ in range(reps):
            t = time.perf_counter()
            with capture_output() as cap:
                ip.run_cell("%%px_mpi\nprint(comm.allreduce(rank))", store_history=False)
            cells.append(time.perf_counter() - t)
            assert "15" in cap.stdout, cap.stdout
        out["cell_s"] = statistics.median(cells)
        w.view().execute(PINGPONG, block=True)
        for name, (nbytes, n) in SIZES.items():
            got = w.view().apply_sync(lambda nb, n, p: pingpong(comm, nb, n, p), nbytes, n, peer)  # noqa: F821
            out[name] = got[0]
        out["pair"] = f"rank 0 on {out['hosts'][0]} - rank {peer} on {out['hosts'][peer]}"
    finally:
        magics.stop_world()
    return out


def with_mpi4py(extra, timeout=180):
    """The same ping-pong with mpi4py in a plain 2-task job on two nodes."""
    code = PINGPONG + f"""
import json, socket
from mpi4py import MPI
res = {{k: pingpong(MPI.COMM_WORLD, nb, n, 1) for k, (nb, n) in {SIZES!r}.items()}}
hosts = MPI.COMM_WORLD.allgather(socket.gethostname())
if MPI.COMM_WORLD.Get_rank() == 0:
    print("RESULT " + json.dumps(dict(res, hosts=hosts)))
"""
    env = dict(os.environ, UCX_NET_DEVICES="eth0", FI_TCP_IFACE="eth0", FI_SOCKETS_IFACE="eth0", **extra)
    out = subprocess.run(["srun", "-N2", "-n2", "--ntasks-per-node=1", "--kill-on-bad-exit=1", "-t", "3", sys.executable, "-c", code],
                         capture_output=True, text=True, timeout=timeout, env=env)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"the mpi4py job gave no result: {out.stdout[-800:]}{out.stderr[-800:]}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--json", type=Path)
    p.add_argument("--tcp", action="store_true", help="UCX_TLS=tcp,self: the simulated nodes share one kernel, "
                   "so UCX otherwise carries messages between them over shared memory")
    args = p.parse_args(argv)
    if socket.gethostname() != "login" or not os.environ.get("SLURM_CONF"):
        sys.exit("run on the login node of .ci/cluster-up: .ci/cluster-up exec python -m benchmarks.multinode")
    extra = {"UCX_TLS": "tcp,self"} if args.tcp else {}
    world = in_world(args.reps, extra)
    print(json.dumps(world), file=sys.stderr, flush=True)  # (kept if the mpi4py job fails)
    ref = with_mpi4py(extra)
    print(f"world start, 6 ranks on 3 nodes (queue included): {world['start_s']:.2f} s")
    print(f"cell round trip (allreduce over 3 nodes, median of {args.reps}): {world['cell_s'] * 1e3:.0f} ms")
    print(f"| between nodes ({world['pair']}; mpi4py: {' - '.join(ref['hosts'])}) | mpikernel (in a cell) | mpi4py |")
    print("| --- | ---: | ---: |")
    print(f"| 8 B latency, one way | {world['latency_8B_s'] * 1e6:.1f} us | {ref['latency_8B_s'] * 1e6:.1f} us |")
    print(f"| 1 MiB bandwidth | {(1 << 20) / world['oneway_1MiB_s'] / 1e6:.0f} MB/s "
          f"| {(1 << 20) / ref['oneway_1MiB_s'] / 1e6:.0f} MB/s |")
    print(f"(UCX_TLS={extra.get('UCX_TLS', 'default')}; load average {os.getloadavg()[0]:.1f})")
    if args.json:
        args.json.write_text(json.dumps({"world": world, "mpi4py": ref, "env": extra, "load": os.getloadavg()[0]}, indent=1))


if __name__ == "__main__":
    main()
