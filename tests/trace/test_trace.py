"""Tracing: matching, alignment, tables, pictures and export on synthetic records (fast, no MPI),
then `%%px_mpi --trace` on a real 4-rank world (marked mpi)."""

from __future__ import annotations

import json

import pytest

from mpikernel.trace import run as tr
from mpikernel.trace import draw as tracedraw
from mpikernel.trace.model import Trace


class Records:
    """Builds records in exactly the binding's shape (docs/binding.md, "Tracing"): None where a
    value does not apply (PROC_NULL, an unmatched wildcard, no root), comm None for Wait/Test."""

    def __init__(self, size):
        self.size = size
        self.events = {r: [] for r in range(size)}
        self.next_req = 1

    def ev(self, rank, call, kind, t0, t1, **kw):
        e = {"call": call, "kind": kind, "comm": None if kind == "wait" else "COMM_WORLD", "peer": None,
             "tag": None, "bytes": 0, "root": None, "seq": None, "t0": t0, "t1": t1, "wait": 0.0,
             "req": None, "pending": False}
        e.update(kw)
        self.events[rank].append(e)
        return e

    def send(self, rank, dest, tag, t0, t1, nbytes=8, call="send", **kw):
        return self.ev(rank, call, "send", t0, t1, peer=dest, tag=tag, bytes=nbytes, **kw)

    def recv(self, rank, source, tag, t0, t1, nbytes=8, call="recv", **kw):
        return self.ev(rank, call, "recv", t0, t1, peer=source, tag=tag, bytes=nbytes,
                       wait=kw.pop("wait", (t1 - t0) * 0.9 if t1 is not None else 0.0), **kw)

    def coll(self, rank, call, seq, t0, t1, root=None, **kw):
        return self.ev(rank, call, "coll", t0, t1, seq=seq, root=root, **kw)

    def records(self, dropped=None):
        return [{"rank": r, "size": self.size, "capacity": 65536, "dropped": (dropped or {}).get(r, 0),
                 "polls": 0, "t_start": 0.0, "t_now": 10.0, "events": list(evs)}
                for r, evs in self.events.items()]


def ring(n=4, tag=7, dt=1e-4):
    """Rank 0 starts a token round the ring: each rank receives from r-1 then sends to r+1."""
    rec = Records(n)
    rec.send(0, 1, tag, 0.0, 1e-5)
    for r in range(1, n):
        rec.recv(r, r - 1, tag, 0.0, r * dt)
        rec.send(r, (r + 1) % n, tag, r * dt + 1e-6, r * dt + 1e-5)
    rec.recv(0, n - 1, tag, 2e-5, n * dt)
    return rec


# ================================================================================= matching


def test_ring_gives_one_arrow_per_hop_with_source_destination_and_tag():
    t = Trace.from_records(ring().records())
    got = sorted((m.src, m.dst, m.tag) for m in t.messages)
    assert got == [(0, 1, 7), (1, 2, 7), (2, 3, 7), (3, 0, 7)]
    assert t.unmatched == [] and t.pending == []
    for m in t.messages:
        assert m.received >= m.sent  # arrows point forward in time


def test_non_overtaking_kth_send_matches_kth_receive_per_tag():
    rec = Records(2)
    rec.send(0, 1, 1, 0.00, 0.01, nbytes=10)  # first tag 1
    rec.send(0, 1, 2, 0.02, 0.03, nbytes=20)  # tag 2
    rec.send(0, 1, 1, 0.04, 0.05, nbytes=30)  # second tag 1
    rec.recv(1, 0, 2, 0.00, 0.10, nbytes=20)  # receives tag 2 first
    rec.recv(1, 0, 1, 0.11, 0.12, nbytes=10)
    rec.recv(1, 0, 1, 0.13, 0.14, nbytes=30)
    t = Trace.from_records(rec.records())
    pairs = sorted((m.send_call.raw["bytes"], m.recv_call.raw["bytes"]) for m in t.messages)
    assert pairs == [(10, 10), (20, 20), (30, 30)]


