"""Faults: a rank dies mid-cell, the owner is SIGKILLed, interrupts in a row, floods of output.

Every world here is started by the test and stopped by it; processes are checked by pid (never
by name). The long versions (50 interrupt cycles, 2,000 cells, 1 GB) are in test_long_session.py.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from mpikernel.cluster import deaths
from mpikernel.front import magics, options
from mpikernel.cells.merge import strip_ansi
from world_helpers import kill_all, use_shipped_kernel_specs, wait_all_gone

# ------------------------------------------------------------------ the launcher's report (pure)

HYDRA_EXIT1 = """
===================================================================================
=   BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES
=   PID 1649 RUNNING AT vm
=   EXIT CODE: 9
===================================================================================
[mpiexec@vm] Exit codes: [vm] 0,9,256,0
YOUR APPLICATION TERMINATED WITH THE EXIT STRING: Killed (signal 9)
"""


GFORKER_EXIT3 = """[0]0:Return code = 0, signaled with Killed
[0]1:Return code = 3
[0]2:Return code = 0, signaled with Killed
"""


def test_gforker_statuses_name_the_rank_that_exited_first():
    assert deaths.gforker_exit_statuses(GFORKER_EXIT3) == {0: signal.SIGKILL, 1: 3 << 8, 2: signal.SIGKILL}
    for first in ([1], None):  # the exit order, else the one status gforker did not cause
        d = deaths.read_deaths(GFORKER_EXIT3, 3, 3, "MPICH", first=first)
        assert d.sentence().startswith("rank 1 died (exit code 3); MPICH's mpiexec (gforker) then ended ranks 0,2")
    killed = GFORKER_EXIT3.replace("Return code = 3", "Return code = 0, signaled with Killed")
    d = deaths.read_deaths(killed, 3, 0, "MPICH", first=[1])
    assert d.causes == {1: "signal 9, SIGKILL: killed from outside, by the out-of-memory killer or kill -9"}
    segv = GFORKER_EXIT3.replace("Return code = 3", "Return code = 0, signaled with Segmentation fault")
    assert deaths.read_deaths(segv, 3, 0, "MPICH", first=[1]).causes[1].startswith("signal 11, SIGSEGV")


def _shielded(code, **kw):
    return subprocess.Popen([sys.executable, "-m", "mpikernel.cluster.forked", sys.executable, "-c", code],
                            start_new_session=True, **kw)


@pytest.mark.timeout(60)
def test_the_gforker_shield_ends_its_engine_at_once_on_gforkers_signals_and_exits_as_it_did():
    assert _shielded("import os; os._exit(3)").wait(30) == 3
    assert _shielded("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)").wait(30) == -signal.SIGSEGV
    # the engine keeps Python's own SIGINT (KeyboardInterrupt): the owner's interrupts reach it
    assert _shielded("import signal, sys; sys.exit(signal.getsignal(signal.SIGINT) is not "
                     "signal.default_int_handler)").wait(30) == 0
    for sig in (signal.SIGINT, signal.SIGQUIT):  # gforker ending the others: SIGKILL of the engine
        shield = _shielded("import time; print(flush=True); time.sleep(60)", stdout=subprocess.PIPE)
        try:
            shield.stdout.readline()  # the engine runs
            t0 = time.monotonic()
            os.kill(shield.pid, sig)
            assert shield.wait(10) == -signal.SIGKILL and time.monotonic() - t0 < 5
        finally:
            try:
                os.killpg(shield.pid, signal.SIGKILL)  # the shield's session: the engine too
            except ProcessLookupError:
                pass
            shield.wait(10)
            shield.stdout.close()


def test_hydra_statuses_name_the_failed_rank_even_when_another_exited_first():
    d = deaths.read_deaths(HYDRA_EXIT1, 4, returncode=9, vendor="MPICH", first=[1])
    assert d.causes == {2: "exit code 1"}
    notes = d.notes()
    assert notes[2] == "rank 2 died (exit code 1)"
    assert notes[0] == notes[1] == notes[3]
    assert "hydra" in notes[0] and "rank 2 died" in notes[0]
    assert d.sentence().startswith("rank 2 died (exit code 1); MPICH's mpiexec (hydra) then ended ranks 0-1,3")
    assert "%mpi_restart" in d.sentence()


def test_a_segfault_and_an_outside_kill_are_told_apart():
    seg = deaths.read_deaths("[mpiexec@vm] Exit codes: [vm] 0,0,11,0\n", 4, 11, "MPICH", first=[2])
    assert seg.causes == {2: "signal 11, SIGSEGV: a segmentation fault"}
    # SIGKILL of rank 2 from outside: hydra kills the rest with 9 too, so the exit order decides
    kill = deaths.read_deaths("[mpiexec@vm] Exit codes: [vm] 9,0,9,9\n", 4, 9, "MPICH", first=[2])
    assert kill.causes == {2: "signal 9, SIGKILL: killed from outside, by the out-of-memory killer or kill -9"}
    nobody = deaths.read_deaths("[mpiexec@vm] Exit codes: [vm] 9,9,9,9\n", 4, 9, "MPICH")
    assert nobody.causes == {} and "out-of-memory killer" in nobody.sentence()


def test_mpi_abort_is_named_from_its_message_or_from_the_exit_order():
    log = "Abort(3) on node 2 (rank 2 in comm 0): application called MPI_Abort(MPI_COMM_WORLD, 3) - process 2\n"
    assert deaths.read_deaths(log, 4, 3, "MPICH").causes == {2: "exit code 3: it called MPI_Abort"}
    # the message went to the cell's stderr instead of the log: hydra printed no exit codes
    assert deaths.read_deaths("", 4, 3, "MPICH", first=[1]).causes == {1: "exit code 3: MPI_Abort was called"}


def test_open_mpi_reports_are_read_too():
    log = ("prterun noticed that process rank 3 with PID 77 on node vm exited on\nsignal 11 (Segmentation fault).")
    assert deaths.read_deaths(log, 4, 1, "Open MPI").causes == {3: "signal 11, SIGSEGV: a segmentation fault"}
    log = "The first process to do so was:\n\n   Process name: [prterun-vm-1@1,1]\n   Exit code:    7\n"
    assert deaths.read_deaths(log, 4, 7, "Open MPI").causes == {1: "exit code 7"}


def test_open_mpi_4_names_the_signal_even_when_the_first_exit_was_seen():
    """Debian's Open MPI 4.1 (mpirun exits 139 after a segfault): its own line beats the exit code."""
    log = ("mpiexec.openmpi noticed that process rank 2 with PID 0 on node vm exited on signal 11 "
           "(Segmentation fault).\n")
    d = deaths.read_deaths(log, 4, 139, "Open MPI", first=[2])
    assert d.causes == {2: "signal 11, SIGSEGV: a segmentation fault"}
    log = ("mpiexec.openmpi detected that one or more processes exited with non-zero status, thus causing\n"
           "the job to be terminated. The first process to do so was:\n\n"
           "  Process name: [[22632,1],2]\n  Exit code:    1\n")
    assert deaths.read_deaths(log, 4, 1, "Open MPI", first=[2, 3]).causes == {2: "exit code 1"}


