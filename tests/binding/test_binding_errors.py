"""Bad input raises a Python exception with a clear message, never a crash or a hang
(tests/programs/errors.py, truncation.py), compared with what mpi4py raises; and calls after Finalize
(tests/programs/finalize.py, mpikernel only: mpi4py lets MPICH abort the process there)."""

import re

import pytest

from programs import driver

pytestmark = pytest.mark.mpi

# What a helpful message must mention, by check name (regex on the name -> regex on the message).
HELPFUL = [
    (r"(dest|source)=(-?\d|size)", r"rank"),
    (r"root=", r"root"),
    (r"tag=", r"tag"),
    (r"^(Send|Recv) (str|int|dict)$", r"buffer"),
    (r"read-only", r"writ|read-only|readonly"),
    (r"as (DOUBLE|INT)$", r"extent|multiple|datatype|element|size"),
    (r"truncation", r"truncat"),
    (r"^(send|bcast|allgather|sendrecv) (lambda|socket|lock|generator)", r"pickl"),
    (r"^(freed|COMM_NULL)", r"communicator|COMM_NULL|freed"),
    (r"count 100", r"buffer|count"),
    (r"smaller than sendbuf", r"buffer|count"),
    (r"'double'", r"double|type"),
]
# Where another exception class than mpi4py's is as good (both say what is wrong).
ALSO_FINE = {
    "Send [buf, 'double']": {"KeyError", "TypeError", "ValueError"},
    "Send 5-item message spec": {"ValueError", "TypeError"},
    # Open MPI's TAG_UB is INT_MAX, so TAG_UB+1 does not fit an int: mpi4py says OverflowError
    # "value too large to convert to int"; the tag check's MPI.Exception (ERR_TAG) is better
    "Send tag=TAG_UB+1": {"MPI.Exception", "OverflowError", "ValueError"},
}
# Checks mpi4py does not make but a binding that promises "never crash" must.
MPIKERNEL_ONLY = {
    "Recv count 100 into 2 doubles": {"ValueError", "BufferError", "MPI.Exception"},
    "Send count 100 from 2 doubles": {"ValueError", "BufferError", "MPI.Exception"},
}


def error_failures(ref, got):
    out = []
    for rank in range(ref.n):
        for name, r in ref.records.get(rank, {}).items():
            if r["kind"] != "raises":
                continue
            g = got.get(rank, name)
            where = f"rank {rank}: {name}"
            if g is None:
                out.append(f"{where}: not run")
                continue
            if name in MPIKERNEL_ONLY:
                if not g["raised"]:
                    out.append(f"{where}: did not raise (MPI could write/read outside the buffer)")
                elif g["exc"] not in MPIKERNEL_ONLY[name]:
                    out.append(f"{where}: raised {g['exc']}, expected one of "
                               f"{sorted(MPIKERNEL_ONLY[name])}")
                continue
            if r["raised"] != g["raised"]:
                out.append(f"{where}: {driver._show(g)}, but mpi4py {driver._show(r)}")
                continue
            if not r["raised"]:
                continue
            fine = ALSO_FINE.get(name, {r["exc"]})
            if g["exc"] not in fine:
                out.append(f"{where}: raised {g['exc']} ({g['msg'][:200]!r}), mpi4py raised "
                           f"{r['exc']} ({r['msg'][:100]!r})")
            if r["exc"] == g["exc"] == "MPI.Exception" and r["error_class"] != g["error_class"]:
                out.append(f"{where}: MPI error class {g['error_class']}, mpi4py "
                           f"{r['error_class']}")
            for name_re, msg_re in HELPFUL:
                if re.search(name_re, name) and not re.search(msg_re, g["msg"], re.I):
                    out.append(f"{where}: message does not mention /{msg_re}/: {g['msg'][:300]!r}")
            if len(g["msg"].strip()) < 10:
                out.append(f"{where}: message too short to help: {g['msg']!r}")
    return out


@pytest.mark.parametrize("program, n", [("errors.py", 1), ("errors.py", 2), ("truncation.py", 2)])
def test_bad_input_raises_clear_errors(program, n):
    ref = driver.run(program, n, "mpi4py", timeout=40)
    driver.assert_clean(ref)
    got = driver.run(program, n, "mpikernel", timeout=40)
    # value checks (MPI.Exception API, the world still works) as in every differential test;
    # the raising checks by the rules above
    found = driver.failures(ref, got, kinds=("value",)) + error_failures(ref, got)
    assert not found, driver.report(got.header() + ": bad-input failures", driver.by_check(found))


def test_helpful_rank_message_names_the_value():
    got = driver.run("errors.py", 2, "mpikernel", timeout=40)
    msg = got.get(0, "Send dest=-5")["msg"]
    assert "-5" in msg, msg
    msg = got.get(0, "Send tag=TAG_UB+1")["msg"]
    assert "tag" in msg.lower(), msg


def test_calls_after_finalize_raise():
    got = driver.run("finalize.py", 2, "mpikernel", timeout=40)
    found = driver.problems(got)
    for rank in range(2):
        for name, rec in got.records.get(rank, {}).items():
            if rec["kind"] != "raises":
                continue
            if not rec["raised"]:
                found.append(f"rank {rank}: {name}: did not raise after Finalize")
            elif not re.search(r"finaliz", rec["msg"], re.I):
                found.append(f"rank {rank}: {name}: message does not say MPI was finalized: "
                             f"{rec['msg'][:200]!r}")
    assert not found, driver.report(got.header(), driver.by_check(found))
