"""Differential tests of the process topologies (Cartcomm, Graphcomm, Distgraphcomm,
Compute_dims, Cart_map/Graph_map) and of every neighbour collective, buffer and pickled,
blocking and nonblocking, against mpi4py, with bad dims, ranks and weights raising mpi4py's
exception classes (tests/programs/topologies.py)."""

import pytest
from require import mpich_validated

from programs import driver

pytestmark = [pytest.mark.mpi, mpich_validated]


@pytest.mark.parametrize("n", [1, 2, 4])
def test_topologies_match_mpi4py(n):
    driver.differential("topologies.py", n)
