"""Differential tests of point-to-point calls, requests and Status (tests/programs/p2p.py)."""

import pytest

from programs import driver

pytestmark = pytest.mark.mpi


@pytest.mark.parametrize("n", [1, 2, 4])
def test_point_to_point_matches_mpi4py(n):
    driver.differential("p2p.py", n)
