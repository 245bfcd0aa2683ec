"""The headline of the binding: a rank blocked in an MPI call that can never complete gets
KeyboardInterrupt within 0.5 s of SIGINT, burns under 10% of a core while it waits, and after
MPI._reset_world() the world works again (tests/programs/interrupt.py, mpikernel only: mpi4py
ignores SIGINT in blocking calls and spins at 100%)."""

import os
import re
import signal
import threading
import time

import pytest

from programs import driver

pytestmark = pytest.mark.mpi


def check_run(run):
    found = driver.problems(run)
    for rank in range(run.n):
        for name, rec in run.records.get(rank, {}).items():
            if name.startswith("stale") and rec["kind"] == "raises":
                if not rec["raised"]:
                    found.append(f"rank {rank}: {name}: a communicator split from the old world "
                                 f"still works after _reset_world()")
                elif not re.search(r"reset|interrupt|stale", rec["msg"], re.I):
                    found.append(f"rank {rank}: {name}: unclear message: {rec['msg'][:200]!r}")
    assert not found, driver.report(run.header(), driver.by_check(found))


def measured(run, suffix):
    return {(rank, name): rec["value"] for rank in run.records
            for name, rec in run.records[rank].items() if name.endswith(suffix)}


def test_interrupt_every_blocking_call_on_4_ranks(record_property):
    """4 ranks on 2 cores (oversubscribed): barrier, recv, allreduce blocked 2 s each with CPU
    measured, then 15 other blocking calls (collectives, receives, request waits, probe, big and
    synchronous sends), a reset after each; stale communicators; an interrupted reset."""
    start = time.monotonic()
    run = driver.run("interrupt.py", 4, "mpikernel", timeout=90)
    latencies = measured(run, "latency s")
    cpu = measured(run, "CPU share between 1 s and 2.0 s")
    if latencies and cpu:  # the numbers the issue asks for, in the junit report
        record_property("max_interrupt_latency_s", round(max(latencies.values()), 4))
        record_property("max_cpu_share_while_blocked", round(max(cpu.values()), 4))
    check_run(run)
    assert len(cpu) == 3 * 3 and max(cpu.values()) < 0.10, cpu
    assert len(latencies) >= 3 * 15 and max(latencies.values()) < 0.5, latencies
    assert time.monotonic() - start < 60


def test_interrupt_quick_on_2_ranks():
    """2 ranks: barrier with CPU measured, recv/allreduce/Recv/Allreduce, stale communicators,
    an interrupted reset (BINDTEST_QUICK=1)."""
    run = driver.run("interrupt.py", 2, "mpikernel", timeout=60, BINDTEST_QUICK="1")
    check_run(run)
    assert max(measured(run, "latency s").values()) < 0.5


UNCAUGHT = """
import signal, threading
from mpikernel import MPI
comm = MPI.COMM_WORLD
if comm.rank == 1:
    threading.Timer(0.3, signal.pthread_kill,
                    (threading.main_thread().ident, signal.SIGINT)).start()
    comm.barrier()     # rank 0 never comes, and nobody catches the KeyboardInterrupt
else:
    comm.recv(source=1)
"""


def test_rank_dying_of_an_interrupt_makes_the_job_fail(mpirun):
    """Pending operations make the binding end a rank without waiting for MPI_Finalize; that must
    not turn a rank that died of an uncaught exception into a successful run."""
    res = mpirun(UNCAUGHT, n=2, timeout=60, check=False)
    assert "KeyboardInterrupt" in res.stderr
    assert res.returncode != 0, "mpiexec reported success although rank 1 died of KeyboardInterrupt"


def test_sigint_from_another_process_like_the_kernel(tmp_path):
    """Each blocked rank's pid gets SIGINT from this (pytest) process, as the kernel signals its
    engines: KeyboardInterrupt within 0.5 s, then the reset world works."""
    n = 4
    sent = {}

    def signal_blocked_ranks():
        deadline = time.monotonic() + 30
        waiting = set(range(1, n))
        while waiting and time.monotonic() < deadline:
            for rank in sorted(waiting):
                path = tmp_path / f"blocked-{rank}"
                if path.exists():
                    pid = int(path.read_text())
                    time.sleep(0.05)  # let it settle into the wait loop's slow phase
                    sent[rank] = time.monotonic()
                    os.kill(pid, signal.SIGINT)
                    waiting.discard(rank)
            time.sleep(0.005)

    killer = threading.Thread(target=signal_blocked_ranks, daemon=True)
    killer.start()
    run = driver.run("external_kill.py", n, "mpikernel", timeout=60,
                     BINDTEST_SIGNAL_DIR=str(tmp_path))
    killer.join(5)
    driver.assert_clean(run)
    assert sorted(sent) == list(range(1, n)), sent
    latency = {r: run.get(r, "caught at")["value"] - sent[r] for r in sent}
    assert all(0 <= v < 0.5 for v in latency.values()), latency
