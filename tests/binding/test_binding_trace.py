"""Per-call tracing in the binding (issue 10): MPI._trace_start / _trace_stop / _trace_snapshot
record every call in a per-rank ring buffer, and MPI._waiting() tells what a blocked call
waits for (issue 12). Each program prints one JSON line per rank; the tests read those."""


import pytest

import mpirun as _mpirun

pytestmark = pytest.mark.mpi

PRELUDE = """
import json, os, signal, sys, threading, time
import numpy as np
from mpikernel import MPI
W = MPI.COMM_WORLD
rank, size = W.rank, W.size

""" + _mpirun.EMIT + """
def brief(rec):
    keep = ("call", "kind", "comm", "peer", "tag", "bytes", "root", "seq", "pending", "req",
            "reqs", "done", "t0", "t1", "wait", "dest", "sendtag", "sendbytes", "source",
            "recvtag", "recvbytes")
    return [{k: e[k] for k in keep if k in e} for e in rec["events"]]
"""

RING_AND_COLLECTIVES = PRELUDE + """
right, left = (rank + 1) % size, (rank - 1) % size
MPI._trace_start()
W.send({"from": rank}, dest=right, tag=10 + rank)             # lowercase ring
W.recv(source=left, tag=10 + left)
rec = MPI._trace_stop()
emit("ring", brief(rec))
emit("ring meta", {k: v for k, v in rec.items() if k != "events"})

MPI._trace_start()
buf = np.zeros(3)
req = W.Irecv(buf, source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG)
W.Send(np.arange(3.0), dest=right, tag=20 + rank)              # uppercase ring, any source
req.Wait()
x = W.bcast("hello" if rank == 0 else None, root=0)
W.Barrier()
W.Sendrecv(np.ones(2), dest=right, sendtag=5, recvbuf=np.zeros(2), source=left, recvtag=5)
reqs = [W.isend(rank, dest=right, tag=6), W.irecv(source=left, tag=6)]
got = MPI.Request.waitall(reqs)
sub = W.Split(color=rank % 2, key=-rank)                        # reversed order in the sub-comm
sub.allreduce(1)
sub.send(rank, dest=(sub.rank + 1) % sub.size, tag=7)
sub.recv(source=MPI.ANY_SOURCE, tag=7)
emit("mixed", brief(MPI._trace_stop()))
emit("after stop", len(MPI._trace_snapshot()["events"]))
W.barrier()
emit("results", [x, got, buf.tolist()])
emit("counts", [MPI._collective_count(), MPI._collective_count(sub)])
"""


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    return run(RING_AND_COLLECTIVES, 4, tmp_path_factory.mktemp("trace"))


run = _mpirun.run_emitted


def test_ring_pass_records_exactly_one_send_and_one_receive_per_rank(ring_run):
    sends, recvs = [], []
    for rank, events in ring_run["ring"].items():
        for e in events:
            assert e["comm"] == "COMM_WORLD" and not e["pending"], e
            assert e["t0"] <= e["t1"] and e["wait"] >= 0
            (sends if e["kind"] == "send" else recvs).append((rank, e))
        assert [e["call"] for e in events] == ["send", "recv"], events
    assert sorted((r, e["peer"], e["tag"]) for r, e in sends) == \
        [(r, (r + 1) % 4, 10 + r) for r in range(4)]
    # for receives, the peer and tag are the ones that arrived
    assert sorted((r, e["peer"], e["tag"]) for r, e in recvs) == \
        [(r, (r - 1) % 4, 10 + (r - 1) % 4) for r in range(4)]
    # each message is the same size at both ends
    for r, e in sends:
        (match,) = [f for q, f in recvs if q == e["peer"]]
        assert match["bytes"] == e["bytes"] > 0


def test_record_header(ring_run):
    for rank, meta in ring_run["ring meta"].items():
        assert meta["rank"] == rank and meta["size"] == 4
        assert meta["capacity"] == 65536 and meta["dropped"] == 0
        assert meta["t_start"] <= meta["t_now"]


