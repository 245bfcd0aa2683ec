"""Repeated traffic must not grow memory: 150 round trips of a 1 MiB array (pickled out of band,
and as a buffer), 1500 small pickled messages and request pairs, big bcasts, allreduces. Each
phase moves far more than the threshold, so a per-message leak shows. Needs 2 ranks."""

import gc

from harness import MPI, RANK, check, done, np

W = MPI.COMM_WORLD
OTHER = 1 - RANK
ARRAY = np.arange(128 * 1024, dtype="f8")  # 1 MiB


def resident_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def pickled_big(i):
    W.sendrecv({"a": ARRAY}, dest=OTHER, source=OTHER)


def buffer_big(i):
    W.Sendrecv(ARRAY, dest=OTHER, recvbuf=np.empty_like(ARRAY), source=OTHER)


def small_objects(i):
    W.sendrecv([i, "x"], dest=OTHER, source=OTHER)


def request_pairs(i):
    MPI.Request.waitall([W.isend(i, dest=OTHER, tag=1), W.irecv(source=OTHER, tag=1)])


def bcast_big(i):
    W.bcast({"a": ARRAY} if RANK == 0 else None, root=0)


def allreduces(i):
    W.allreduce(np.ones(3))
    W.allreduce(i)


for phase, rounds in [(pickled_big, 150), (buffer_big, 150), (small_objects, 1500),
                      (request_pairs, 1500), (bcast_big, 150), (allreduces, 1500)]:
    def grows(phase=phase, rounds=rounds):
        phase(-1)  # first use may allocate caches
        gc.collect()
        before = resident_mib()
        for i in range(rounds):
            phase(i)
        gc.collect()
        return resident_mib() - before < 20

    check(f"no memory growth: {phase.__name__}", grows, True)
done()