def test_any_tag_receive_takes_the_first_unmatched_message():
    rec = Records(2)
    rec.send(0, 1, 5, 0.0, 0.01)
    rec.send(0, 1, 6, 0.02, 0.03)
    rec.recv(1, 0, None, 0.0, 0.04)  # tag not resolved (ANY_TAG)
    rec.recv(1, 0, 6, 0.05, 0.06)
    t = Trace.from_records(rec.records())
    assert sorted((m.tag, m.recv_call.start) for m in t.messages) == [(5, 0.0), (6, 0.05)]


def test_messages_on_different_communicators_do_not_match():
    rec = Records(2)
    rec.send(0, 1, 0, 0.0, 0.01, comm="row")
    rec.recv(1, 0, 0, 0.0, 0.02, comm="COMM_WORLD")
    t = Trace.from_records(rec.records())
    assert t.messages == []
    assert {c.comm for c in t.unmatched} == {"row", "COMM_WORLD"}


def test_sendrecv_is_both_a_send_and_a_receive():
    rec = Records(2)
    for r in (0, 1):
        o = 1 - r
        rec.ev(r, "Sendrecv", "sendrecv", 0.0, 0.01, dest=o, sendtag=3, sendbytes=16, source=o,
               recvtag=3, recvbytes=16, peer=o, tag=3, bytes=16)
    t = Trace.from_records(rec.records())
    assert sorted((m.src, m.dst, m.tag, m.nbytes) for m in t.messages) == [(0, 1, 3, 16), (1, 0, 3, 16)]


def test_proc_null_halves_are_no_messages():
    rec = Records(2)  # the edge of a halo exchange: rank 0 has no left neighbour
    rec.ev(0, "Sendrecv", "sendrecv", 0.0, 0.01, dest=None, sendtag=0, sendbytes=8, source=1,
           recvtag=0, recvbytes=8)
    rec.ev(1, "Sendrecv", "sendrecv", 0.0, 0.01, dest=0, sendtag=0, sendbytes=8, source=None,
           recvtag=None, recvbytes=8)
    t = Trace.from_records(rec.records())
    assert [(m.src, m.dst) for m in t.messages] == [(1, 0)]
    rows = {r["rank"]: r for r in t.rank_stats()}
    assert (rows[0]["sent"], rows[0]["received"], rows[1]["sent"], rows[1]["received"]) == (0, 1, 1, 0)
    assert t.calls[0][0].describe() == "Sendrecv from rank 1"


def test_irecv_arrow_ends_when_the_receive_completed():
    rec = Records(2)
    rec.send(0, 1, 0, 0.001, 0.002, call="Isend", done=0.002, req=1)
    rec.recv(1, 0, 0, 0.0, 0.0001, call="Irecv", done=0.005, req=2, wait=0.0)
    rec.ev(1, "Wait", "wait", 0.003, 0.005, req=2, reqs=[2], wait=0.002)
    t = Trace.from_records(rec.records())
    (m,) = t.messages
    assert m.sent == pytest.approx(0.001) and m.received == pytest.approx(0.005)


def test_bcast_is_one_collective_band_on_every_rank():
    rec = Records(4)
    for r in range(4):
        rec.coll(r, "bcast", 1, 0.001 * r, 0.005, root=0, bytes=100)
    rec.coll(0, "barrier", 2, 0.006, 0.007)
    t = Trace.from_records(rec.records())
    bcasts = [g for g in t.collectives if g.name == "bcast"]
    assert len(bcasts) == 1 and bcasts[0].ranks == [0, 1, 2, 3] and bcasts[0].root == 0
    assert bcasts[0].start == pytest.approx(0.0) and bcasts[0].end == pytest.approx(0.005)
    assert t.messages == []


