"""Differential tests of the rest of the API a tutorial reaches: MPI from threads, Cancel,
names, nonblocking collectives, Reduce_scatter_block, Op.Create, derived datatypes,
Cartcomm.Sub, typecode specs, Ssend, waitany/Waitsome/Testany (tests/programs/extras.py)."""

import pytest

from programs import driver

pytestmark = pytest.mark.mpi


@pytest.mark.parametrize("n", [1, 2, 4])
def test_extras_match_mpi4py(n):
    driver.differential("extras.py", n)
