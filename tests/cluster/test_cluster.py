"""The World: one mpiexec job of engines whose ids are the MPI ranks, lean, owned, and cleaned up."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mpikernel.cluster import launcher
from mpikernel.cluster.world import World, WorldError
from world_helpers import alive, kill_all, processes_owned_by, wait_all_gone

pytestmark = pytest.mark.mpi


def test_engine_id_is_the_mpi_rank(world):
    world.view().execute("_r = MPI.COMM_WORLD.Get_rank()", block=True)
    assert world.view().pull("_r", block=True) == [0, 1, 2, 3]
    assert sorted(world.client.ids) == [0, 1, 2, 3]


def test_namespace_is_predefined(world):
    out = world.view().execute(
        "_check = (type(MPI).__name__, MPI.__name__, comm is MPI.COMM_WORLD, rank, size, np.__name__)",
        block=True,
    )
    assert out is not None
    checks = world.view().pull("_check", block=True)
    assert [c[3] for c in checks] == [0, 1, 2, 3]
    assert {(c[1], c[2], c[4], c[5]) for c in checks} == {("mpikernel.MPI", True, 4, "numpy")}


def test_engines_report_their_pid_and_host(world):
    pids = world.view().apply_sync(os.getpid)
    assert pids == [world.engines[r].pid for r in range(4)]
    assert all(e.local for e in world.engines.values())


def test_a_four_rank_world_is_at_most_ten_processes(world):
    """controller + mpiexec + 4 engines, plus hydra's proxy (8), or under MPICH's gforker a
    shield per rank (mpikernel.cluster.forked: 10), the price of opening no launcher port."""
    procs = world.processes()
    forked = launcher.forking_launcher(launcher.find_mpiexec()) is not None
    assert len(procs) <= (10 if forked else 8), procs
    for e in world.engines.values():
        assert e.pid in procs


def test_status_reports_each_rank(world):
    rows = world.status()
    assert [r["rank"] for r in rows] == [0, 1, 2, 3]
    for row in rows:
        assert row["alive"] and row["busy"] is False
        assert row["rss"] > 10_000_000
        assert row["pid"] == world.engines[row["rank"]].pid


def test_where_shows_a_busy_rank_and_its_line(world):
    ar = world.view([1]).execute("import time\nx = 1\ntime.sleep(1.5)\n", block=False)
    try:
        time.sleep(0.6)
        where = world.where([0, 1])
        assert where[0]["busy"] is False
        assert where[1]["busy"] is True and where[1]["line"] == 3 and "sleep" in where[1]["code"]
    finally:
        ar.get(timeout=10)


def test_foreign_messages_on_the_control_port_are_ignored(world):
    import zmq

    ctx = zmq.Context()
    socks = []
    for ident, payload in [(b"junk", b"\x00not json"), (b"rank-0", b'{"op": "hello", "rank": 0, "pid": 1}')]:
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.IDENTITY, ident)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(world._control.url)
        s.send(payload)
        socks.append(s)
    try:
        time.sleep(0.2)
        where = world.where()
        assert sorted(where) == [0, 1, 2, 3] and all(st is not None for st in where.values())
        assert world._control.hellos[0]["pid"] == world.engines[0].pid
    finally:
        for s in socks:
            s.close()
        ctx.term()


def test_interrupt_reaches_a_busy_rank_and_leaves_the_others(world):
    ar = world.view().execute("import time\nif rank == 2:\n    time.sleep(30)\n", block=False)
    time.sleep(0.8)
    t0 = time.monotonic()
    world.interrupt([2])
    with pytest.raises(Exception) as info:
        ar.get(timeout=10)
    assert time.monotonic() - t0 < 5
    assert "KeyboardInterrupt" in str(info.value)
    assert world.needs_reset
    assert world.reset_if_needed() is True
    assert world.view().apply_sync(int) == [0, 0, 0, 0]


def test_push_pull_scatter_gather(world):
    world.push({"a": 5})
    assert world.pull("a") == [5, 5, 5, 5]
    world.scatter("part", list(range(10)))
    assert world.pull("part", ranks=[0]) == [[0, 1, 2]]
    assert world.gather("part") == list(range(10))


def test_bad_requests_are_refused_clearly():
    with pytest.raises(WorldError, match="at least 1 rank"):
        World(0)
    with pytest.raises(WorldError, match="unknown launcher"):
        World(2, launcher="qsub")
    with pytest.raises(WorldError, match="not running"):
        World(2).view()


def test_env_and_hostfile_reach_mpiexec_and_stop_leaves_nothing_behind(tmp_path):
    hosts = tmp_path / "hosts"
    from mpikernel.cluster import launcher

    open_mpi = launcher.mpiexec_vendor(launcher.find_mpiexec()) == "Open MPI"
    hosts.write_text("localhost slots=2\n" if open_mpi else "localhost:2\n")  # each MPI's own syntax
    w = World(2, env={"MPIKERNEL_TEST_SETTING": "42"}, hostfile=str(hosts)).start()
    pids = w.processes()
    assert len(pids) >= 4
    w.view().execute("import os\n_v = os.environ.get('MPIKERNEL_TEST_SETTING')", block=True)
    assert w.pull("_v") == ["42", "42"]
    w.stop()
    assert wait_all_gone(pids, 5) == []
    assert not w.running


@pytest.mark.parametrize("phase", ["starting", "initialized MPI", "engines connected"])
def test_ctrl_c_during_start_leaves_nothing(phase):
    """Ctrl-C in each phase of a start (launch, MPI_Init, engine connection) leaves nothing.

    The signal is sent when start() reports the phase (a fixed delay raced the start itself, which
    takes about 2 s for 4 ranks here)."""
    others = set(processes_owned_by(os.getpid()))  # e.g. the module's shared world
    w = World(4)

    def progress(text):
        if phase in text:
            os.kill(os.getpid(), signal.SIGINT)

    try:
        with pytest.raises(KeyboardInterrupt):
            w.start(progress=progress)
    finally:
        w.stop()
    assert not w.running
    assert wait_all_gone(set(processes_owned_by(os.getpid())) - others, 5) == []


OWNER = textwrap.dedent(
    """
    import sys, time
    from mpikernel.cluster.world import World
    w = World(2).start()
    print(" ".join(map(str, w.processes())), flush=True)
    time.sleep(120)
    """
)


def test_a_world_starts_under_a_process_that_imported_the_binding(tmp_path):
    """Open MPI's singleton start-up (`from mpikernel import MPI` in a notebook or a script)
    sets PMIX_*/OMPI_MCA_ess... with setenv; a child that inherits them and starts mpiexec made
    Debian's Open MPI 4.1 exit with code 1 and not a word, until the World dropped them."""
    code = textwrap.dedent(
        """
        import subprocess, sys
        from mpikernel import MPI  # this process is now a singleton MPI job
        child = "from mpikernel.cluster.world import World; w = World(2).start(); print('ranks', w.n); w.stop()"
        sys.exit(subprocess.run([sys.executable, "-c", child], timeout=90).returncode)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          start_new_session=True, cwd=tmp_path)
    assert proc.returncode == 0 and "ranks 2" in proc.stdout, proc.stderr[-2000:]


def test_a_launcher_that_fails_before_any_rank_is_started_once_more(tmp_path, monkeypatch):
    """Open MPI's launcher now and then dies at start-up ("PMIx server's listener thread failed to
    start"); the World tries once more instead of failing %mpi_start. A stand-in mpiexec fails so
    the first time, then runs the real one."""
    from mpikernel.cluster import launcher

    real = launcher.find_mpiexec()
    once = tmp_path / "failed-once"
    fake = tmp_path / "mpiexec"
    fake.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" != "--version" ] && [ ! -e "{once}" ]; then\n'
        f'    touch "{once}"\n'
        '    echo "[vm:4242] PMIx server\'s listener thread failed to start" >&2\n'
        "    exit 1\n"
        "fi\n"
        f'exec "{real}" "$@"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv(launcher.OVERRIDE_VAR, str(fake))
    said = []
    w = World(2)
    try:
        w.start(progress=said.append)
        view = w.client[:]
        view.execute("from mpikernel import MPI; r = MPI.COMM_WORLD.allreduce(MPI.COMM_WORLD.rank)", block=True)
        assert view.pull("r", block=True) == [1, 1]
    finally:
        w.stop()
    assert once.exists()
    assert any("starting it once more" in s for s in said), said


def test_job_variables_are_dropped_and_the_users_settings_kept():
    from mpikernel.cluster import launcher

    env = {"PMIX_RANK": "0", "PMIX_SERVER_URI41": "x", "OMPI_MCA_ess": "singleton", "PMI_RANK": "1",
           "OMPI_COMM_WORLD_RANK": "0", "OMPI_MCA_orte_launch": "1",
           "OMPI_MCA_btl_tcp_if_include": "eth0", "OMPI_ALLOW_RUN_AS_ROOT": "1", "SLURM_JOB_ID": "7",
           "HOME": "/root"}
    assert launcher.without_job_variables(env) == {
        "OMPI_MCA_btl_tcp_if_include": "eth0", "OMPI_ALLOW_RUN_AS_ROOT": "1", "SLURM_JOB_ID": "7",
        "HOME": "/root"}


def test_sigkill_of_the_owner_leaves_nothing_within_5_seconds(tmp_path):
    # (run outside the source tree, so the owner imports the same mpikernel as this test)
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True,
                             start_new_session=True, cwd=tmp_path)
    pids = []
    try:
        line = owner.stdout.readline()
        pids = [int(p) for p in line.split()]
        assert len(pids) >= 4, line
        assert all(alive(p) for p in pids)
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(5)
        t0 = time.monotonic()
        left = wait_all_gone(pids, 5)
        assert left == [], f"still running {time.monotonic() - t0:.1f} s after SIGKILL: {left}"
    finally:
        kill_all([owner.pid] + pids)
        owner.wait(5)


def test_a_half_written_connection_file_is_not_complete(tmp_path):
    """The controller writes ipcontroller-client.json in place: the World waits for all of it."""
    from mpikernel.cluster.controller import connection_file_complete

    f = tmp_path / "ipcontroller-client.json"
    assert not connection_file_complete(f)
    f.write_text('{"key": "abc", "location": ')
    assert not connection_file_complete(f)
    f.write_text('{"key": "abc", "location": "127.0.0.1"}')
    assert connection_file_complete(f)


@pytest.mark.parametrize("name", ["mpiexec", "slurm"])
def test_every_launcher_implements_the_whole_launch_protocol(name):
    """The World never asks which launcher it has, so each launch has every member of `Launch`,
    with the protocol's parameters (no optional methods to probe for)."""
    import inspect

    from mpikernel.cluster.launch import LAUNCHERS, Launch, make_launch

    launch = make_launch(name, 2)
    members = [m for m in vars(Launch) if not m.startswith("_")] + list(Launch.__annotations__)
    assert {"start", "stop", "process", "read_deaths", "complete_deaths"} <= set(members)
    for member in members:
        assert hasattr(launch, member), f"{type(launch).__name__} has no {member}"
        wanted = vars(Launch).get(member)
        if inspect.isfunction(wanted):
            got = inspect.signature(getattr(type(launch), member))
            assert list(got.parameters) == list(inspect.signature(wanted).parameters), member
    assert launch.process is None and launch.job_output() == "" and not launch.remote_nodes()
    assert set(LAUNCHERS) == {"mpiexec", "slurm"}
    with pytest.raises(ValueError, match="unknown launcher 'qsub': use mpiexec or slurm"):
        make_launch("qsub", 2)


def test_a_slurm_launch_reads_srun_reports_from_the_log_and_the_batch_output(tmp_path, monkeypatch):
    """(no Slurm needed) srun names failed tasks in the world's log (a step) or the job's output file."""
    from mpikernel.cluster import deaths
    from mpikernel.cluster.launch import make_launch

    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    launch = make_launch("slurm", 4)
    launch.job, launch.workdir, launch.nodes = "87", tmp_path, "nid[001-002]"
    log = tmp_path / "world.log"
    log.write_text("srun: error: nid001: task 1: Exited with exit code 3\n")
    (tmp_path / "slurm-87.out").write_text("srun: error: nid002: tasks 2-3: Segmentation fault\n")
    assert launch.job_output().startswith("srun: error: nid002") and not launch.failed_transiently("")
    assert launch.describe_placement() == "job 87 on nid[001-002]"
    report = launch.complete_deaths(deaths.Deaths(n=4, causes={0: "its exit status is unknown"}), log)
    assert report.launcher == "Slurm"
    assert report.causes == {0: "its exit status is unknown", 1: "exit code 3",
                             2: "segmentation fault", 3: "segmentation fault"}
    assert launch.read_deaths("Abort(5) on node 2 (rank 2 in comm 0): x - process 2\n", 4, []).causes == \
        {2: "exit code 5: it called MPI_Abort"}


def test_a_world_without_slurm_says_so_and_leaves_nothing(monkeypatch):
    from mpikernel.cluster.slurm import SlurmError

    monkeypatch.setenv("PATH", "/nonexistent")
    others = set(processes_owned_by(os.getpid()))
    w = World(2, launcher="slurm")
    with pytest.raises(SlurmError, match="needs a working Slurm"):
        w.start()
    assert not w.running and w._dir is None
    assert wait_all_gone(set(processes_owned_by(os.getpid())) - others, 5) == []
