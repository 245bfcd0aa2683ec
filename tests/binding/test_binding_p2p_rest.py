"""Point-to-point, the rest (issue 18), differential against mpi4py (tests/programs/p2p_rest.py):
send modes, Sendrecv_replace specs, matched probes, persistent requests, the *some/get_status
forms, Status, and bad input (same exception class and MPI error class as mpi4py). Plus the
interrupt of a blocked persistent-request Wait (mpikernel only)."""

import pytest
from require import mpich_validated

from programs import driver

pytestmark = [pytest.mark.mpi, mpich_validated]


@pytest.mark.parametrize("n", [1, 2])
def test_p2p_rest_matches_mpi4py(n):
    driver.differential("p2p_rest.py", n, timeout=90)


PERSISTENT_WAIT_INTERRUPT = """
import array, signal, threading, time
from mpikernel import MPI
W = MPI.COMM_SELF
buf = array.array("i", [0])
q = W.Recv_init(buf, 0, 5)          # nothing is ever sent with tag 5 before the interrupt
q.Start()
sent = {}
def fire():
    while MPI._waiting() is None:
        time.sleep(0.005)
    time.sleep(0.2)
    sent["t"] = time.monotonic()
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
threading.Thread(target=fire, daemon=True).start()
try:
    q.Wait()
    print("returned")
except KeyboardInterrupt:
    print("interrupted", round(time.monotonic() - sent["t"], 3))
q.Start()                           # the cancelled receive left the request inactive: reusable
W.Send(array.array("i", [42]), 0, 5)
q.Wait()
print("after", buf[0], bool(q))
q.Free()
"""


def test_interrupt_of_a_blocked_persistent_wait(mpirun):
    """Ctrl-C within 0.5 s in Prequest.Wait; the cancelled receive can be started again."""
    lines = mpirun(PERSISTENT_WAIT_INTERRUPT, n=1, timeout=60).lines()
    assert lines[0].startswith("interrupted"), lines
    assert float(lines[0].split()[1]) < 0.5, lines
    assert lines[1:] == ["after 42 True"], lines