def test_nonblocking_collective_band_lasts_until_its_wait():
    rec = Records(2)
    for r in range(2):
        rec.coll(r, "Ibcast", 1, 0.0, 0.001, root=0, done=0.02, req=1)
        rec.ev(r, "Wait", "wait", 0.01, 0.02, req=1, reqs=[1])
    (g,) = Trace.from_records(rec.records()).collectives
    assert g.end == pytest.approx(0.02)


def test_collectives_on_different_communicators_are_separate():
    rec = Records(4)
    for r in range(4):
        rec.coll(r, "allreduce", 1, 0.0, 0.01, comm="row0" if r < 2 else "row1")
    t = Trace.from_records(rec.records())
    assert sorted(g.ranks for g in t.collectives) == [[0, 1], [2, 3]]


# ============================================================================ pending, deadlock


def deadlock():
    """Both ranks receive first: neither receive ever returns."""
    rec = Records(2)
    rec.recv(0, 1, 0, 0.001, None, pending=True, wait=0.0)
    rec.recv(1, 0, 0, 0.001, None, pending=True, wait=0.0)
    return rec


def test_deadlock_marks_the_pending_receives():
    spans = {0: (0.0, 2.0), 1: (0.0, 2.0)}
    t = Trace.from_records(deadlock().records(), spans=spans)
    assert [(c.rank, c.kind, c.peer) for c in t.pending] == [(0, "recv", 1), (1, "recv", 0)]
    assert all(c.end == pytest.approx(2.0) for c in t.pending)  # drawn until the rank stopped
    assert t.messages == []
    rows = {r["rank"]: r for r in t.rank_stats()}
    assert rows[0]["pending"] == ["recv from rank 1, tag 0"]
    assert "pending" in rows[0]["longest_wait_for"]


def test_pending_call_from_the_agent_when_the_record_lacks_it():
    rec = Records(2)
    rec.send(0, 1, 0, 0.0, 0.001)
    t = Trace.from_records(rec.records(), spans={0: (0.0, 1.0), 1: (0.0, 1.0)},
                           waiting={1: {"call": "recv", "peer": 0, "tag": 3, "bytes": 0,
                                        "comm": "MPI_COMM_WORLD", "since": 0.2}})
    (p,) = t.pending
    assert (p.rank, p.name, p.peer, p.tag, p.comm) == (1, "recv", 0, 3, "COMM_WORLD")
    assert p.start == pytest.approx(0.2) and p.end == pytest.approx(1.0)


# ================================================================================== clocks


def test_offsets_put_each_rank_on_rank_0s_clock():
    rec = Records(2)
    rec.send(0, 1, 0, 10.000, 10.001)
    rec.recv(1, 0, 0, 104.999, 105.002)  # rank 1's clock is 95 s ahead
    t = Trace.from_records(rec.records(), offsets={0: (0.0, 0.0), 1: (95.0, 1e-5)},
                           spans={0: (10.0, 10.002), 1: (104.998, 105.003)})
    (m,) = t.messages
    # origin: the earliest cell start on rank 0's clock (rank 1's, 104.998 - 95)
    assert t.spans[1][0] == pytest.approx(0.0, abs=1e-9)
    assert t.spans[0] == pytest.approx((0.002, 0.004), abs=1e-9)
    assert m.sent == pytest.approx(0.002, abs=1e-9)
    assert m.received == pytest.approx(0.004, abs=1e-9)  # without the offset: 95 s later


def test_offsets_within_their_error_are_noise():
    eff = tr.effective_offsets({0: (0.0, 0.0), 1: (3e-6, 2e-5), 2: (0.5, 1e-5)})
    assert eff[1][0] == 0.0 and eff[2][0] == 0.5


# ================================================================================== tables


