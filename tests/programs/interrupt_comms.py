"""Interrupting the blocking calls of issue 18 (mpikernel only; mpi4py ignores SIGINT): ranks
1.. block in a neighbour collective and in an intercomm collective that rank 0 never joins; a
helper thread of each signals its main thread once it is inside MPI, and KeyboardInterrupt must
arrive within 0.5 s. After MPI._reset_world() the groups, topology communicators and
intercommunicators made from the old world refuse use with a clear error, and new ones work."""

import os
import signal
import threading
import time

from harness import MPI, RANK, SIZE, check, done, np, raises, value

W = MPI.COMM_WORLD
MAIN = threading.main_thread().ident
GIVE_UP = 5.0


def make_intercomm():
    color = RANK % 2
    return W.Split(color, RANK).Create_intercomm(0, W, 1 - color, tag=3)


def blocked(name, call):
    """Ranks 1.. run call() and get SIGINT once inside MPI; rank 0 stays away; all reset."""
    if RANK == 0:
        MPI._reset_world()
        return
    box = {}

    def helper():
        begin = time.monotonic()
        while MPI._waiting() is None and time.monotonic() < begin + 20:
            time.sleep(0.005)
        time.sleep(0.05)
        box["sent"] = time.monotonic()
        signal.pthread_kill(MAIN, signal.SIGINT)
        if not box.setdefault("caught", threading.Event()).wait(GIVE_UP):
            value(f"{name}: KeyboardInterrupt raised", f"not interrupted in {GIVE_UP}s", True)
            os._exit(3)

    box["caught"] = threading.Event()
    t = threading.Thread(target=helper, daemon=True)
    t.start()
    try:
        outcome = f"returned {call()!r}"
    except KeyboardInterrupt:
        outcome = "KeyboardInterrupt"
    latency = time.monotonic() - box.get("sent", time.monotonic())
    box["caught"].set()
    t.join()
    value(f"{name}: KeyboardInterrupt raised", outcome, "KeyboardInterrupt")
    value(f"{name}: latency s", round(latency, 4))
    MPI._reset_world()


ring = W.Create_cart([SIZE], periods=[True])
graph = W.Create_dist_graph_adjacent([(RANK - 1) % SIZE], [(RANK + 1) % SIZE])
group = W.Get_group()
inter = make_intercomm()
blocked("Neighbor_allgather", lambda: ring.Neighbor_allgather(np.ones(1), np.zeros(2)))
raises("stale Cartcomm: Neighbor_allgather", lambda: ring.Neighbor_allgather(np.ones(1),
                                                                              np.zeros(2)))
raises("stale Distgraphcomm: neighbor_allgather", lambda: graph.neighbor_allgather(RANK))
raises("stale Group: Get_size", lambda: group.Get_size())
raises("stale Group: Incl", lambda: group.Incl([0]))
raises("stale Intercomm: Get_remote_size", lambda: inter.Get_remote_size())
raises("stale Intercomm: Barrier", lambda: inter.Barrier())
check("new Cartcomm works", lambda: W.Create_cart([SIZE], periods=[True]).neighbor_allgather(
    RANK), [(RANK - 1) % SIZE, (RANK + 1) % SIZE])
check("new group works", lambda: W.Get_group().Get_size(), SIZE)

inter = make_intercomm()
blocked("intercomm Allreduce", lambda: inter.Allreduce(np.ones(1), np.zeros(1), op=MPI.SUM))
fresh = make_intercomm()
blocked("intercomm bcast", lambda: fresh.bcast(None, root=0))
raises("stale Intercomm after intercomm wait: Allreduce", lambda: inter.Allreduce(
    np.ones(1), np.zeros(1), op=MPI.SUM))
# an intercomm allreduce combines the remote group's values: its size here
check("new intercomm works", lambda: make_intercomm().allreduce(1), SIZE // 2
      if RANK % 2 == 0 else SIZE - SIZE // 2)
check("world works", lambda: W.allreduce(1), SIZE)
done()
