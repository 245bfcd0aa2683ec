"""Differential tests of the binding's datatypes against mpi4py (tests/programs/datatypes.py): values
equal, the same bad input raising the same exception class (and MPI error class)."""

import pytest
from require import mpich_validated

from programs import driver

pytestmark = [pytest.mark.mpi, mpich_validated]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_datatypes_match_mpi4py(n):
    driver.differential("datatypes.py", n, timeout=120)