def test_rank_table_counts_time_messages_and_bytes():
    t = Trace.from_records(ring(dt=1e-3).records(), spans={r: (0.0, 0.005) for r in range(4)})
    rows = {r["rank"]: r for r in t.rank_stats()}
    assert rows[1]["sent"] == 1 and rows[1]["received"] == 1
    assert rows[1]["bytes_sent"] == 8 and rows[1]["bytes_received"] == 8
    assert rows[3]["mpi"] == pytest.approx(0.003 + 9e-6, rel=1e-6)
    assert rows[3]["compute"] == pytest.approx(0.005 - rows[3]["mpi"])
    assert rows[3]["longest_wait_for"] == "recv from rank 2, tag 7"
    text = tracedraw.table_text(t)
    assert text.splitlines()[0].split()[:3] == ["rank", "in", "MPI"] and len(text.splitlines()) == 5
    assert "<table" in tracedraw.table_html(t)


def test_dropped_events_are_noted():
    t = Trace.from_records(ring().records(dropped={2: 17}))
    assert any("rank 2: 17 older events were dropped" in n for n in t.notes)


# =================================================================================== export


def test_chrome_trace_has_one_event_per_call_and_a_flow_per_message():
    rec = ring()
    doc = tracedraw.chrome_trace(rec.records())
    json.dumps(doc)  # serialisable
    evs = doc["traceEvents"]
    calls = [e for e in evs if e["ph"] == "X"]
    assert len(calls) == sum(len(v) for v in rec.events.values())
    starts = {e["id"]: e for e in evs if e["ph"] == "s"}
    ends = {e["id"]: e for e in evs if e["ph"] == "f"}
    assert len(starts) == len(ends) == 4
    assert sorted((starts[i]["pid"], ends[i]["pid"]) for i in starts) == [(0, 1), (1, 2), (2, 3), (3, 0)]
    names = {e["args"]["name"] for e in evs if e["ph"] == "M" and e["name"] == "process_name"}
    assert names == {"rank 0", "rank 1", "rank 2", "rank 3"}
    for i in ends:  # a flow end lies inside its receive (so viewers bind it to that slice)
        recv = next(e for e in calls if e["pid"] == ends[i]["pid"] and e["name"] == "recv")
        assert recv["ts"] <= ends[i]["ts"] <= recv["ts"] + recv["dur"]


def test_chrome_trace_names_pending_calls():
    doc = tracedraw.chrome_trace(Trace.from_records(deadlock().records(), spans={0: (0, 1), 1: (0, 1)}))
    assert [e["name"] for e in doc["traceEvents"] if e["ph"] == "X"] == ["recv (pending)"] * 2


def test_save_json_png_svg(tmp_path):
    t = Trace.from_records(ring().records())
    for name in ("t.json", "t.png", "t.svg"):
        tracedraw.save(t, str(tmp_path / name))
    assert json.loads((tmp_path / "t.json").read_text())["traceEvents"]
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "t.svg").read_bytes()[:2000]
    with pytest.raises(ValueError, match=".json"):
        tracedraw.save(t, str(tmp_path / "t.txt"))


# ================================================================================= pictures


def test_display_bundle_has_picture_table_and_text():
    t = Trace.from_records(deadlock().records(), spans={0: (0, 1), 1: (0, 1)})
    b = tracedraw.display_bundle(t)["data"]
    assert b["image/png"] and "data:image/png;base64," in b["text/html"]
    assert "2 calls pending" in b["text/plain"] and "recv from rank 1, tag 0" in b["text/plain"]


def test_no_records_still_shows_the_notes():
    """A world that died during the cell hands over nothing: the notes say why."""
    t = Trace.from_records([], notes=["rank 1 did not hand over its events in 10 s"])
    text = tracedraw.display_bundle(t, tracedraw.figure(t))["data"]["text/plain"]
    assert "0 ranks" in text and "did not hand over" in text
    assert tracedraw.chrome_trace(t)["traceEvents"] == []


