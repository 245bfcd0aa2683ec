"""Start a benchmark program on n ranks and collect its ``BENCH {json}`` lines.

Every launch has a hard timeout and runs in its own session, so a hang (or a binding that ignores
a signal) is killed as a whole process group and never outlives the benchmark run.
"""

import json
import os
import signal
import subprocess
import time

from mpikernel.cluster import launcher


class LaunchError(RuntimeError):
    """A benchmark program failed or timed out; `records` holds what it measured before."""

    def __init__(self, message, records=()):
        super().__init__(message)
        self.records = list(records)


def mpi_env(extra=None):
    """The launch environment. OpenBLAS (loaded with numpy) would start a spinning thread pool
    in every rank; one thread keeps those idle threads off the 2 cores, for every side alike."""
    env = launcher.launch_environ()
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra or {})
    return env


def run_ranks(n, argv, timeout, env=None):
    """Run `argv` on `n` ranks; return the parsed BENCH records (list of dicts) in print order."""
    cmd = launcher.mpiexec_command(n) + list(argv)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=mpi_env(env), start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        raise LaunchError(
            f"timed out after {timeout:.0f}s: {' '.join(cmd)}\n{tail(out)}\n{tail(err)}",
            parse_records(out),
        ) from None
    finally:
        kill_group(proc)
    records = parse_records(out)
    if proc.returncode != 0:
        raise LaunchError(
            f"exit status {proc.returncode} after {time.monotonic() - t0:.1f}s: {' '.join(cmd)}\n"
            f"{tail(out)}\n{tail(err)}",
            records,
        )
    return records


def parse_records(text):
    records = []
    for line in text.splitlines():
        if line.startswith("BENCH "):
            records.append(json.loads(line[len("BENCH "):]))
    return records


def tail(text, lines=15):
    return "\n".join((text or "").strip().splitlines()[-lines:])


def kill_group(proc):
    """SIGKILL the process group of a session leader we started; 'no such process' is fine."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
