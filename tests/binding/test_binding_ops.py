"""Differential tests of the binding's ops against mpi4py (tests/programs/ops.py): values
equal, the same bad input raising the same exception class (and MPI error class)."""

import pytest

from programs import driver

pytestmark = pytest.mark.mpi


@pytest.mark.parametrize("n", [1, 2, 3])
def test_ops_match_mpi4py(n):
    driver.differential("ops.py", n, timeout=120)
