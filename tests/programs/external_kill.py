"""The kernel's way of interrupting: SIGINT sent to each engine's pid by another process (the
pytest process here). Ranks 1.. block in a barrier rank 0 never joins and, once inside MPI,
leave their pid in $BINDTEST_SIGNAL_DIR/blocked-<rank>; the test signals them. Then every
rank resets the world and checks it works. mpikernel only."""

import os
import threading
import time

from harness import MPI, RANK, SIZE, check, done, info, value

W = MPI.COMM_WORLD
FOLDER = os.environ["BINDTEST_SIGNAL_DIR"]

if RANK != 0:
    def announce():
        deadline = time.monotonic() + 20
        while MPI._waiting() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        path = os.path.join(FOLDER, f"blocked-{RANK}")
        with open(path + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(path + ".tmp", path)  # the test never reads a half-written file

    threading.Thread(target=announce, daemon=True).start()
    try:
        W.barrier()
        outcome = "returned"
    except KeyboardInterrupt:
        outcome = "KeyboardInterrupt"
    info("caught at", time.monotonic())
    value("barrier interrupted from outside", outcome, "KeyboardInterrupt")
MPI._reset_world()
check("allreduce after reset", lambda: W.allreduce(RANK), SIZE * (SIZE - 1) // 2)
done()
