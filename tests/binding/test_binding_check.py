"""The collective-checking mode (issue 12): with MPI._set_checking(True) or
MPIKERNEL_CHECK_COLLECTIVES=1, ranks compare a signature before each collective and all raise
MPI.CollectiveMismatchError on a mismatch instead of hanging or corrupting data; a blocking
Recv into a too-small buffer names both sizes and leaves the message to be received."""


import pytest

import mpirun as _mpirun

pytestmark = pytest.mark.mpi

PRELUDE = """
import json, os, sys
import numpy as np
from mpikernel import MPI
W = MPI.COMM_WORLD
rank, size = W.rank, W.size

""" + _mpirun.EMIT + """
def attempt(name, fn):
    try:
        emit(name, ["ok", repr(fn())])
    except MPI.CollectiveMismatchError as exc:
        emit(name, ["mismatch", str(exc)])
    except MPI.Exception as exc:
        emit(name, ["MPI.Exception", str(exc), exc.Get_error_class() == MPI.ERR_TRUNCATE])
"""

MISMATCHES = PRELUDE + """
emit("checking at import", MPI._checking())
W.barrier()                                   # call 1
W.allreduce(rank)                             # call 2
attempt("bcast vs reduce", lambda: W.reduce(rank, root=0) if rank == 1 else W.bcast(rank, root=0))
attempt("world after", lambda: W.allreduce(rank))
attempt("root", lambda: W.Bcast(np.zeros(4), root=1 if rank == size - 1 else 0))
attempt("size", lambda: W.Bcast(np.zeros(8 if rank == 2 else 4), root=0))
attempt("op", lambda: W.Allreduce(np.ones(2), np.zeros(2), op=MPI.MAX if rank == 0 else MPI.SUM))
attempt("same call, fine", lambda: W.Allreduce(np.ones(2), np.zeros(2), op=MPI.SUM).__class__.__name__)
# a user message in flight on the same communicator cannot mix with the check
req = W.isend("user data", dest=(rank + 1) % size, tag=0)
attempt("with a message in flight", lambda: W.bcast("b", root=0))
attempt("user message intact", lambda: W.recv(source=(rank - 1) % size, tag=0))
req.wait()
sub = W.Split(color=rank % 2, key=rank)
attempt("sub-communicator", lambda: sub.barrier() if sub.rank == 0 else sub.allreduce(1))
attempt("sub after", lambda: sub.allreduce(1))
MPI._set_checking(False)
emit("checking after off", MPI._checking())
attempt("off: works", lambda: W.allreduce(1))
"""


run = _mpirun.run_emitted


@pytest.fixture(scope="module")
def mismatch_run(tmp_path_factory):
    return run(MISMATCHES, 4, tmp_path_factory.mktemp("check"), env={"MPIKERNEL_CHECK_COLLECTIVES": "1"})


def same_on_all(out, name):
    values = [out[name][r] for r in range(4)]
    assert all(v == values[0] for v in values), values
    return values[0]


def test_the_environment_variable_turns_checking_on(mismatch_run):
    assert same_on_all(mismatch_run, "checking at import") is True
    assert same_on_all(mismatch_run, "checking after off") is False


def test_bcast_against_reduce_raises_the_same_clear_error_on_every_rank(mismatch_run):
    kind, msg = same_on_all(mismatch_run, "bcast vs reduce")
    assert kind == "mismatch"
    assert msg.startswith("collective mismatch on COMM_WORLD call 3: ranks 0,2,3 called "
                          "bcast(root=0), rank 1 called reduce(root=0, op=SUM)"), msg


def test_the_world_works_after_a_mismatch(mismatch_run):
    assert same_on_all(mismatch_run, "world after") == ["ok", "6"]
    assert same_on_all(mismatch_run, "same call, fine") == ["ok", "'NoneType'"]
    assert same_on_all(mismatch_run, "off: works") == ["ok", "4"]


