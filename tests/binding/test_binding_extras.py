"""Differential tests of the rest of the API a tutorial reaches: MPI from threads, Cancel,
names, nonblocking collectives, Reduce_scatter_block, Op.Create, derived datatypes,
Cartcomm.Sub, typecode specs, Ssend, waitany/Waitsome/Testany (tests/programs/extras.py)."""

import pytest

from programs import driver

pytestmark = pytest.mark.mpi


@pytest.mark.parametrize("n", [1, 2, 4])
def test_extras_match_mpi4py(n):
    driver.differential("extras.py", n)


def test_repeated_traffic_does_not_grow_memory():
    """150 MiB of pickled arrays, 150 MiB of buffers, thousands of small messages and requests:
    resident memory grows by less than 20 MiB per phase (tests/programs/leaks.py)."""
    driver.assert_clean(driver.run("leaks.py", 2, "mpikernel"))
