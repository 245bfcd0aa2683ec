"""Ctrl-C in the blocking calls of issue 18: a neighbour collective and intercomm collectives
(buffer and pickled) that rank 0 never joins raise KeyboardInterrupt within 0.5 s, and after
MPI._reset_world() the groups, topology communicators and intercommunicators made from the old
world refuse use with a clear error while new ones work (tests/programs/interrupt_comms.py,
mpikernel only: mpi4py ignores SIGINT in blocking calls)."""

import ast
import re

import pytest

from programs import driver

pytestmark = pytest.mark.mpi


@pytest.mark.parametrize("n", [2, 3])
def test_interrupt_neighbour_and_intercomm_collectives(n):
    run = driver.run("interrupt_comms.py", n, "mpikernel", timeout=60)
    found = driver.problems(run)
    latencies = []
    for rank in range(n):
        for name, rec in run.records.get(rank, {}).items():
            if name.endswith("latency s"):
                latencies.append(float(ast.literal_eval(rec["value"])[1]))
            if name.startswith("stale") and rec["kind"] == "raises":
                if not rec["raised"]:
                    found.append(f"rank {rank}: {name}: still works after _reset_world()")
                elif not re.search(r"reset|interrupt", rec["msg"], re.I):
                    found.append(f"rank {rank}: {name}: unclear message: {rec['msg'][:200]!r}")
    assert not found, driver.report(run.header(), driver.by_check(found))
    assert len(latencies) == 3 * (n - 1) and max(latencies) < 0.5, latencies