def test_root_size_and_op_mismatches_name_the_difference(mismatch_run):
    kind, msg = same_on_all(mismatch_run, "root")
    assert kind == "mismatch" and "ranks 0,1,2 called Bcast(root=0, 4 x 8-byte items)" in msg
    assert "rank 3 called Bcast(root=1, 4 x 8-byte items)" in msg
    kind, msg = same_on_all(mismatch_run, "size")
    assert kind == "mismatch" and "rank 2 called Bcast(root=0, 8 x 8-byte items)" in msg
    kind, msg = same_on_all(mismatch_run, "op")
    assert kind == "mismatch" and "rank 0 called Allreduce(op=MAX, 2 x 8-byte items)" in msg
    assert "ranks 1,2,3 called Allreduce(op=SUM, 2 x 8-byte items)" in msg


def test_user_messages_in_flight_do_not_mix_with_the_check(mismatch_run):
    assert same_on_all(mismatch_run, "with a message in flight") == ["ok", "'b'"]
    assert same_on_all(mismatch_run, "user message intact") == ["ok", "'user data'"]


def test_sub_communicators_are_checked_with_world_ranks_in_the_message(mismatch_run):
    for rank in range(4):
        kind, msg = mismatch_run["sub-communicator"][rank]
        assert kind == "mismatch"
        first, second = (0, 2) if rank % 2 == 0 else (1, 3)
        assert f"on comm#1 call 1: rank {first} called barrier(), rank {second} called " \
               "allreduce(op=SUM)" in msg, msg
        assert mismatch_run["sub after"][rank] == ["ok", "2"]


TRUNCATION = PRELUDE + """
MPI._set_checking(True)
if rank == 0:
    W.Send(np.arange(8.0), dest=1, tag=4)
    W.barrier()
else:
    attempt("too small", lambda: W.Recv(np.zeros(4), source=0, tag=4))
    buf = np.zeros(8)
    W.Recv(buf, source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG)
    emit("received afterwards", buf.tolist())
    W.barrier()
"""


def test_a_too_small_recv_buffer_names_both_sizes_and_keeps_the_message(tmp_path):
    out = run(TRUNCATION, 2, tmp_path)
    kind, msg, truncate_class = out["too small"][1]
    assert kind == "MPI.Exception" and truncate_class
    assert "rank 1's Recv buffer holds 32 bytes; rank 0 sent 64" in msg, msg
    assert out["received afterwards"][1] == [float(i) for i in range(8)]


ONLY_RANK_0 = PRELUDE + """
import os, signal, threading, time
# A collective only rank 0 calls (the others finished): rank 0 waits, interruptibly, and
# _waiting() and the trace say which collective, which call number on which communicator.
def interrupt_when_blocked(seen):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        w = MPI._waiting()
        if w is not None:
            seen["waiting"] = w
            seen["snapshot"] = [(e["call"], e["seq"], e["pending"]) for e in MPI._trace_snapshot()["events"]]
            break
        time.sleep(0.02)
    time.sleep(0.1)
    os.kill(os.getpid(), signal.SIGINT)

W.allreduce(1)                                   # call 1
for checking in (False, True):
    MPI._set_checking(checking)
    if rank == 0:
        MPI._trace_start()
        seen = {}
        threading.Thread(target=interrupt_when_blocked, args=(seen,), daemon=True).start()
        try:
            W.barrier()
            emit(f"outcome {checking}", "returned")
        except KeyboardInterrupt:
            emit(f"outcome {checking}", "KeyboardInterrupt")
        MPI._trace_stop()
        w = seen.get("waiting") or {}
        emit(f"waiting {checking}", {k: w.get(k) for k in ("call", "kind", "comm", "seq", "root")})
        emit(f"snapshot {checking}", seen.get("snapshot"))
    MPI._reset_world()                           # every rank: a fresh world, counts from 1
    emit(f"after reset {checking}", W.allreduce(rank))
"""


def test_a_collective_only_one_rank_calls_is_named_with_its_call_number(tmp_path):
    out = run(ONLY_RANK_0, 2, tmp_path)
    for checking in (False, True):
        assert out[f"outcome {checking}"][0] == "KeyboardInterrupt"
        # call 2 on COMM_WORLD: an allreduce was call 1 (a reset restarts the count)
        assert out[f"waiting {checking}"][0] == {"call": "barrier", "kind": "coll",
                                                 "comm": "COMM_WORLD", "seq": 2, "root": None}
        assert out[f"snapshot {checking}"][0] == [["barrier", 2, True]]
        assert out[f"after reset {checking}"] == {0: 1, 1: 1}