def test_nothing_known_still_says_what_to_do():
    d = deaths.read_deaths("", 2, 1, "unknown")
    assert d.causes == {} and "the MPI job ended (mpiexec exited with code 1)" in d.sentence()
    assert set(d.notes()) == {0, 1}


def test_wait_statuses_in_words():
    assert deaths.describe_status(0) == "exit code 0"
    assert deaths.describe_status(3 << 8) == "exit code 3"
    assert deaths.describe_status(6).startswith("signal 6, SIGABRT")


# ------------------------------------------------------------------------- a rank dies mid-cell


def run(shell, cell):
    with capture_output() as cap:
        res = shell.run_cell(cell)
    return cap, res.error_in_exec


DEATHS = {
    "os._exit": ("import os\nif rank == 2:\n    os._exit(1)\ncomm.barrier()", "rank 2 died (exit code 1)"),
    "segfault": ("import ctypes\nif rank == 2:\n    ctypes.string_at(0)\ncomm.barrier()",
                 "rank 2 died (signal 11, SIGSEGV: a segmentation fault)"),
    "Abort": ("if rank == 2:\n    MPI.COMM_WORLD.Abort(3)\ncomm.barrier()", "rank 2 died (exit code 3"),
}


@pytest.mark.mpi
@pytest.mark.timeout(240)
@pytest.mark.parametrize("how", list(DEATHS))
def test_a_rank_dies_mid_cell_then_status_and_restart(shell, how):
    code, expected = DEATHS[how]
    magics.stop_world()
    with capture_output():
        shell.run_line_magic("mpi_start", "-n 4")
    w = magics.world()
    old = w.processes()
    t0 = time.monotonic()
    _, err = run(shell, "%%px_mpi\n" + code)
    took = time.monotonic() - t0
    print(f"\n{how}: the cell reported the death after {took:.2f} s")
    assert took < 10
    text = strip_ansi("\n".join(err._render_traceback_()))
    assert expected in text, text
    assert f"RankDied: {expected}" in text
    assert "ended by MPICH's mpiexec (hydra) when rank 2 died" in text or "mpiexec" in text
    assert "%mpi_restart" in text
    # the next cell does not hang either: it says the same
    _, err2 = run(shell, "%px_mpi print(rank)")
    assert isinstance(err2, UsageError) and expected in str(err2)
    cap, err3 = run(shell, "%mpi_status")
    assert err3 is None
    assert "all gone" in cap.stdout and expected in cap.stdout
    rows = [line.split() for line in cap.stdout.splitlines() if line[:4].strip().isdigit()]
    assert [r[1] for r in rows] == ["dead"] * 4
    cap, err4 = run(shell, "%mpi_restart")
    assert err4 is None and "MPI world restarted: 4 ranks" in cap.stdout
    cap, err5 = run(shell, "%px_mpi print(comm.allreduce(rank))")
    assert err5 is None and cap.stdout == "[ranks 0-3]\n6\n"
    assert wait_all_gone(old, 5) == []
    magics.stop_world()


