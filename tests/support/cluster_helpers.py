"""The simulated multi-node cluster of .ci/cluster-up, for tests/cluster/test_multinode.py.

The tests run on its login node (`.ci/cluster-up exec python -m pytest ...`, as
.ci/legs/multinode.sh does): `why_no_cluster()` says why not, `node_pids()` lists what runs on
each node (every process in its network namespace), and `Owner` is an IPython shell with the
magics in its own process, the kernel stand-in a test can SIGKILL, driven one JSON line at a time.
"""

import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

NODES = ("n1", "n2", "n3")
NAMESPACES = ("login",) + NODES
DAEMONS = {"slurmd", "slurmctld", "slurmscriptd"}
CLUSTER_UP = Path(__file__).resolve().parents[2] / ".ci" / "cluster-up"


def why_no_cluster() -> str | None:
    """None on the login node of a cluster that runs a 3-node job; else a sentence."""
    import socket

    if socket.gethostname() != "login" or not os.environ.get("SLURM_CONF"):
        return "not on the login node of .ci/cluster-up (run the tests with `.ci/cluster-up exec`)"
    try:
        out = subprocess.run(["srun", "-N3", "-n3", "-t", "1", "hostname"], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"srun -N3 did not answer ({e})"
    if sorted(out.stdout.split()) != list(NODES):
        return f"srun -N3 ran on {out.stdout.split()} ({out.stderr.strip()[:200]})"
    return None


def node_pids() -> dict[str, list[int]]:
    """{node: pids of every process in its network namespace} (`ip netns pids`)."""
    got = {}
    for node in NAMESPACES:
        out = subprocess.run(["ip", "netns", "pids", f"mkc-{node}"], capture_output=True, text=True, timeout=15)
        got[node] = [int(p) for p in out.stdout.split()]
    return got


def command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def strays(exclude=()) -> dict[str, list[str]]:
    """{node: ["pid name", ...]} of processes on the nodes other than Slurm's daemons and `exclude`."""
    left = {}
    for node, pids in node_pids().items():
        names = [f"{p} {command_name(p)}" for p in pids
                 if p not in exclude and command_name(p) not in DAEMONS and command_name(p)]
        if names:
            left[node] = names
    return left


def restore_cluster():
    """Bring back what a test killed (a node's slurmd): .ci/cluster-up is idempotent."""
    out = subprocess.run([str(CLUSTER_UP)], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, f".ci/cluster-up could not restore the cluster: {out.stdout}{out.stderr}"


OWNER = textwrap.dedent("""
    import json, os, signal, sys, threading, time
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from mpikernel.front import magics

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "mpikernel")
    t0 = time.monotonic()
    ip.run_line_magic("mpi_start", sys.argv[1])
    w = magics.world()
    print("OWNER " + json.dumps({"started": time.monotonic() - t0, "pids": w.processes(),
                                 "job": w._launch.job, "hosts": {e.rank: e.host for e in w.engines.values()}}),
          flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("interrupt_after"):
            threading.Timer(req["interrupt_after"], os.kill, (os.getpid(), signal.SIGINT)).start()
        t = time.monotonic()
        with capture_output() as cap:
            if "cell" in req:
                res = ip.run_cell("%%px_mpi " + req.get("args", "") + "\\n" + req["cell"])
            else:
                res = ip.run_cell(req["line"])
        print("OWNER " + json.dumps({"stdout": cap.stdout, "error": str(res.error_in_exec or ""),
                                     "ename": type(res.error_in_exec).__name__, "took": time.monotonic() - t,
                                     "lost": w.lost() if w.running else None}), flush=True)
""")


class Owner:
    """An IPython shell (its own session) that started `%mpi_start ARGS`; `ask` runs one request."""

    def __init__(self, args, cwd):
        self.lines = queue.Queue()
        self.said = []
        self.proc = subprocess.Popen([sys.executable, "-c", OWNER, args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                                     cwd=cwd, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        self.hello = self.report(180)

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def report(self, timeout=120):
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            self.said.append(line)
            if line.startswith("OWNER "):
                return json.loads(line[6:])
        raise AssertionError("the owner did not answer; it said:\n" + "\n".join(self.said[-40:]))

    def ask(self, timeout=120, **req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self.report(timeout)

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
