"""mpikernel.util.pkl5: mpi4py.util.pkl5's API and wire format on our binding (mpi4py's own
test_util_pkl5 runs in the mpi4py-suite leg; these check what a user leans on, on 3 ranks)."""

import pytest

pytestmark = pytest.mark.mpi

PROGRAM = """
import numpy as np
from mpikernel import MPI
from mpikernel.util import pkl5
world = pkl5.Intracomm(MPI.COMM_WORLD)
rank, size = world.rank, world.size
out = []

# parts over the count limit travel as one element of a contiguous type: force that path
pkl5._bigmpi.blocksize = 100
obj = {"rank": rank, "a": np.arange(1000, dtype="f8") + rank, "b": b"x" * 300}
got = world.sendrecv(obj, dest=(rank + 1) % size, source=(rank - 1) % size)
left = (rank - 1) % size
out.append(got["rank"] == left and got["a"][-1] == 999 + left and len(got["b"]) == 300)

# matched probe, then a nonblocking receive of every part
req = world.issend([rank] * 5, dest=(rank + 1) % size, tag=7)
msg = world.mprobe(source=left, tag=7)
st = MPI.Status()
out.append(msg.irecv().wait(st) == [left] * 5 and st.Get_elements(MPI.BYTE) > 0)
req.wait()   # complete the synchronous send before MPI_Finalize

# the collectives, on the world and on an intercommunicator between even and odd ranks
out.append(world.bcast(obj if rank == 1 else None, root=1)["rank"] == 1)
out.append(world.gather(rank, root=0) == (list(range(size)) if rank == 0 else None))
out.append(world.scatter([r * 10 for r in range(size)] if rank == 2 else None, root=2) == rank * 10)
out.append(world.alltoall([(rank, r) for r in range(size)]) == [(r, rank) for r in range(size)])
local = MPI.COMM_WORLD.Split(rank % 2, rank)
inter = pkl5.Intercomm(local.Create_intercomm(0, MPI.COMM_WORLD, 1 - rank % 2, tag=3))
others = [r for r in range(size) if r % 2 != rank % 2]
out.append(inter.allgather(rank) == others)
root = (MPI.ROOT if local.rank == 0 else MPI.PROC_NULL) if rank % 2 == 0 else 0
got = inter.bcast({"from": rank} if rank == 0 else None, root=root)
out.append(got == ({"from": 0} if rank % 2 else None))
inter.Free()
local.Free()
everyone = MPI.COMM_WORLD.gather(out, root=0)
if rank == 0:
    print(everyone)   # one line: the ranks' prints could interleave
"""


def test_pkl5_point_to_point_big_parts_and_collectives_on_3_ranks(mpirun):
    res = mpirun(PROGRAM, n=3, timeout=90)
    assert res.lines() == [str([[True] * 8] * 3)], res.lines()