@pytest.mark.mpi
@pytest.mark.timeout(120)
def test_a_rank_killed_between_cells_is_reported_on_the_next_cell(shell):
    magics.stop_world()
    with capture_output():
        shell.run_line_magic("mpi_start", "-n 2")
    w = magics.world()
    os.kill(w.engines[1].pid, signal.SIGKILL)
    t0 = time.monotonic()
    _, err = run(shell, "%px_mpi print(rank)")
    assert time.monotonic() - t0 < 10
    # refused before it starts, or ended as soon as it started (the kill may still be landing)
    assert isinstance(err, (UsageError, RanksError))
    assert "rank 1 died (signal 9, SIGKILL" in str(err)
    magics.stop_world()


# ------------------------------------------------------------------ the owner is SIGKILLed

OWNER = textwrap.dedent(
    """
    import time
    from IPython.core.interactiveshell import InteractiveShell
    from mpikernel.front import magics
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "mpikernel")
    ip.run_line_magic("mpi_start", "-n 4")
    w = magics.world()
    ip.run_cell("%px_mpi x = rank")
    print("WORLD", w._dir, *w.processes(), flush=True)
    time.sleep(120)
    """
)


@pytest.mark.mpi
@pytest.mark.timeout(180)
def test_sigkill_of_the_ipython_owner_leaves_no_process_and_no_directory(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True,
                             start_new_session=True, cwd=tmp_path)
    pids, world_dir = [], None
    try:
        for line in owner.stdout:
            if line.startswith("WORLD "):
                world_dir, *rest = line.split()[1:]
                pids = [int(p) for p in rest]
                break
        assert world_dir and Path(world_dir).is_dir() and len(pids) >= 6, pids  # controller, mpiexec, (hydra's proxy,) 4 ranks
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(5)
        t0 = time.monotonic()
        left = wait_all_gone(pids, 5)
        while Path(world_dir).exists() and time.monotonic() - t0 < 5:
            time.sleep(0.05)
        took = time.monotonic() - t0
        print(f"\nowner SIGKILLed: processes and {world_dir} gone after {took:.2f} s")
        assert left == [], f"still running 5 s after SIGKILL: {left}"
        assert not Path(world_dir).exists(), "the world's directory was left in the temp dir"
    finally:
        kill_all([owner.pid] + pids)
        owner.wait(5)


