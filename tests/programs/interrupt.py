"""Interruptible waits (mpikernel only; mpi4py ignores SIGINT here and spins at 100%).

Ranks 1.. block in a call that rank 0 never joins. SIGINT reaches them in three ways: from a
helper thread of the rank itself (signal.pthread_kill to the main thread, or
_thread.interrupt_main), or from another process (rank 0 calls os.kill on their pids, which is
what the kernel does). Each rank measures how fast KeyboardInterrupt arrives and how much CPU
the wait burned between 1 s and 2 s of blocking. Then every rank calls MPI._reset_world() and
the world must work again: right collective results, a fresh send reaching a fresh receive,
and communicators derived from the old world refusing use with a clear error.

A rank that is not interrupted within 5 s of the signal records that and exits, so a broken
wait loop fails the test quickly instead of hanging it.
"""

import _thread
import os
import signal
import threading
import time

from harness import MPI, RANK, SIZE, check, done, info, np, raises, value

W = MPI.COMM_WORLD
MAIN = threading.main_thread().ident
PIDS = W.allgather(os.getpid())
LONG = float(os.environ.get("BINDTEST_BLOCK_SECONDS", "2.0"))
GIVE_UP = 5.0
QUICK = os.environ.get("BINDTEST_QUICK") == "1"  # CPU measured in barrier only; fewer calls


WAITING_CALL = {"Request.Wait": "wait", "request.wait": "wait", "Request.Waitall": "waitall",
                "big Recv (4 MiB)": "recv", "big Send (4 MiB)": "send",
                "big send (pickled 4 MiB)": "send", "Allreduce_init + Start + Wait": "wait"}


def self_signal():
    signal.pthread_kill(MAIN, signal.SIGINT)


def self_kill():
    os.kill(os.getpid(), signal.SIGINT)


def _ready(name, rank):
    """The file a blocked rank creates so that rank 0 knows when to send SIGINT."""
    safe = "".join(c if c.isalnum() else "_" for c in name)
    return os.path.join(os.environ.get("BINDTEST_OUT", "/tmp"), f"ready-{safe}-{rank}")


DELIVERY = {"pthread_kill": self_signal, "os.kill self": self_kill,
            "interrupt_main": _thread.interrupt_main}


def blocked(name, call, how, long=False):
    """Ranks 1.. run call() and get interrupted (rank 0 stays away); then all ranks reset."""
    result = {}
    if RANK == 0:
        sent = None
        if how == "rank 0 os.kill":
            # the others say (by a file) when they are blocked inside MPI: a signal that came
            # before the call would be a KeyboardInterrupt in the test's own code
            deadline = time.monotonic() + 20
            while not all(os.path.exists(_ready(name, r)) for r in range(1, SIZE)):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.005)
            time.sleep(LONG + 0.2 if long else 0.05)  # long: after the CPU window
            sent = time.monotonic()
            for pid in PIDS[1:]:
                os.kill(pid, signal.SIGINT)
        c0, w0 = time.process_time(), time.monotonic()
        MPI._reset_world()  # waits for the others, interruptibly and cheaply
        if long and sent is None:
            info(f"{name}: rank 0 CPU share while waiting {LONG} s in _reset_world",
                 (time.process_time() - c0) / max(time.monotonic() - w0, 1e-9))
        W.bcast(sent, root=0)
        value(f"{name}: _interrupted() after reset", MPI._interrupted(), 0)
        return
    caught = threading.Event()

    def helper():
        begin = time.monotonic()
        while MPI._waiting() is None and not caught.is_set() and time.monotonic() < begin + 20:
            time.sleep(0.005)  # until the main thread is inside the MPI call
        result["waiting"] = MPI._waiting()
        if how == "rank 0 os.kill":
            open(_ready(name, RANK), "w").close()
        if long:  # CPU between 1 s and LONG s of blocking
            time.sleep(max(0.0, begin + 1.0 - time.monotonic()))
            c1, w1 = time.process_time(), time.monotonic()
            time.sleep(LONG - 1.0)
            c2, w2 = time.process_time(), time.monotonic()
            result["cpu"] = (c2 - c1) / (w2 - w1)
        else:
            time.sleep(0.05)
        if how in DELIVERY and not caught.is_set():
            result["sent"] = time.monotonic()
            DELIVERY[how]()
        if not caught.wait(GIVE_UP + (LONG if long else 0)):
            value(f"{name}: KeyboardInterrupt raised", f"not interrupted after {GIVE_UP}s", True)
            os._exit(3)

    t = threading.Thread(target=helper, daemon=True)
    start = time.monotonic()
    t.start()
    try:
        got = call()
        outcome = f"returned {got!r}"
    except KeyboardInterrupt:
        outcome = "KeyboardInterrupt"
    except BaseException as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    result["caught"] = time.monotonic()
    caught.set()
    try:
        t.join()
    except KeyboardInterrupt:  # the call returned just before the signal came
        t.join()
    value(f"{name}: KeyboardInterrupt raised", outcome, "KeyboardInterrupt")
    waiting = result.get("waiting") or {}
    info(f"{name}: _waiting()", waiting)
    value(f"{name}: _waiting() saw the blocked call", bool(waiting.get("call")), True)
    # what the engine shows the user ("rank 2 is waiting in recv from 0, tag 7")
    value(f"{name}: _waiting() names the call", (waiting.get("call") or "").lower(),
          WAITING_CALL.get(name, name.lower()))
    if name in ("recv", "Recv", "probe"):
        value(f"{name}: _waiting() peer and tag", (waiting.get("peer"), waiting.get("tag")),
              (0, {"recv": 7, "Recv": 8, "probe": 12}[name]))
    if "wait" not in name.lower():  # a request does not know its communicator
        value(f"{name}: _waiting() comm", waiting.get("comm") in ("COMM_WORLD", "MPI_COMM_WORLD"),
              True)
    if not any(word in name.lower() for word in ("recv", "probe", "wait")):
        # collectives cannot be cancelled: they must be counted so the engine resets the world
        # (an interrupted receive is cancelled, so it may or may not count)
        value(f"{name}: _interrupted() before reset >= 1", MPI._interrupted() >= 1, True)
    info(f"{name}: _interrupted() before reset", MPI._interrupted())
    MPI._reset_world()
    sent = W.bcast(None, root=0)
    sent = result.get("sent", sent)
    latency = result["caught"] - sent if sent is not None else None
    info(f"{name}: latency s", latency)
    value(f"{name}: KeyboardInterrupt within 0.5 s", latency is not None and 0 <= latency < 0.5,
          True)
    if long:
        info(f"{name}: CPU share between 1 s and {LONG} s", result["cpu"])
        value(f"{name}: CPU share under 10%", result["cpu"] < 0.10, True)
    info(f"{name}: blocked for s", result["caught"] - start)
    value(f"{name}: _interrupted() after reset", MPI._interrupted(), 0)