def test_large_trace_draws_the_pair_matrix_instead_of_arrows():
    n = 20
    rec = Records(n)
    t0 = 0.0
    for k in range(3):
        for r in range(n):
            rec.send(r, (r + 1) % n, k, t0, t0 + 1e-5)
            rec.recv((r + 1) % n, r, k, t0, t0 + 2e-5)
            t0 += 3e-5
    t = Trace.from_records(rec.records())
    assert len(t.messages) == 3 * n
    fig = tracedraw.figure(t)
    assert len(fig.axes) == 3  # timeline, matrix, colour bar
    summary = t.pair_summary()
    assert summary[(0, 1)]["count"] == 3 and summary[(0, 1)]["tags"] == {0, 1, 2}


def test_small_trace_draws_one_arrow_per_message():
    t = Trace.from_records(ring().records())
    fig = tracedraw.figure(t)
    (ax,) = fig.axes
    (arrows,) = [c for c in ax.collections if c.get_gid() == "messages"]
    assert arrows.N == 4


# ============================================================================ options, kernel


@pytest.mark.parametrize("cell, expected", [
    ("%%trace\nx = 1\n", ("--trace", "%%trace", "x = 1\n")),
    ("\n%%trace out.json --ranks 0-1\nx\n", ("--trace=out.json --ranks 0-1", "\n%%trace out.json --ranks 0-1", "x\n")),
    ("%%trace --timeout 3\nx\n", ("--trace --timeout 3", "%%trace --timeout 3", "x\n")),
    ("x = 1\n%%trace\n", None),
    ("%%tracer\nx\n", None),
])
def test_kernel_trace_line(cell, expected):
    from mpikernel.front.options import split_trace_cell  # the kernel's %%trace line is a front option

    assert split_trace_cell(cell) == expected


def test_magic_options():
    from IPython.core.error import UsageError

    from mpikernel.front.magics import cell_options
    from mpikernel.front.options import split_line_options

    assert cell_options("--trace").trace is True
    assert cell_options("--trace out.json").trace == "out.json"
    assert cell_options("--trace=o.png --trace-capacity 10").trace_capacity == 10
    assert cell_options("").trace is False
    with pytest.raises(UsageError, match="must end in .json"):
        cell_options("--trace=out.txt")
    assert split_line_options("--trace print(rank)") == ("--trace", "print(rank)")
    assert split_line_options("--trace=a.json --ranks 0 x") == ("--trace=a.json --ranks 0", "x")


# ====================================================================== on a real 4-rank world


pytestmark = pytest.mark.world(shell=True)  # the `world` fixture (tests/conftest.py): %mpi_start -n 4


@pytest.fixture(scope="module")
def world(world):
    """The shared world of tests/conftest.py, the tests skipped where this build cannot record."""
    if not all(world.view().apply_sync(tr._engine_can_record)):
        pytest.skip("this build of mpikernel.MPI has no recorder (MPI._trace_start)")
    return world


def traced(shell, cell):
    """Run a cell as typed; (captured output, its error, the Trace it showed)."""
    from IPython.utils.capture import capture_output

    from mpikernel.front.magics import session

    session(shell).last_trace = None
    with capture_output() as cap:
        res = shell.run_cell(cell)
    return cap, res.error_in_exec, session(shell).last_trace


RING = """%%px_mpi --trace
if rank == 0:
    comm.send("token", dest=1, tag=11)
    token = comm.recv(source=size - 1, tag=11)
else:
    token = comm.recv(source=rank - 1, tag=11)
    comm.send(token, dest=(rank + 1) % size, tag=11)
"""


@pytest.mark.mpi
def test_ring_on_4_ranks_draws_exactly_4_arrows(shell, world):
    cap, err, t = traced(shell, RING)
    assert err is None, cap.stdout + cap.stderr
    assert sorted((m.src, m.dst, m.tag) for m in t.messages) == [(0, 1, 11), (1, 2, 11), (2, 3, 11), (3, 0, 11)]
    assert t.unmatched == [] and t.pending == []
    for m in t.messages:  # same host: one clock; a message arrives after it was sent
        assert m.received >= m.sent - 1e-6
    (ax,) = tracedraw.figure(t).axes
    (arrows,) = [c for c in ax.collections if c.get_gid() == "messages"]
    assert arrows.N == 4
    shown = "".join(o.data.get("text/plain", "") for o in cap.outputs)
    assert "MPI trace: 4 ranks, 4 messages" in shown