def test_stale_world_directories_are_swept_and_live_ones_kept(tmp_path, monkeypatch):
    import tempfile

    from mpikernel.cluster import procs as cluster

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale, fresh, used = (tmp_path / f"{cluster.WORLD_DIR_PREFIX}{n}" for n in ("stale", "fresh", "used"))
    for d in (stale, fresh, used):
        (d / "profile").mkdir(parents=True)
    old = time.time() - 3600
    for d in (stale, used):
        os.utime(d, (old, old))
    user = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", f"--profile-dir={used}/profile"],
                            start_new_session=True)
    try:
        removed = cluster.sweep_stale_world_dirs()
    finally:
        os.killpg(user.pid, signal.SIGKILL)
        user.wait(5)
    assert removed == [stale]
    assert not stale.exists() and fresh.exists() and used.exists()


# --------------------------------------------------- one world: floods, interrupts, many cells

from fault_helpers import assert_no_growth, interrupt_cycles, many_cells, run as run_quiet, snapshot  # noqa: E402

from mpikernel.cells.runner import RanksError  # noqa: E402


def flood_check(world, code, per_rank):
    """Run a cell that prints `per_rank` bytes on every rank: output cut with a note, owner memory bounded."""
    from mpikernel.cluster import limits

    before = snapshot(world)
    t0 = time.monotonic()
    result, out = run_quiet(world, code)
    took = time.monotonic() - t0
    after = snapshot(world)
    owner_growth = after["owner_rss"] - before["owner_rss"]
    print(f"\n{per_rank / 1e6:g} MB per rank: cell {took:.1f} s, {len(out) / 1e6:.2f} MB shown, "
          f"owner RSS {owner_growth / 1e6:+.1f} MB, ranks' RSS up to {max(after['rank_rss']) / 1e6:.0f} MB")
    assert "[ranks 0-3]" in out  # identical truncated outputs still collapse
    assert out.count("[output truncated: this rank wrote more than 1 MB to stdout in this cell") == 1
    assert "--output-limit" in out
    assert len(out) < 1.1 * limits.DEFAULT
    assert owner_growth < 100e6, "the owner's memory grew with the output"
    _, nxt = run_quiet(world, "print(comm.allreduce(rank))")
    assert nxt == "[ranks 0-3]\n6\n"


@pytest.mark.mpi
@pytest.mark.timeout(180)
def test_100_MB_in_one_print_on_every_rank_is_cut_with_a_note(world):
    """(Its time, under 30 s, is a benchmark: python -m benchmarks.budgets flood.)"""
    flood_check(world, "print('x' * 100_000_000)", 100e6)


@pytest.mark.mpi
@pytest.mark.timeout(180)
def test_10_MB_of_lines_on_every_rank_is_cut_with_a_note(world):
    flood_check(world, "for i in range(100_000):\n    print('%099d' % i)", 10e6)


@pytest.mark.mpi
@pytest.mark.timeout(60)
def test_output_under_the_limit_is_untouched(world):
    _, out = run_quiet(world, "print('y' * 900_000)")
    assert out == "[ranks 0-3]\n" + "y" * 900_000 + "\n"


@pytest.mark.mpi
@pytest.mark.timeout(240)
def test_10_interrupt_cycles_then_correct_cells_and_no_growth(world):
    g, _ = interrupt_cycles(world, 10)
    assert_no_growth(g, rss_noise=20e6)


@pytest.mark.mpi
@pytest.mark.timeout(240)
def test_200_cells_without_growth_or_slowdown(world):
    g, first, last = many_cells(world, 200, k=40)
    assert_no_growth(g, rss_noise=20e6)
    assert last["cpu"] <= 1.2 * first["cpu"] + 0.002


# ------------------------------------------------------------------ the same through the MPI kernel


