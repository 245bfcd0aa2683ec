"""Worlds over the 3 nodes of .ci/cluster-up: placement, TCP between nodes, interrupts, node loss.

Run on its login node: `.ci/cluster-up exec python -m pytest tests/cluster/test_multinode.py`
(.ci/legs/multinode.sh; MPIKERNEL_REQUIRE_CLUSTER=1 there turns the skip into a failure).
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mpikernel.cluster import slurm
from cluster_helpers import Owner, node_pids, restore_cluster, strays, why_no_cluster
from require import skip_or_fail

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(300)]
START = "-n 6 --launcher slurm --nodes 3"
GONE_WITHIN = 10.0


@pytest.fixture(scope="module")
def cluster():
    reason = why_no_cluster()
    if reason:
        skip_or_fail(f"no multi-node cluster here ({reason}); .ci/cluster-up makes one", "MPIKERNEL_REQUIRE_CLUSTER")
    return True


def job_listed(job):
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, timeout=30)
    return job in out.stdout.split()


@pytest.fixture
def owner(cluster, tmp_path):
    o = Owner(START, tmp_path)
    yield o
    o.kill()
    if o.hello.get("job"):
        subprocess.run(["scancel", o.hello["job"]], capture_output=True, timeout=30)


def test_six_ranks_over_three_nodes_reduce_and_pass_a_ring_over_tcp(owner):
    assert owner.hello["hosts"] == {"0": "n1", "1": "n1", "2": "n2", "3": "n2", "4": "n3", "5": "n3"}
    got = owner.ask(cell=textwrap.dedent("""\
        import socket
        left = comm.sendrecv(socket.gethostname(), dest=(rank + 1) % size, source=(rank - 1) % size)
        print(comm.allreduce(rank), socket.gethostname(), "got", left)"""))
    assert got["error"] == "", got
    for r, (me, left) in enumerate(zip("112233", "311223")):
        assert f"15 n{me} got n{left}" in got["stdout"], got["stdout"]
    status = owner.ask(line="%mpi_status")
    rows = [line.split() for line in status["stdout"].splitlines()[1:] if line.split()[:1] != []]
    hosts = {int(row[0]): row[2] for row in rows if row and row[0].isdigit()}
    assert hosts == {0: "n1", 1: "n1", 2: "n2", 3: "n2", 4: "n3", 5: "n3"}, status["stdout"]


def test_ctrl_c_stops_a_collective_hung_across_nodes_and_the_next_one_is_right(owner):
    hung = owner.ask(cell="import time\nif rank == 0:\n    time.sleep(60)\ncomm.barrier()", interrupt_after=3)
    assert hung["ename"] == "RanksInterrupted" and hung["took"] < 20, hung
    for r in (1, 2, 3, 4, 5):  # the interrupt reached the ranks on n2 and n3 (control channel)
        assert f"rank {r} was waiting in comm.barrier()" in hung["stdout"], hung["stdout"]
    after = owner.ask(cell="print(comm.allreduce(rank + 1))")
    assert after["error"] == "" and "21" in after["stdout"], after


def test_sigkill_of_the_kernel_leaves_nothing_on_any_node_and_cancels_the_job(owner):
    job, pids = owner.hello["job"], owner.hello["pids"]
    assert job_listed(job)
    before = node_pids()
    assert all(before[n] for n in ("n1", "n2", "n3"))
    os.killpg(owner.proc.pid, signal.SIGKILL)
    owner.proc.wait(5)
    until, left = time.monotonic() + GONE_WITHIN, None
    while time.monotonic() < until:
        left = strays(exclude={os.getpid()} | set(_ancestors()))
        if not left and not job_listed(job):
            break
        time.sleep(0.5)
    assert not left, f"still running {GONE_WITHIN:g} s after SIGKILL of the kernel: {left}"
    assert not job_listed(job), f"job {job} still in squeue"


def test_a_connection_without_the_world_key_is_refused(cluster):
    from mpikernel.cluster.slurm import SlurmOptions
    from mpikernel.cluster.world import World

    w = World(n=6, launcher="slurm", slurm=SlurmOptions(nodes="3"))
    w.start()
    try:
        url, real = w._control.url, dict(w._control.hellos[0])
        assert not url.startswith("tcp://127."), url  # the nodes reach it over the bridge
        forged = textwrap.dedent(f"""
            import json, time, zmq
            s = zmq.Context().socket(zmq.DEALER)
            s.setsockopt(zmq.IDENTITY, b"rank-0"); s.setsockopt(zmq.LINGER, 1000)
            s.connect({url!r})
            hello = json.dumps({{"op": "hello", "rank": 0, "pid": 1, "host": "intruder"}}).encode()
            s.send_multipart([b"0" * 64, hello]); s.send_multipart([hello])
            time.sleep(1)
        """)
        subprocess.run(["nsenter", "--net=/run/netns/mkc-n2", sys.executable, "-c", forged], check=True, timeout=30)
        w._control.wait_hellos(7, time.monotonic() + 2)
        assert w._control.hellos[0] == real
        assert w.where([0])[0]["host"] == "n1"
    finally:
        w.stop()


def test_the_deadlock_report_names_each_ranks_node_only_when_the_world_spans_nodes():
    from mpikernel.cells import diagnose

    waiting = {"call": "recv", "peer": 1, "tag": 0, "comm": "MPI_COMM_WORLD", "since": 1.0, "waited": 3.0}
    statuses = {4: {"busy": True, "waiting": waiting, "line": 2, "code": "x = comm.recv(source=1)"}}
    ranks = range(6)
    done = [0, 1, 2, 3, 5]
    hosts = {r: f"n{r // 2 + 1}" for r in ranks}
    spans = "\n".join(diagnose.explain(diagnose.rank_states(ranks, 6, done, [], statuses, hosts)))
    assert ("rank 4 on n3 waits in comm.recv(source=1) at line 2; rank 1 on n1 finished the cell "
            "without sending a matching message.") in spans, spans
    assert "ranks 0,2-3,5 on n1, n2, n3 finished the cell." in spans, spans
    for one_host in (None, {}):
        text = "\n".join(diagnose.explain(diagnose.rank_states(ranks, 6, done, [], statuses, one_host)))
        assert " on n" not in text and "rank 4 waits in comm.recv(source=1) at line 2; rank 1 finished" in text


def test_a_deadlock_across_nodes_is_reported_with_the_ranks_nodes(owner):
    from mpikernel.cells.merge import strip_ansi

    got = owner.ask(cell="if rank == 4:\n    x = comm.recv(source=1)\nprint(rank)")
    text = strip_ansi(got["stdout"])
    assert got["ename"] == "RanksError", got
    assert ("rank 4 on n3 waits in comm.recv(source=1) at line 3; rank 1 on n1 finished the cell "
            "without sending a matching message.") in text, text
    assert "ranks 0,2-3,5 on n1, n2, n3 finished the cell." in text, text
    after = owner.ask(cell="print(comm.allreduce(rank + 1))")
    assert after["error"] == "" and "21" in after["stdout"], after


# last: it kills n2 (slurmd too) and the cluster needs a moment to take it back
def test_a_node_killed_mid_cell_is_named_with_its_ranks_and_the_kernel_lives(owner):
    try:
        import threading

        def kill_n2():
            time.sleep(3)
            for pid in node_pids()["n2"]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

        threading.Thread(target=kill_n2, daemon=True).start()
        t0 = time.monotonic()
        got = owner.ask(cell="import time\ntime.sleep(60)\ncomm.barrier()", timeout=60)
        took = time.monotonic() - t0 - 3
        assert "node n2 lost: ranks 2-3" in got["stdout"] + got["error"] + str(got["lost"]), got
        assert took < 10, f"reported {took:.1f} s after the node died: {got}"
        # the job is cancelled with the report, not at %mpi_restart: n1 and n3 are free again
        until, state, left = time.monotonic() + GONE_WITHIN, None, None
        while time.monotonic() < until:
            state = slurm.job_state(owner.hello["job"])
            left = {n: p for n, p in strays().items() if n in ("n1", "n3")}
            if (state is None or state[0] not in ("RUNNING", "PENDING")) and not left:
                break
            time.sleep(0.5)
        assert state is None or state[0] not in ("RUNNING", "PENDING"), f"job still {state} after the loss"
        assert not left, f"ranks still running on the other nodes after the loss: {left}"
        alive = owner.ask(line="print('kernel', 6 * 7)")
        assert "kernel 42" in alive["stdout"], alive
    finally:
        owner.kill()
        subprocess.run(["scancel", owner.hello["job"]], capture_output=True, timeout=30)
        restore_cluster()


def _ancestors():
    pid, out = os.getpid(), []
    while pid > 1:
        try:
            pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        out.append(pid)
    return out