def test_an_any_source_receive_records_the_actual_source_and_tag(ring_run):
    for rank, events in ring_run["mixed"].items():
        irecv, send, wait = events[0], events[1], events[2]
        assert (irecv["call"], irecv["kind"]) == ("Irecv", "recv")
        assert (irecv["peer"], irecv["tag"], irecv["bytes"]) == ((rank - 1) % 4, 20 + (rank - 1) % 4, 24)
        assert (send["call"], send["peer"], send["tag"]) == ("Send", (rank + 1) % 4, 20 + rank)
        # the Wait names the request it completed; the Irecv says when it completed
        assert wait["call"] == "Wait" and wait["kind"] == "wait"
        assert wait["req"] == irecv["req"] is not None and wait["reqs"] == [irecv["req"]]
        assert irecv["t1"] <= irecv["done"] <= wait["t1"]


def test_bcast_and_barrier_are_one_collective_event_per_rank_with_the_same_seq(ring_run):
    colls = {rank: [e for e in events if e["kind"] == "coll"] for rank, events in ring_run["mixed"].items()}
    for rank, events in colls.items():
        calls = [(e["call"], e["comm"], e["root"], e["seq"]) for e in events]
        # seq counts the collectives on each communicator since it was made, from 1
        assert calls == [("bcast", "COMM_WORLD", 0, 1), ("Barrier", "COMM_WORLD", None, 2),
                         ("Split", "COMM_WORLD", None, 3), ("allreduce", "comm#1", None, 1)], calls
        assert all(not e["pending"] and e["t0"] <= e["t1"] for e in events)


def test_collective_count_is_the_last_seq(ring_run):
    # bcast, Barrier, Split, barrier on COMM_WORLD; one allreduce on the sub-communicator
    assert ring_run["counts"] == {r: [4, 1] for r in range(4)}


def test_sendrecv_records_both_directions(ring_run):
    for rank, events in ring_run["mixed"].items():
        (e,) = [e for e in events if e["call"] == "Sendrecv"]
        assert e["kind"] == "sendrecv"
        assert (e["dest"], e["sendtag"], e["sendbytes"]) == ((rank + 1) % 4, 5, 16)
        assert (e["source"], e["recvtag"], e["recvbytes"]) == ((rank - 1) % 4, 5, 16)


def test_lowercase_nonblocking_requests_link_to_their_waitall(ring_run):
    for rank, events in ring_run["mixed"].items():
        isend, irecv, waitall = [e for e in events if e["call"] in ("isend", "irecv", "waitall")]
        assert isend["peer"] == (rank + 1) % 4 and isend["tag"] == 6
        assert irecv["peer"] == (rank - 1) % 4 and irecv["tag"] == 6   # filled in at completion
        assert sorted(waitall["reqs"]) == sorted([isend["req"], irecv["req"]])
        assert isend["done"] is not None and irecv["done"] is not None


def test_a_sub_communicator_has_one_name_on_all_ranks_and_world_ranks_as_peers(ring_run):
    for rank, events in ring_run["mixed"].items():
        send, recv = [e for e in events if e["call"] in ("send", "recv") and e["tag"] == 7]
        # the first communicator made is comm#1 on every rank; peers are COMM_WORLD ranks
        assert send["comm"] == recv["comm"] == "comm#1"
        partner = (rank + 2) % 4
        assert send["peer"] == partner and recv["peer"] == partner


def test_nothing_is_recorded_after_stop_and_results_are_unchanged(ring_run):
    for rank in range(4):
        assert ring_run["after stop"][rank] == len(ring_run["mixed"][rank])
        x, got, buf = ring_run["results"][rank]
        assert x == "hello" and got == [None, (rank - 1) % 4] and buf == [0.0, 1.0, 2.0]


BLOCKED = PRELUDE + """
# rank 1 blocks in Recv(source=0, tag=2) while rank 0's message has tag 1: the snapshot taken
# while it waits, and the one after the interrupt, show the Recv pending; _waiting() shows
# the unmatched message.
seen = {}
if rank == 0:
    W.send("wrong tag", dest=1, tag=1)
    W.barrier()
    emit("done", True)
elif rank == 1:
    MPI._trace_start()
    def watch():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            w = MPI._waiting()
            if w is not None and w["unexpected"]:
                seen["waiting"] = w
                seen["snapshot"] = brief(MPI._trace_snapshot())
                break
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=watch, daemon=True).start()
    try:
        W.Recv(np.zeros(4), source=0, tag=2)
        outcome = "returned"
    except KeyboardInterrupt:
        outcome = "KeyboardInterrupt"
    emit("outcome", outcome)
    emit("waiting", seen.get("waiting"))
    emit("snapshot while blocked", seen.get("snapshot"))
    emit("snapshot after interrupt", brief(MPI._trace_snapshot()))
    emit("wrong tag still there", W.recv(source=0, tag=1))
    W.barrier()
    emit("stop", brief(MPI._trace_stop()))
"""


