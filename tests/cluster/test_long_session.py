"""Long sessions (marker `long`, run by .ci/legs/long.sh): 50 interrupt cycles, 2,000 cells,
1 GiB pushed and pulled. The quick versions (and the 100 MB floods) are in test_faults.py.

The figures each test prints are the ones in docs/reliability.md.
"""

import hashlib
import time

import numpy as np
import pytest

from fault_helpers import assert_no_growth, interrupt_cycles, many_cells

pytestmark = [pytest.mark.long, pytest.mark.mpi]


@pytest.mark.timeout(300)
def test_50_interrupt_cycles(world):
    g, per_cycle = interrupt_cycles(world, 50)
    assert_no_growth(g, rss_noise=20e6)


@pytest.mark.timeout(400)
def test_2000_cells(world):
    g, first, last = many_cells(world, 2000, k=100)
    assert_no_growth(g, rss_noise=20e6)
    assert last["cpu"] <= 1.2 * first["cpu"] + 0.002  # (2 ms: timer granularity of CPU times)


def sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).data).hexdigest()


@pytest.mark.timeout(300)
def test_1_GiB_push_and_pull_with_checksums(world):
    a = np.random.default_rng(1).integers(0, 2**63, size=2**27, dtype=np.int64)  # 1 GiB
    digest = sha(a)
    t0 = time.monotonic()
    world.push({"big": a}, ranks=[0])
    t_push = time.monotonic() - t0
    world.view([0]).execute("import hashlib\nhb = hashlib.sha256(big.data).hexdigest()\ndel big", block=True)
    assert world.pull("hb", ranks=[0]) == [digest]
    del a
    world.view([0]).execute("big = np.random.default_rng(1).integers(0, 2**63, size=2**27, dtype=np.int64)",
                            block=True)
    t0 = time.monotonic()
    back = world.pull("big", ranks=[0])[0]
    t_pull = time.monotonic() - t0
    assert back.dtype == np.int64 and back.shape == (2**27,) and sha(back) == digest
    del back
    world.view([0]).execute("del big", block=True)
    print(f"\n1 GiB: push to one rank {t_push:.1f} s, pull {t_pull:.1f} s; sha256 equal both ways")