@pytest.mark.mpi
@pytest.mark.kernel
@pytest.mark.timeout(300)
def test_a_rank_dies_in_the_mpi_kernel_then_restart_brings_a_working_world():
    from kernel_client import Kernel

    restore_path = use_shipped_kernel_specs()
    k = Kernel()
    try:
        assert "6" in k.stdout("print(comm.allreduce(rank))", timeout=120)
        t0 = time.monotonic()
        content, _ = k.run("import os\nif rank == 2:\n    os._exit(1)\ncomm.barrier()", timeout=60)
        took = time.monotonic() - t0
        print(f"\nMPI kernel: the death of rank 2 reported after {took:.2f} s")
        assert took < 10
        tb = strip_ansi("\n".join(content["traceback"]))
        assert content["status"] == "error" and "rank 2 died (exit code 1)" in tb, tb
        content, _ = k.run("print(rank)")
        tb = strip_ansi("\n".join(content["traceback"]))
        assert content["status"] == "error" and "rank 2 died (exit code 1)" in tb and "%mpi_restart" in tb
        out = k.stdout("%mpi_status")
        assert "all gone" in out and out.count(" dead ") == 4
        k.stdout("%mpi_restart", timeout=120)
        assert k.stdout("print(comm.allreduce(rank))").strip().endswith("6")
        k.descendants()
    finally:
        k.close()
        restore_path()


@pytest.mark.mpi
@pytest.mark.timeout(120)
def test_100_MB_push_pull_keeps_every_byte(world):
    import hashlib

    import numpy as np

    a = np.random.default_rng(7).standard_normal(100 * 2**20 // 8)
    digest = hashlib.sha256(a.data).hexdigest()
    t0 = time.monotonic()
    world.push({"a100": a})
    t_push = time.monotonic() - t0
    world.view().execute("import hashlib\nh100 = hashlib.sha256(a100.data).hexdigest()", block=True)
    assert world.pull("h100") == [digest] * 4
    t0 = time.monotonic()
    back = world.pull("a100", ranks=[3])[0]
    t_pull = time.monotonic() - t0
    assert hashlib.sha256(back.data).hexdigest() == digest and back.dtype == a.dtype
    world.view().execute("del a100", block=True)
    print(f"\n100 MiB: push to 4 ranks {t_push:.1f} s, pull from one {t_pull:.1f} s")


def test_a_push_that_cannot_fit_names_the_limit():
    import numpy as np

    from mpikernel.cluster.limits import TransferTooLarge, check_push

    a = np.zeros(2**27, dtype=np.int64)  # 1 GiB (zeros: not touched, so not really allocated)
    assert check_push({"a": a, "n": 3}, 4, available=6 * 2**30) == 2**30
    with pytest.raises(TransferTooLarge, match=r"pushing 1.07 GB to 4 ranks needs about 5.37 GB .* only 4.29 GB is free"):
        check_push({"a": a}, 4, available=4 * 2**30)
    assert check_push({"s": "text", "d": {"x": 1}}, 4, available=0) == 0  # objects without buffers: no estimate


def test_output_limit_sizes_are_parsed_strictly():
    from mpikernel.cluster import limits

    assert limits.parse_size("10MB") == 10_000_000 and limits.parse_size("512k") == 512_000
    assert limits.parse_size("1 MiB") == 2**20 and limits.parse_size("0") == 0 and limits.parse_size("none") == 0
    for bad in ("ten", "10 XB", "-5", ""):
        with pytest.raises(ValueError, match="not a size"):
            limits.parse_size(bad)
    assert limits.configured_limit({}) == limits.DEFAULT
    assert limits.configured_limit({limits.ENV: "2k"}) == 2000
    with pytest.raises(UsageError, match="--output-limit: 'lots' is not a size"):
        options.output_limit("lots")


@pytest.mark.mpi
@pytest.mark.timeout(120)
def test_output_limit_option_reaches_the_ranks(shell):
    magics.stop_world()
    with capture_output():
        shell.run_line_magic("mpi_start", "-n 2 --output-limit 1k")
    try:
        cap, err = run(shell, "%px_mpi print('z' * 5000)")
        assert err is None
        assert cap.stdout.startswith("[ranks 0-1]\n" + "z" * 1000 + "\n[output truncated: this rank wrote more than 1 kB")
        assert len(cap.stdout) < 1400
    finally:
        magics.stop_world()


def test_closing_a_death_watch_twice_leaves_other_descriptors_alone():
    """A second close() must not close fd numbers that something else (a kernel's zmq socket)
    has been given since the first."""
    watch = deaths.DeathWatch({0: os.getpid()})
    watch.close()
    read, write = os.pipe()  # most likely the numbers the watch just gave back
    try:
        watch.close()
        os.fstat(read)
        os.fstat(write)
    finally:
        os.close(read)
        os.close(write)
