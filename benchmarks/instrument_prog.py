"""What the instrumentation costs, measured inside one MPI job (see benchmarks/instrument.py).

argv: <build label> <json params>. On 2 ranks: 8-byte Send/Recv ping-pong and allreduce(int)
latency, in blocks that rotate between the states this build has ("off", and in the
instrumented build "trace" and "check"), so slow phases of the shared machine hit every state
alike. On rank 0 alone: the per-call cost of tracing, from tight loops of Isend(PROC_NULL) and
COMM_SELF.Barrier() and Iprobe, in CPU time of the calling thread (robust on a shared
machine), with tracing off and on. Prints one ``BENCH {json}`` line per sample.
"""

import json
import sys
import time

import numpy as np

from mpikernel import MPI

W = MPI.COMM_WORLD
RANK = W.rank
LABEL = sys.argv[1]
P = json.loads(sys.argv[2])
INSTRUMENTED = LABEL != "uninstrumented"
STATES = ("off", "trace", "check") if INSTRUMENTED else ("off",)


def emit(**rec):
    if RANK == 0:
        print("BENCH " + json.dumps({"build": LABEL, **rec}), flush=True)


def set_state(state):
    if not INSTRUMENTED:
        return
    MPI._set_checking(state == "check")
    if state == "trace":
        MPI._trace_start(P["capacity"])
    elif MPI._tracing():
        MPI._trace_stop()


CHUNK = 20  # round trips (or allreduces) per timed chunk


def pingpong(n):
    """(mean, best) seconds per one-way 8-byte message over n round trips, timed in chunks
    of CHUNK: on a shared machine the fastest chunk is the one nobody else disturbed."""
    buf = np.zeros(1, dtype="f8")
    chunks = []
    W.Barrier()
    start = time.perf_counter()
    for _ in range(max(1, n // CHUNK)):
        t0 = time.perf_counter()
        if RANK == 0:
            for _ in range(CHUNK):
                W.Send(buf, dest=1, tag=1)
                W.Recv(buf, source=1, tag=1)
        else:
            for _ in range(CHUNK):
                W.Recv(buf, source=0, tag=1)
                W.Send(buf, dest=0, tag=1)
        chunks.append((time.perf_counter() - t0) / (2 * CHUNK))
    return (time.perf_counter() - start) / (2 * CHUNK * len(chunks)), min(chunks)


def allreduce(n):
    chunks = []
    W.Barrier()
    start = time.perf_counter()
    for _ in range(max(1, n // CHUNK)):
        t0 = time.perf_counter()
        for _ in range(CHUNK):
            W.allreduce(1)
        chunks.append((time.perf_counter() - t0) / CHUNK)
    return (time.perf_counter() - start) / (CHUNK * len(chunks)), min(chunks)


def local_calls(n):
    """CPU seconds (this thread's, so other jobs on the shared cores do not count) per
    Isend(PROC_NULL)+Wait pair, per COMM_SELF.Barrier() and per Iprobe: calls with no peer,
    where the hooks' cost is a visible share of the call."""
    buf = np.zeros(1)
    src = MPI.ANY_SOURCE
    out = {}
    t0 = time.thread_time()
    for _ in range(n):
        W.Isend(buf, dest=MPI.PROC_NULL).Wait()
    t1 = time.thread_time()
    out["isend_wait_procnull"] = (t1 - t0) / n
    for _ in range(n):
        MPI.COMM_SELF.Barrier()
    t2 = time.thread_time()
    out["self_barrier"] = (t2 - t1) / n
    for _ in range(n):
        W.Iprobe(source=src, tag=77)
    out["iprobe_nothing"] = (time.thread_time() - t2) / n
    return out


for state in STATES:  # warm up every state
    set_state(state)
    pingpong(P["warmup"])
    allreduce(P["warmup"])
set_state("off")
for rep in range(P["reps"]):
    order = STATES[rep % len(STATES):] + STATES[:rep % len(STATES)]
    for state in order:
        set_state(state)
        mean, best = pingpong(P["pingpong"])
        emit(state=state, bench="pingpong8", seconds=mean)
        emit(state=state, bench="pingpong8_best", seconds=best)
        mean, best = allreduce(P["allreduce"])
        emit(state=state, bench="allreduce_int", seconds=mean)
        emit(state=state, bench="allreduce_int_best", seconds=best)
        set_state("off")
    W.Barrier()
if RANK == 0:
    local_calls(P["local"] // 10)                    # warm up
    for rep in range(P["reps"]):
        states = ("off", "trace") if INSTRUMENTED else ("off",)
        for state in states if rep % 2 == 0 else states[::-1]:
            set_state(state)
            for bench, seconds in local_calls(P["local"]).items():
                emit(state=state, bench=bench, seconds=seconds)
            set_state("off")
if RANK == 0 and INSTRUMENTED:
    MPI._trace_start(P["capacity"])
    for _ in range(P["capacity"]):
        MPI.COMM_SELF.Barrier()                      # fills the ring
    t0 = time.thread_time()
    rec = MPI._trace_stop()
    emit(state="trace", bench="record_per_event",
         seconds=(time.thread_time() - t0) / max(1, len(rec["events"])),
         events=len(rec["events"]), dropped=rec["dropped"])
W.Barrier()