def test_an_interrupted_recv_is_pending_and_waiting_shows_the_unmatched_message(tmp_path):
    out = run(BLOCKED, 2, tmp_path)
    assert out["outcome"][1] == "KeyboardInterrupt"
    w = out["waiting"][1]
    assert w is not None, "the watcher never saw the unmatched message"
    assert (w["call"], w["kind"], w["comm"], w["peer"], w["tag"]) == ("Recv", "recv", "COMM_WORLD", 0, 2)
    assert w["world_peer"] == 0
    assert w["seq"] is None and w["root"] is None
    assert [tuple(u[:2]) for u in w["unexpected"]] == [(0, 1)] and w["unexpected"][0][2] > 0
    for name in ("snapshot while blocked", "snapshot after interrupt"):
        last = out[name][1][-1]
        assert (last["call"], last["peer"], last["tag"], last["pending"]) == ("Recv", 0, 2, True), name
        assert last["t1"] is None
    assert out["wrong tag still there"][1] == "wrong tag"
    calls = [(e["call"], e["pending"]) for e in out["stop"][1]]
    assert calls == [("Recv", True), ("recv", False), ("barrier", False)], calls


DROPS = PRELUDE + """
MPI._trace_start()
MPI.Intracomm(W).Barrier()                        # another object wrapping the world's handle
emit("wrapper", [(e["comm"], e["seq"]) for e in MPI._trace_stop()["events"]])
MPI._trace_start(capacity=8)
for i in range(20):
    MPI.COMM_SELF.Barrier()
rec = MPI._trace_stop()
emit("rec", {"dropped": rec["dropped"], "capacity": rec["capacity"],
             "seqs": [e["seq"] for e in rec["events"]], "comms": sorted({e["comm"] for e in rec["events"]})})
MPI._trace_start(capacity=8)
for i in range(3):
    W.Iprobe(source=MPI.ANY_SOURCE, tag=123)      # finds nothing: counted, not recorded
rec = MPI._trace_stop()
emit("polls", [rec["polls"], len(rec["events"])])
try:
    MPI._trace_start(capacity=0)
except ValueError as exc:
    emit("bad capacity", str(exc))
"""


def test_the_ring_buffer_keeps_the_last_events_and_counts_the_dropped(tmp_path):
    out = run(DROPS, 1, tmp_path)
    rec = out["rec"][0]
    assert rec["dropped"] == 12 and rec["capacity"] == 8
    assert rec["seqs"] == list(range(13, 21)) and rec["comms"] == ["COMM_SELF"]
    assert out["polls"][0] == [3, 0]
    assert out["wrapper"][0] == [["COMM_WORLD", 1]]
    assert "capacity" in out["bad capacity"][0]


COLUMN = PRELUDE + """
a = np.arange(48.0).reshape(6, 8)
vec = MPI.DOUBLE.Create_vector(6, 1, 8)                         # 6 doubles, 8 apart: extent 328 B
column = vec.Create_resized(0, 8).Commit()                      # the next column starts 8 B on
MPI._trace_start()
if rank == 0:
    W.Send([a, 1, column], dest=1, tag=3)
    W.Isend([a, 2, column], dest=1, tag=4).Wait()
else:
    got = np.zeros((6, 8))
    W.Recv([got, 1, column], source=0, tag=3)
    assert (got[:, 0] == a[:, 0]).all() and not got[:, 1:].any()
    W.Irecv([got, 2, column], source=0, tag=4).Wait()
    assert (got[:, :2] == a[:, :2]).all() and not got[:, 2:].any()
emit("column", [(e["call"], e["bytes"]) for e in MPI._trace_stop()["events"]
                if e["call"] in ("Send", "Isend", "Recv", "Irecv")])
"""


def test_a_derived_type_with_holes_is_traced_as_the_bytes_it_carries(tmp_path):
    """A column of 6 doubles is 48 bytes of data, not count x extent (8 or 328 bytes a column)."""
    out = run(COLUMN, 2, tmp_path)
    for rank in (0, 1):
        sizes = [b for _, b in out["column"][rank]]
        assert sizes == [48, 96], (rank, out["column"][rank])  # not 16 (2 x the resized extent)
