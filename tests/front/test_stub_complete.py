"""Completion of `comm.`/`MPI.` from the type stub (no MPI, no ranks)."""

import pytest

from mpikernel.front import stub_complete


@pytest.mark.parametrize("code, wanted", [
    ("comm.allr", ["allreduce"]),
    ("x = comm.Get_ra", ["Get_rank"]),
    ("MPI.COMM_WORLD.Allred", ["Allreduce", "Allreduce_init"]),
    ("MPI.SU", ["SUBVERSION", "SUCCESS", "SUM"]),
    ("if rank == 0:\n    comm.Isen", ["Isend", "Isendrecv", "Isendrecv_replace"]),
])
def test_the_stub_completes_comm_and_mpi(code, wanted):
    reply = stub_complete.complete(code, len(code))
    assert reply["matches"] == wanted
    prefix = code.rsplit(".", 1)[-1]
    assert reply["cursor_start"] == len(code) - len(prefix) and reply["cursor_end"] == len(code)


def test_inherited_members_are_offered():
    names = stub_complete.complete("comm.", 5)["matches"]
    assert {"send", "recv", "bcast", "Split", "Get_size"} <= set(names)  # Comm's, through Intracomm
    assert not any(n.startswith("_") for n in names)


@pytest.mark.parametrize("code", ["mycomm.allr", "self.comm.allr", "comm.nothing_like_this", "x = 1", "comm"])
def test_other_names_are_left_to_rank_0(code):
    assert stub_complete.complete(code, len(code)) is None
