"""A world leaves no MPI shared-memory file behind in /dev/shm (cluster/shm.py): not when it is
stopped (its ranks are killed, so they never finalize), and not when its owner is SIGKILLed (the
ranks' watchdogs remove them)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mpikernel.cluster import shm
from mpikernel.cluster.world import World

pytestmark = [pytest.mark.mpi, pytest.mark.timeout(120)]


def test_mapped_segments_finds_only_live_mpi_files(tmp_path):
    assert shm.is_mpi_segment("/dev/shm/mpich_shm_1a2b_0")
    assert shm.is_mpi_segment("/dev/shm/vader_segment.host.1.0")
    assert not shm.is_mpi_segment("/dev/shm/mpich_shm_1a2b_0 (deleted)")
    assert not shm.is_mpi_segment("/dev/shm/psm_user_data")   # a user's SharedMemory: never ours
    assert not shm.is_mpi_segment(str(tmp_path / "mpich_shm_x"))
    assert shm.remove([str(tmp_path / "x")]) == 0
    assert shm.mapped_segments([2**22 + 12345]) == set()  # a pid that does not exist


def test_a_stopped_world_leaves_no_segment():
    w = World(n=2)
    w.start()
    try:
        segments = shm.mapped_segments(e.pid for e in w.engines.values())
        assert segments, "the ranks map no MPI segment: this test would prove nothing"
        assert all(os.path.exists(p) for p in segments)
    finally:
        w.stop()
    assert [p for p in segments if os.path.exists(p)] == []


OWNER = textwrap.dedent("""
    import sys, time
    from mpikernel.cluster import shm
    from mpikernel.cluster.world import World
    w = World(n=2)
    w.start()
    pids = [e.pid for e in w.engines.values()]
    print(" ".join(map(str, pids)), *sorted(shm.mapped_segments(pids)), flush=True)
    time.sleep(600)
""")


def test_an_owner_killed_leaves_no_segment():
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        words = owner.stdout.readline().split()
        assert len(words) > 2, f"the owner said {words!r}"
        pids, segments = [int(w) for w in words[:2]], words[2:]
        os.killpg(owner.pid, signal.SIGKILL)
        owner.wait(10)
        until = time.monotonic() + 15
        while time.monotonic() < until and any(os.path.exists(p) for p in segments):
            time.sleep(0.2)
        assert [p for p in segments if os.path.exists(p)] == []
    finally:
        try:
            os.killpg(owner.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid in locals().get("pids", []):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
