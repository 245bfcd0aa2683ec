"""Differential tests of intercommunicators: Create_intercomm, remote groups, Merge, Dup/Split/
Create staying intercomms, point-to-point across the groups and every collective with
mpi4py's root convention (MPI.ROOT / PROC_NULL / a remote rank), buffers and pickled objects,
against mpi4py on 2-4 ranks (groups of equal and of unequal sizes), with bad roots and leaders
raising mpi4py's exception classes (tests/programs/intercomm.py)."""

import pytest
from require import mpich_validated

from programs import driver

pytestmark = [pytest.mark.mpi, mpich_validated]


@pytest.mark.parametrize("n", [2, 3, 4])
def test_intercomm_matches_mpi4py(n):
    driver.differential("intercomm.py", n)
