"""Property-based tests of the binding (hypothesis), hundreds of examples inside ONE mpiexec job.

The program (tests/programs/properties.py) runs hypothesis on rank 0 and broadcasts every case
to the other ranks; see its docstring for the properties. Seeded and derandomized, so a failure
here is reproducible: the output names the falsifying case (shrunk) and the case that was running
if the job hung (the run is killed, by process group, after a hard timeout).
"""

import re
from pathlib import Path

import pytest

PROGRAM = Path(__file__).resolve().parents[1] / "programs" / "properties.py"

pytestmark = pytest.mark.mpi


def run_properties(mpirun, tmp_path, n, examples, timeout):
    code = ("import runpy, sys\n"
            f"sys.path.insert(0, {str(PROGRAM.parent)!r})\n"
            f"runpy.run_path({str(PROGRAM)!r}, run_name='__main__')\n")
    env = {"PROPS_EXAMPLES": str(examples), "PROPS_OUT": str(tmp_path), "PYTHONFAULTHANDLER": "1"}
    current = tmp_path / "current.txt"
    try:
        res = mpirun(code, n=n, timeout=timeout, env=env, check=False)
    except AssertionError as exc:  # the hard timeout: say which case hung
        where = current.read_text() if current.exists() else "(before the first case)"
        raise AssertionError(f"the property run hung at {where}\n{exc}") from None
    assert res.returncode == 0, (f"property run on {n} ranks failed (exit {res.returncode})\n"
                                 f"--- stdout\n{res.stdout[-6000:]}\n--- stderr\n{res.stderr[-6000:]}")
    m = re.search(r"PROPS cases=(\d+)(.*)", res.stdout)
    assert m, res.stdout
    counts = dict(kv.split("=") for kv in m.group(2).split())
    return int(m.group(1)), {k: int(v) for k, v in counts.items()}


@pytest.mark.parametrize("n, examples", [(2, 120), (4, 80)])
def test_round_trips_and_bad_arguments(mpirun, tmp_path, n, examples):
    cases, counts = run_properties(mpirun, tmp_path, n, examples, timeout=110)
    assert cases >= examples
    # the run really covered what it claims (not only one kind of case)
    for kind in ("sendrecv", "bcast", "scatter", "gather", "allgather", "Sendrecv", "Bcast", "Scatter",
                 "Gather", "bad"):
        assert counts.get(kind, 0) > 0, counts
    for feature in ("arrays-0size", "arrays-noncontig", "arrays-bigendian"):
        assert counts.get(feature, 0) > 0, counts


def test_predefined_mpi_objects_travel_by_name(mpirun):
    """binding bug 18: MPI.DOUBLE, MPI.SUM could not be pickled (mpi4py's can); issue 18: derived
    datatypes and user Ops pickle as mpi4py 4.1's do."""
    res = mpirun("""
        import pickle
        from mpikernel import MPI
        comm = MPI.COMM_WORLD
        got = comm.bcast({"op": MPI.SUM, "type": MPI.DOUBLE, "pair": MPI.TWOINT} if comm.rank == 0 else None)
        assert got["op"] is MPI.SUM and got["type"] is MPI.DOUBLE and got["pair"] is MPI.TWOINT, got
        assert comm.allreduce(comm.rank, op=got["op"]) == 1
        # as in mpi4py 4.1: a copy of a predefined one comes back equal, not identical; a derived
        # datatype is rebuilt from its decode(); a user Op travels as Op.Create(function), so
        # one made from a lambda cannot travel
        copy = pickle.loads(pickle.dumps(MPI.Datatype(MPI.DOUBLE)))
        assert copy == MPI.DOUBLE and copy is not MPI.DOUBLE, copy
        vec = MPI.DOUBLE.Create_vector(2, 1, 3).Commit()
        assert pickle.loads(pickle.dumps(vec)).decode()[1:] == vec.decode()[1:]
        op = MPI.Op.Create(lambda a, b, t: a)
        try:
            pickle.dumps(op)
        except (pickle.PicklingError, AttributeError, TypeError):
            pass
        else:
            raise AssertionError(f"{op!r} made from a lambda was pickled")
        op.Free()
        print("ok")
    """, n=2, timeout=60)
    assert res.stdout.count("ok") == 2, res.stdout  # (the launcher may interleave the ranks' lines)


@pytest.mark.long
@pytest.mark.timeout(900)
@pytest.mark.parametrize("n", [2, 3, 4])
def test_many_more_examples(mpirun, tmp_path, n):
    cases, _ = run_properties(mpirun, tmp_path, n, 800, timeout=840)
    assert cases >= 800
