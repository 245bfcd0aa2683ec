"""Differential tests of point-to-point calls, requests and Status (tests/programs/p2p.py)."""

import pytest

from programs import driver

pytestmark = pytest.mark.mpi


@pytest.mark.parametrize("n", [1, 2, 4])
def test_point_to_point_matches_mpi4py(n):
    driver.differential("p2p.py", n)


PROC_NULL_RECEIVES = """
import numpy as np
from mpikernel import MPI
comm = MPI.COMM_WORLD
buf = np.zeros(4)
seen = []
for name in ("Recv", "Irecv", "Sendrecv", "recv", "irecv"):
    st = MPI.Status()
    if name == "Recv":
        comm.Recv(buf, source=MPI.PROC_NULL, status=st)
    elif name == "Irecv":
        comm.Irecv(buf, source=MPI.PROC_NULL).Wait(st)
    elif name == "Sendrecv":
        comm.Sendrecv(np.ones(4), dest=MPI.PROC_NULL, recvbuf=buf, source=MPI.PROC_NULL, status=st)
    elif name == "recv":
        comm.recv(source=MPI.PROC_NULL, status=st)
    else:
        comm.irecv(source=MPI.PROC_NULL).wait(st)
    ok = (st.source == MPI.PROC_NULL and st.tag == MPI.ANY_TAG and st.Get_count(MPI.BYTE) == 0)
    seen.append(f"{name}:{'ok' if ok else (st.source, st.tag, st.Get_count(MPI.BYTE))}")
print(" ".join(seen))
"""


@pytest.mark.parametrize("check", ["0", "1"], ids=["plain", "checking"])
def test_receives_from_proc_null_report_the_standard_status(mpirun, check):
    """MPI 4.1 §3.10: source PROC_NULL, tag ANY_TAG, count 0, whatever the MPI's own request says
    (Debian's MPICH 4.0.2 leaves it unset; the binding writes it)."""
    res = mpirun(PROC_NULL_RECEIVES, n=1, timeout=60, env={"MPIKERNEL_CHECK_COLLECTIVES": check})
    assert res.lines() == ["Recv:ok Irecv:ok Sendrecv:ok recv:ok irecv:ok"]


STAGGERED_WAITALL = """
import time
import numpy as np
from mpikernel import MPI
comm = MPI.COMM_WORLD
if comm.rank == 0:
    bufs = [np.zeros(4, dtype="i") for _ in range(4)]
    idle = comm.Recv_init(np.zeros(1, dtype="i"), source=1, tag=99)   # persistent, never started
    reqs = [comm.Irecv(b, source=1, tag=t) for t, b in enumerate(bufs)]
    reqs.insert(2, MPI.REQUEST_NULL)
    reqs.append(idle)
    statuses = [MPI.Status() for _ in reqs]
    MPI.Request.Waitall(reqs, statuses)
    got = [(s.source, s.tag, s.Get_count(MPI.INT)) for s in statuses]
    print(got == [(1, 0, 4), (1, 1, 4), (MPI.ANY_SOURCE, MPI.ANY_TAG, 0), (1, 2, 4), (1, 3, 4),
                  (MPI.ANY_SOURCE, MPI.ANY_TAG, 0)] or got,
          [int(b[0]) for b in bufs], all(r == MPI.REQUEST_NULL for r in reqs[:5]))
    idle.Free()
else:
    for t in (3, 0, 2, 1):      # out of order, far enough apart that the wait backs off between
        time.sleep(0.05)
        comm.Send(np.full(4, 10 + t, dtype="i"), dest=0, tag=t)
"""


def test_waitall_over_completions_far_apart_keeps_every_status(mpirun):
    """Waitall past its first poll uses Testsome (the back-off restarts on each completion):
    each status lands at its request's place, null and inactive requests get the empty status."""
    res = mpirun(STAGGERED_WAITALL, n=2, timeout=60)
    assert res.lines() == ["True [10, 11, 12, 13] True"]


STAGGERED_WAITANY = """
import time
import numpy as np
from mpikernel import MPI
comm = MPI.COMM_WORLD
if comm.rank == 0:
    bufs = [np.zeros(2, dtype="i") for _ in range(3)]
    reqs = [comm.Irecv(b, source=1, tag=t) for t, b in enumerate(bufs)]
    order = []
    for _ in range(3):
        st = MPI.Status()
        i = MPI.Request.Waitany(reqs, st)
        order.append((i, st.tag, int(bufs[i][0]), reqs[i] == MPI.REQUEST_NULL))
    st = MPI.Status()
    print(order, MPI.Request.Waitany(reqs, st) == MPI.UNDEFINED)
else:
    for t in (2, 0, 1):
        time.sleep(0.05)
        comm.Send(np.full(2, 10 + t, dtype="i"), dest=0, tag=t)
"""


def test_waitany_over_plain_requests_reports_each_as_it_completes(mpirun):
    res = mpirun(STAGGERED_WAITANY, n=2, timeout=60)
    assert res.lines() == ["[(2, 2, 12, True), (0, 0, 10, True), (1, 1, 11, True)] True"]