def world_works(tag):
    """After a reset: collectives give the right values and p2p matches fresh operations."""
    check(f"{tag}: allreduce", lambda: W.allreduce(RANK), SIZE * (SIZE - 1) // 2)
    check(f"{tag}: COMM_WORLD is the same object", lambda: MPI.COMM_WORLD is W, True)
    check(f"{tag}: Allreduce", lambda: (lambda b: (W.Allreduce(np.full(2, RANK + 1.0), b), b)[1])(
        np.zeros(2)), np.full(2, SIZE * (SIZE + 1) / 2))
    check(f"{tag}: barrier", W.barrier, None)


def fresh_message(tag):
    """Rank 0 sends to every other rank with the tag an interrupted recv was waiting for."""
    if RANK == 0:
        for r in range(1, SIZE):
            W.send(("fresh", r), dest=r, tag=7)
        return "sent"
    req = W.irecv(source=0, tag=7)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        ok, msg = req.test()
        if ok:
            return msg
        time.sleep(0.001)
    return "no message within 5 s (a stale receive swallowed it?)"


def _fresh_Recv():
    if RANK == 0:
        for r in range(1, SIZE):
            W.Send(np.full(4, float(r)), dest=r, tag=8)
        return True
    got = np.zeros(4)
    W.Recv(got, source=0, tag=8)
    return bool((got == RANK).all())



# communicators made before the first interrupt become stale after the reset
sub = W.Split(RANK % 2, RANK)
dup = W.Dup()
cart = W.Create_cart([SIZE], periods=[True])
self_dup = MPI.COMM_SELF.Dup()  # not made from the world: nothing of the world can be pending

# -- the three the issue names, with CPU measured over a long wait ------------------------------
blocked("barrier", W.barrier, "pthread_kill", long=True)
world_works("after barrier")
raises("stale Split comm: allreduce", lambda: sub.allreduce(1))
raises("stale Dup comm: Barrier", lambda: dup.Barrier())
raises("stale Cartcomm: Shift", lambda: cart.Shift(0, 1))
raises("stale Cartcomm: sendrecv", lambda: cart.sendrecv(1, dest=0, source=0))
raises("stale Dup comm: sendrecv", lambda: dup.sendrecv(1, dest=0, source=0))
check("new Split after reset", lambda: W.Split(0, RANK).allreduce(1), SIZE)
check("COMM_SELF.Dup() made before still works", lambda: self_dup.bcast(("self", RANK), root=0),
      ("self", RANK))
check("COMM_SELF still works", lambda: MPI.COMM_SELF.allreduce(RANK), RANK)

blocked("recv", lambda: W.recv(source=0, tag=7), "rank 0 os.kill", long=not QUICK)
world_works("after recv")
check("fresh send reaches the new recv", lambda: fresh_message(7),
      "sent" if RANK == 0 else ("fresh", RANK))

blocked("allreduce", lambda: W.allreduce(RANK), "interrupt_main", long=not QUICK)
world_works("after allreduce")

# -- the other blocking calls, briefly (BINDTEST_QUICK=1: a few of them) --------------------------
buf = np.zeros(4)
blocked("Recv", lambda: W.Recv(buf, source=0, tag=8), "rank 0 os.kill")
blocked("Allreduce", lambda: W.Allreduce(np.ones(4), buf, op=MPI.SUM), "pthread_kill")
if not QUICK:
    blocked("Barrier", W.Barrier, "os.kill self")
    blocked("Bcast", lambda: W.Bcast(buf, root=0), "rank 0 os.kill")
    blocked("bcast", lambda: W.bcast(None, root=0), "pthread_kill")
    blocked("scatter", lambda: W.scatter(None, root=0), "interrupt_main")
    blocked("allgather", lambda: W.allgather(RANK), "pthread_kill")
    blocked("Request.Wait", lambda: W.Irecv(buf, source=0, tag=9).Wait(), "pthread_kill")
    blocked("request.wait", lambda: W.irecv(source=0, tag=10).wait(), "pthread_kill")
    blocked("Request.Waitall", lambda: MPI.Request.Waitall([W.Irecv(buf, source=0, tag=11)]),
            "pthread_kill")
    blocked("probe", lambda: W.probe(source=0, tag=12), "pthread_kill")
    blocked("sendrecv", lambda: W.sendrecv("x", dest=0, source=0, sendtag=13, recvtag=14),
            "pthread_kill")
    blocked("big Recv (4 MiB)", lambda: W.Recv(np.zeros(512 * 1024), source=0, tag=15),
            "rank 0 os.kill")
    # sends cannot be cancelled: after the reset they must not reach the new world
    blocked("big Send (4 MiB)", lambda: W.Send(np.zeros(512 * 1024), dest=0, tag=16),
            "pthread_kill")
    blocked("big send (pickled 4 MiB)", lambda: W.send(np.zeros(512 * 1024), dest=0, tag=17),
            "pthread_kill")
    blocked("Ssend", lambda: W.Ssend(np.zeros(1), dest=0, tag=18), "pthread_kill")
    if MPI.Get_version() >= (4, 0):  # persistent collectives are MPI 4's (not Open MPI 4.1's)
        def start_and_wait(request):
            request.Start()
            request.Wait()

        blocked("Allreduce_init + Start + Wait",
                lambda: start_and_wait(W.Allreduce_init(np.ones(4), buf)), "pthread_kill")
    time.sleep(0.1)
    check("interrupted sends do not reach the new world",
          lambda: [W.iprobe(source=MPI.ANY_SOURCE, tag=t) for t in (16, 17, 18)],
          [False, False, False])
world_works("at the end")
check("fresh Recv after an interrupted Recv", lambda: _fresh_Recv(), True)

# -- an interrupted _reset_world (one rank is busy elsewhere and the user presses interrupt
#    again): the next _reset_world must still give a working world, not hang --------------------
if RANK != 0:
    def interrupt_when_waiting():
        deadline = time.monotonic() + 20
        while MPI._waiting() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        signal.pthread_kill(MAIN, signal.SIGINT)

    threading.Thread(target=interrupt_when_waiting, daemon=True).start()
    try:
        MPI._reset_world()
        outcome = "returned"
    except KeyboardInterrupt:
        outcome = "KeyboardInterrupt"
    value("_reset_world interrupted", outcome, "KeyboardInterrupt")
    open(_ready("interrupted reset", RANK), "w").close()
else:  # the late rank: comes only once the others gave up
    deadline = time.monotonic() + 20
    while not all(os.path.exists(_ready("interrupted reset", r)) for r in range(1, SIZE)):
        if time.monotonic() > deadline:
            break
        time.sleep(0.005)


def watchdog(seconds, what):
    def fire():
        value(what, f"hung for {seconds} s", "finished")
        os._exit(3)
    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()
    return t


dog = watchdog(6, "reset after an interrupted reset")
MPI._reset_world()
check("after an interrupted reset: allreduce", lambda: W.allreduce(RANK), SIZE * (SIZE - 1) // 2)
dog.cancel()
value("reset after an interrupted reset", "finished", "finished")


done()
