"""Differential tests of groups, communicator constructors (Create, Create_group, Split_type,
Idup, Dup_with_info), names, attributes and keyvals, Info and error handlers, with the bad
input (freed groups, ranks outside a group, wrong keyvals, missing Info keys, ...) raising
mpi4py's exception classes and MPI error classes (tests/programs/groups.py)."""

import pytest
from require import mpich_validated

from programs import driver

pytestmark = [pytest.mark.mpi, mpich_validated]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_groups_match_mpi4py(n):
    driver.differential("groups.py", n)


def test_bad_group_input_has_clear_messages():
    got = driver.run("groups.py", 2, "mpikernel")
    for name, needle in [("freed group: Get_size", "GROUP_NULL"),
                         ("Incl rank outside the group", "not in this group"),
                         ("Set_attr wrong keyval", "keyval"),
                         ("Free_keyval wrong keyval", "keyval")]:
        rec = got.get(0, name)
        assert rec is not None and rec["raised"] and needle in rec["msg"], (name, rec)
