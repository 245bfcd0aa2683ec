"""Differential tests of collectives: lowercase with every op on ints, floats, big ints, mixed
values and MAXLOC/MINLOC pairs, pickle-5 out-of-band arrays (tests/programs/coll_lower.py);
uppercase on numpy dtypes and bytearray, v-variants, IN_PLACE and message specs
(tests/programs/coll_upper.py); large pickled buffers (tests/programs/pickle5.py)."""

import pytest

from programs import driver

pytestmark = pytest.mark.mpi


@pytest.mark.parametrize("n", [1, 2, 4])
def test_lowercase_collectives_match_mpi4py(n):
    driver.differential("coll_lower.py", n)


@pytest.mark.parametrize("n", [1, 2, 4])
def test_uppercase_collectives_match_mpi4py(n):
    driver.differential("coll_upper.py", n)


def test_large_array_is_sent_out_of_band():
    """A dict holding a 64 MiB array: the sender must not copy the array into a pickle (mpi4py
    does: its peak memory grows by the array's size). The receiver's array is checked for
    exact contents and writability by the program itself."""
    ref = driver.run("coll_lower.py", 2, "mpi4py")
    got = driver.run("coll_lower.py", 2, "mpikernel")
    driver.assert_clean(ref)
    name = "pickle5 sender peak RSS growth MiB"
    assert ref.get(0, name)["value"] > 48, "the reference should copy ~64 MiB (in-band pickle)"
    growth = got.get(0, name)["value"]
    assert growth < 16, f"sending a 64 MiB array grew the sender's peak memory by {growth} MiB"
    assert got.get(1, "pickle5 big dict p2p")["ok"] is True


@pytest.mark.parametrize("n", [2, 4])
def test_pickled_big_buffers_match_mpi4py(n):
    """Objects with large buffers (out of band in mpikernel): receives in another tag order than
    the sends, ANY_SOURCE/ANY_TAG fan-in, probe, reverse-order irecv, Fortran/non-contiguous/
    object/structured arrays, bytes, and every collective (tests/programs/pickle5.py)."""
    driver.differential("pickle5.py", n)


@pytest.mark.parametrize("n", [2, 4])
def test_random_buffer_collectives_match_mpi4py(n):
    """100 seeded random cases of Allreduce/Reduce/Scan/Bcast/Allgather and the v-variants over
    13 dtypes, every valid op, random roots and counts with zeros (tests/programs/fuzz.py;
    BINDTEST_SEED / BINDTEST_CASES change the draw)."""
    driver.differential("fuzz.py", n)
