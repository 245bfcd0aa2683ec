"""Differential tests of the binding's buffers against mpi4py (tests/programs/buffers.py): values
equal, the same bad input raising the same exception class (and MPI error class)."""

import pytest

from programs import driver

pytestmark = pytest.mark.mpi


@pytest.mark.parametrize("n", [1, 2, 3])
def test_buffers_match_mpi4py(n):
    driver.differential("buffers.py", n, timeout=120)
