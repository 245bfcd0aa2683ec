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


def built_on_open_mpi() -> bool:
    """From the build's record, not from mpikernel.MPI: importing that initialises MPI in the test
    process, and Open MPI's singleton start-up forks an orted that outlives the tests' checks."""
    from mpikernel import _libmpi

    return _libmpi.build_config().get("vendor") == "Open MPI"


#: issue 18's differential tests (groups, datatypes, intercomms, p2p modes, topologies) were
#: written against mpi4py on MPICH. On Open MPI 4.1 both bindings run, but the library answers
#: differently from MPICH and from the standard in places (the order of Neighbor_alltoall on a
#: periodic self-neighbour, error classes, ranks outside a group or graph left unchecked by
#: mpi4py's calls), and every program there still needs its expectations made per library.
#: Until then they are skipped there, with this reason, never reported as passing.
mpich_validated = pytest.mark.skipif(
    built_on_open_mpi(),
    reason="issue 18's differential programs are validated on MPICH only so far; on Open MPI the "
           "library's answers differ (docs/binding.md, 'Open MPI')")
