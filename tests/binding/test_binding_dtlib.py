"""mpikernel.util.dtlib: numpy dtypes to MPI datatypes and back (mpi4py's own test_util_dtlib
runs in the mpi4py-suite leg; this checks the round trip a user relies on, and a message)."""

import pytest

pytestmark = pytest.mark.mpi

PROGRAM = """
import numpy as np
from mpikernel import MPI
from mpikernel.util.dtlib import from_numpy_dtype, to_numpy_dtype
comm = MPI.COMM_WORLD
out = []


def same_layout(a, b):
    # equal dtypes up to field names (MPI keeps no names: fields come back as f0, f1, ...)
    if not a.names or not b.names:
        return a == b
    parts = lambda d: [(d[i], d.fields[n][1]) for i, n in enumerate(d.names)]
    return a.itemsize == b.itemsize and parts(a) == parts(b)


for spec in ["f8", "i4", ("f4", (3,)), ("i2", (2, 3)), [("x", "f8"), ("n", "i4"), ("v", "f4", 2)],
             np.dtype([("a", "u1"), ("b", "f8")], align=True)]:
    dtype = np.dtype(spec)
    mt = from_numpy_dtype(dtype)
    out.append(same_layout(to_numpy_dtype(mt), dtype) and mt.extent == dtype.itemsize)
    mt.Free()
particle = np.dtype([("x", "f8"), ("n", "i4"), ("v", "f4", 2)])
mt = from_numpy_dtype(particle).Commit()
data = np.zeros(4, dtype=particle)
if comm.rank == 0:
    data["x"], data["n"], data["v"] = np.arange(4) + 0.5, np.arange(4) * 10, 7.0
    comm.Send([data, mt], dest=1)
else:
    comm.Recv([data, mt], source=0)
    out.append(bool(list(data["n"]) == [0, 10, 20, 30] and data["x"][3] == 3.5 and data["v"][2][1] == 7.0))
mt.Free()
vec = MPI.DOUBLE.Create_vector(3, 2, 4)
out.append(to_numpy_dtype(vec).fields["f2"][1] == 64)
vec.Free()
try:
    from_numpy_dtype(np.dtype(">i4" if np.little_endian else "<i4"))
except ValueError:
    out.append(True)
everyone = comm.gather((all(out), out), root=0)
if comm.rank == 0:
    print([ok for ok, _ in everyone], everyone)
"""


def test_dtlib_round_trips_and_carries_a_structured_array(mpirun):
    res = mpirun(PROGRAM, n=2, timeout=60)
    assert res.lines()[0].startswith("[True, True] "), res.lines()
