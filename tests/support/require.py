"""Skip a test whose outside dependency is missing here, or fail it in the CI leg that exists for it.

A leg that installs a dependency (Chromium, a Slurm, a second MPI) sets its MPIKERNEL_REQUIRE_*
flag, so that the tests it is there for cannot pass by skipping: .ci/legs/*.sh set
MPIKERNEL_REQUIRE_BROWSER, MPIKERNEL_REQUIRE_SLURM and MPIKERNEL_REQUIRE_OTHER_MPI.
"""

import os

import pytest


def skip_or_fail(reason: str, flag: str):
    """pytest.skip(reason); pytest.fail instead when the environment variable `flag` is set."""
    if os.environ.get(flag):
        pytest.fail(f"{flag} is set but {reason}", pytrace=False)
    pytest.skip(reason)