@pytest.mark.mpi
def test_bcast_is_one_band_on_all_ranks(shell, world):
    cap, err, t = traced(shell, "%%px_mpi --trace\nx = comm.bcast({'a': 1} if rank == 0 else None, root=0)\n")
    assert err is None, cap.stdout + cap.stderr
    (g,) = t.collectives
    assert (g.name, g.ranks, g.root) == ("bcast", [0, 1, 2, 3], 0)
    assert t.messages == []


@pytest.mark.mpi
def test_deadlocked_cell_shows_its_pending_receives(shell, world, tmp_path):
    out = tmp_path / "deadlock.json"
    cell = f"%%px_mpi --trace={out} --timeout 2\nmsg = comm.recv(source=(rank + 1) % size, tag=5)\n"
    cap, err, t = traced(shell, cell)
    assert err is not None and "timed out" in str(err)
    assert sorted((c.rank, c.kind, c.peer, c.tag) for c in t.pending) == [
        (r, "recv", (r + 1) % 4, 5) for r in range(4)]
    assert all(c.end - c.start > 1.0 for c in t.pending)  # drawn until the ranks were stopped
    names = [e["name"] for e in json.loads(out.read_text())["traceEvents"] if e["ph"] == "X"]
    assert names.count("recv (pending)") == 4
    cap, err, t = traced(shell, RING)  # the world is usable again, and traces again
    assert err is None and len(t.messages) == 4


@pytest.mark.mpi
def test_interrupted_cell_still_shows_its_timeline(shell, world):
    import os
    import signal
    import threading

    from mpikernel.cells.types import RanksInterrupted

    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT))  # the stop button
    timer.start()
    try:
        cap, err, t = traced(shell, "%%px_mpi --trace\nimport time\nif rank == 0:\n    time.sleep(60)\ncomm.barrier()")
    finally:
        timer.cancel()
    assert isinstance(err, RanksInterrupted)
    assert sorted((c.rank, c.name) for c in t.pending) == [(1, "barrier"), (2, "barrier"), (3, "barrier")]
    shown = "".join(o.data.get("text/plain", "") for o in cap.outputs)
    assert "3 calls pending" in shown


@pytest.mark.mpi
def test_nonblocking_messages_end_when_their_wait_completed_them(shell, world):
    cap, err, t = traced(shell, """%%px_mpi --trace
partner = rank ^ 1
mine = np.full(1000, float(rank)); theirs = np.empty_like(mine)
MPI.Request.Waitall([comm.Isend(mine, dest=partner, tag=3), comm.Irecv(theirs, source=partner, tag=3)])
""")
    assert err is None, cap.stdout + cap.stderr
    assert sorted((m.src, m.dst, m.tag, m.nbytes) for m in t.messages) == [
        (0, 1, 3, 8000), (1, 0, 3, 8000), (2, 3, 3, 8000), (3, 2, 3, 8000)]
    for m in t.messages:  # the arrow ends when Waitall completed the Irecv, not when it was posted
        assert m.received == m.recv_call.done and m.received > m.recv_call.end


@pytest.mark.mpi
def test_line_form_and_subset_of_ranks(shell, world):
    cap, err, t = traced(shell, "%px_mpi --trace --ranks 1,2 x = comm.sendrecv(rank, dest=3 - rank, source=3 - rank)")
    assert err is None, cap.stdout + cap.stderr
    assert t.ranks == [1, 2]
    assert sorted((m.src, m.dst) for m in t.messages) == [(1, 2), (2, 1)]
