"""Engines on Slurm: the options (no Slurm needed), then worlds on the real Slurm of .ci/slurm-up.

The Slurm tests skip, saying why, when no Slurm answers here (they fail instead under
MPIKERNEL_REQUIRE_SLURM=1, which .ci/legs/slurm.sh sets). Each one drives an owner (an
IPython shell with the magics, or an MPI kernel) in a process of its own, so that it can be
SIGKILLed; every job it submits is cancelled by id afterwards, never by name.
"""

import json
import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from mpikernel.cluster import slurm
from mpikernel.cluster.slurm import SlurmError, SlurmOptions
from require import skip_or_fail
from slurm_helpers import why_no_slurm



def SLURM_TIMEOUT(test):
    """A test on the real Slurm: marked slurm (and mpi); generous but finite, the 2 cores are shared."""
    return pytest.mark.slurm(pytest.mark.mpi(pytest.mark.timeout(240)(test)))

GONE_WITHIN = 10.0  # seconds: the bound for the job to leave squeue


# ----------------------------------------------------------------------- options (no Slurm needed)


def test_options_validate_time_and_nodes():
    assert SlurmOptions(time="01:00:00", nodes="2-4").args(allocation=False) == ["--time=01:00:00", "--nodes=2-4"]
    with pytest.raises(SlurmError, match="not a Slurm time"):
        SlurmOptions(time="an hour")
    with pytest.raises(SlurmError, match="not a node count"):
        SlurmOptions(nodes="two")
    with pytest.raises(SlurmError, match="cannot be split"):
        SlurmOptions(extra='--comment="open')


def test_job_limits_are_not_given_to_a_step_inside_an_allocation():
    o = SlurmOptions(partition="debug", time="10", account="a1", nodes="1", extra="--qos=low --exclusive")
    assert o.args(allocation=False) == ["--partition=debug", "--time=10", "--account=a1", "--nodes=1",
                                        "--qos=low", "--exclusive"]
    assert o.args(allocation=True) == ["--nodes=1", "--qos=low", "--exclusive"]


def test_options_round_trip_through_a_kernel_spec_line():
    o = SlurmOptions(partition="gpu", time="1-12", extra="--qos=debug --comment='a b'")
    back = SlurmOptions.from_line(o.to_line())
    assert (back.partition, back.time, back.extra, back.account) == ("gpu", "1-12", o.extra, None)
    with pytest.raises(SlurmError, match="cannot read"):
        SlurmOptions.from_line("--partition=x --bogus=1")


def test_install_slurm_spec(tmp_path):
    from mpikernel.front import kernelspec as ks

    dest = ks.install(ranks=64, launcher="slurm", prefix=str(tmp_path),
                      slurm=SlurmOptions(partition="debug", time="01:00:00"))
    spec = json.loads((tmp_path / "share/jupyter/kernels/mpikernel-slurm-64/kernel.json").read_text())
    assert dest.endswith("mpikernel-slurm-64")
    assert spec["display_name"] == "MPI (64 ranks, Slurm)"
    assert spec["argv"][-4:] == ["--ranks", "64", "--launcher", "slurm"]
    assert SlurmOptions.from_line(spec["env"][slurm.ENV_VAR]).partition == "debug"
    assert "MPIKERNEL_MPIEXEC" not in spec["env"]
    with pytest.raises(ks.SpecError, match="need --launcher slurm"):
        ks.install(prefix=str(tmp_path), slurm=SlurmOptions(partition="debug"))


def test_install_cli_rejects_a_bad_time(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mpikernel", "install", "--launcher", "slurm",
                          "--time", "soon", "--prefix", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2 and "not a Slurm time" in out.stderr


def test_slurm_options_without_the_slurm_launcher_are_refused():
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "mpikernel")
    with pytest.raises(UsageError, match="add --launcher slurm"):
        ip.run_line_magic("mpi_start", "-n 2 --partition debug")
    with pytest.raises(UsageError, match="not a Slurm time"):
        ip.run_line_magic("mpi_start", "-n 2 --launcher slurm --time never")


def test_extra_options_are_split_as_a_shell_would():
    from IPython.core.magic_arguments import parse_argstring

    from mpikernel.front.magics import MPIMagics
    from mpikernel.front.options import slurm_options

    def extra(line):
        return slurm_options(parse_argstring(MPIMagics.mpi_start, "--launcher slurm " + line)).args(False)

    assert extra('--extra "--qos=debug --exclusive"') == ["--qos=debug", "--exclusive"]
    assert extra("--extra=--qos=debug") == ["--qos=debug"]
    assert extra("""--extra "--comment='a b' -C gpu" --time 5""") == ["--time=5", "--comment=a b", "-C", "gpu"]


def test_srun_reports_name_the_failed_ranks():
    text = ("srun: error: vm: task 1: Exited with exit code 3\n"
            "slurmstepd-vm: error: *** STEP 87.0 ON vm CANCELLED AT 2026-11-25T12:56:20 ***\n"
            "srun: error: vm: tasks 0,2: Terminated\n"
            "srun: error: nid002: tasks 4-5: Segmentation fault\n"
            "srun: error: vm: task 6: Exited with exit code 0\n")
    assert slurm.srun_deaths(text) == {1: "exit code 3", 4: "segmentation fault", 5: "segmentation fault"}


def test_open_mpi_asks_srun_for_pmix_when_the_cluster_has_it(monkeypatch):
    """Open MPI starts under srun only through PMIx; a cluster's MpiDefault is often pmi2."""
    listing = {"out": "MPI plugin types are...\n\tpmix\n\tnone\n\tpmi2\nspecific pmix plugin versions available: pmix_v4\n"}

    def fake_run(cmd, **kw):
        assert cmd == ["srun", "--mpi=list"]
        return subprocess.CompletedProcess(cmd, 0, listing["out"], "")

    monkeypatch.setattr(slurm.subprocess, "run", fake_run)
    assert slurm.default_mpi_plugin("Open MPI") == "pmix"
    assert slurm.default_mpi_plugin("MPICH") is None  # the cluster's MpiDefault
    listing["out"] = "MPI plugin types are...\n\tnone\n\tpmi2\n"
    assert slurm.default_mpi_plugin("Open MPI") is None


def test_the_queue_line_says_when_slurm_has_given_no_reason_yet_then_gives_it(monkeypatch):
    answers = iter([("PENDING", "None", ""), ("PENDING", "None", ""), ("PENDING", "Resources", ""),
                    ("RUNNING", "None", "vm")])
    monkeypatch.setattr(slurm, "job_state", lambda job: next(answers))
    monkeypatch.setattr(slurm, "QUEUE_POLL", 0.0)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)  # a new batch job, not a step
    launch = slurm.SlurmLaunch(4)
    launch.job = "7"
    said = []
    launch.wait_running(said.append, lambda when: None)
    assert said == ["queued as job 7 (reason not given yet)…", "queued as job 7 (reason: Resources)…",
                    "job 7 running on vm…"]


def test_expand_nodes_without_brackets():
    assert slurm.expand_nodes("a,b") == ["a", "b"]
    assert slurm.expand_nodes("") == []


def test_idle_durations():
    from mpikernel.front.idle import parse_duration

    assert [parse_duration(x) for x in ("30m", "90s", "2h", "45", " 1.5 min", None, "")] == \
        [1800, 90, 7200, 45, 90, None, None]
    for bad in ("soon", "-5m", "0", "3d"):
        with pytest.raises(ValueError, match="positive duration"):
            parse_duration(bad)


def test_idle_watch_releases_only_after_the_limit_without_a_cell():
    from mpikernel.front.idle import IdleWatch

    now = [0.0]
    stopped = []
    w = IdleWatch(60, stop=lambda: stopped.append(now[0]), clock=lambda: now[0])
    w.cancel()  # drive check() by hand with the fake clock
    w._cancelled.clear()
    now[0] = 59
    assert not w.check()
    with w.in_use():  # a cell that runs for 10 minutes is not idleness
        now[0] = 600
        assert not w.check()
    now[0] = 659
    assert not w.check() and stopped == []
    now[0] = 660
    assert w.check() and stopped == [660]
    assert "after 1 min without a cell" in w.released
    assert not w.check() and stopped == [660]  # once


# ------------------------------------------------------------------------------ on a real Slurm


@pytest.fixture(scope="module")
def slurm_up():
    """Skips without a Slurm (fails instead under MPIKERNEL_REQUIRE_SLURM=1, as .ci/legs/slurm.sh
    sets it); the probe is the leg's own, tests/support/slurm_helpers.py."""
    reason = why_no_slurm()
    if reason:
        skip_or_fail(f"no Slurm here ({reason}); .ci/slurm-up starts one", "MPIKERNEL_REQUIRE_SLURM")
    return True


def queued_jobs():
    """Ids of every job squeue lists right now (any state it shows)."""
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, timeout=30)
    return set(out.stdout.split())


def wait_job_gone(job, timeout=GONE_WITHIN):
    """Seconds until `job` left squeue; None if it is still listed after `timeout`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if job not in queued_jobs():
            return time.monotonic() - t0
        time.sleep(0.2)
    return None


OWNER = textwrap.dedent("""
    import json, sys
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from mpikernel.front import magics

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "mpikernel")
    ip.run_line_magic("mpi_start", sys.argv[1])       # progress lines go to our stdout
    print(flush=True)
    with capture_output() as cell:
        ip.run_cell("%%px_mpi\\nprint(comm.allreduce(rank))")
    w = magics.world()
    print("OWNER " + json.dumps({"cell": cell.stdout, "pids": w.processes(),
                                 "engines": [e.pid for e in w.engines.values()]}), flush=True)
    for line in sys.stdin:
        if line.strip() == "interrupt":  # Ctrl-C while rank 0 sleeps and the others wait in a barrier
            import os, signal, threading
            threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT)).start()
            with capture_output() as hung:
                res = ip.run_cell("%%px_mpi\\nimport time\\nif rank == 0:\\n    time.sleep(60)\\ncomm.barrier()")
            with capture_output() as after:
                ip.run_cell("%%px_mpi\\nprint(comm.allreduce(rank))")
            print("OWNER " + json.dumps({"interrupted": type(res.error_in_exec).__name__,
                                         "after": after.stdout}), flush=True)
        if line.strip() == "die":  # rank 1 exits in the middle of a cell
            res = ip.run_cell("%%px_mpi\\nimport os, time\\nif rank == 1:\\n    os._exit(3)\\ntime.sleep(30)")
            print("OWNER " + json.dumps({"died": str(res.error_in_exec)}), flush=True)
        if line.strip() == "restart":
            ip.run_line_magic("mpi_restart", "")
            print(flush=True)
            with capture_output() as cell:
                ip.run_cell("%%px_mpi\\nprint(comm.allreduce(rank))")
            print("OWNER " + json.dumps({"cell": cell.stdout}), flush=True)
        if line.strip() == "stop":
            ip.run_line_magic("mpi_status", "")
            ip.run_line_magic("mpi_stop", "")
            print("OWNER " + json.dumps({"stopped": True}), flush=True)
""")


class Owner:
    """An IPython shell in its own process (own session) running the magics; its stdout read live."""

    def __init__(self, tmp_path, line, prefix=()):
        self.lines = queue.Queue()
        self.text = ""
        self.proc = subprocess.Popen(
            list(prefix) + [sys.executable, "-c", OWNER, line], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            cwd=tmp_path,  # outside the source tree: the installed mpikernel, as the test imports it
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        """Lines as they come; a progress line ends with \r (it is updated in place), not \n."""
        buf = b""
        fd = self.proc.stdout.fileno()
        while chunk := os.read(fd, 4096):
            buf += chunk
            *done, buf = re.split(rb"[\r\n]", buf)
            if buf.rstrip().endswith("…".encode()):  # a progress line: "\r" comes before the next one
                done, buf = done + [buf], b""
            for line in done:
                self.lines.put(line.decode(errors="replace").rstrip())

    def wait_for(self, pattern, timeout=150):
        """The first output line matching `pattern` (regex), reading on; AssertionError after timeout."""
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            self.text += line + "\n"
            m = re.search(pattern, line)
            if m:
                return m
        raise AssertionError(f"no line matching {pattern!r}; the owner said:\n{self.text}")

    def report(self, timeout=150):
        return json.loads(self.wait_for(r"^OWNER (.*)", timeout).group(1))

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)


def cleanup(jobs, pids=()):
    for job in jobs:
        if job:
            slurm.cancel(job)
    from world_helpers import kill_all

    kill_all(pids)


@SLURM_TIMEOUT
def test_batch_world_runs_allreduce_shows_the_job_and_stop_cancels_it(slurm_up, tmp_path):
    owner = Owner(tmp_path, "-n 4 --launcher slurm --time 10")
    job, pids = None, []
    try:
        job = owner.wait_for(r"job (\d+) running on (\S+)…").group(1)
        ready = owner.wait_for(r"MPI world ready: 4 ranks")
        assert f"job {job} on " in ready.string
        got = owner.report()
        pids = got["pids"]
        assert "[ranks 0-3]\n6\n" in got["cell"]
        assert job in queued_jobs(), "the job is not in squeue while the world runs"
        owner.send("interrupt")
        got2 = owner.report(60)
        assert got2 == {"interrupted": "RanksInterrupted", "after": "[ranks 0-3]\n6\n"}, got2
        owner.send("stop")
        assert owner.report(30) == {"stopped": True}
        took = wait_job_gone(job)
        assert took is not None, f"job {job} still in squeue {GONE_WITHIN} s after %mpi_stop"
        from world_helpers import wait_all_gone

        assert wait_all_gone(got["engines"], 5) == []
    finally:
        owner.kill()
        cleanup([job], pids)


@SLURM_TIMEOUT
def test_a_rank_that_dies_is_named_with_its_exit_code_and_the_job_ends(slurm_up, tmp_path):
    owner = Owner(tmp_path, "-n 4 --launcher slurm")
    job = None
    try:
        job = owner.wait_for(r"job (\d+) running on").group(1)
        owner.report()
        owner.send("die")
        died = owner.report(60)["died"]
        assert died.startswith("rank 1 died (exit code 3)"), died
        assert wait_job_gone(job) is not None, f"job {job} still queued after a rank died"
    finally:
        owner.kill()
        cleanup([job])


@SLURM_TIMEOUT
def test_a_job_slurm_refuses_says_why(slurm_up):
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    from mpikernel.front import magics

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "mpikernel")
    with pytest.raises(UsageError, match="sbatch refused the job .*invalid partition"):
        ip.run_line_magic("mpi_start", "-n 2 --launcher slurm --partition no-such-partition")
    assert magics.current_world() is None


@SLURM_TIMEOUT
def test_sigkill_of_the_owner_cancels_the_job(slurm_up, tmp_path):
    owner = Owner(tmp_path, "-n 4 --launcher slurm")
    job, pids = None, []
    try:
        job = owner.wait_for(r"job (\d+) running on").group(1)
        got = owner.report()
        pids = got["pids"]
        assert job in queued_jobs()
        os.killpg(owner.proc.pid, signal.SIGKILL)  # the owner alone is in this session
        owner.proc.wait(5)
        took = wait_job_gone(job)
        assert took is not None, f"job {job} still in squeue {GONE_WITHIN} s after SIGKILL of the owner"
        from world_helpers import wait_all_gone

        assert wait_all_gone(got["engines"], 5) == []
    finally:
        owner.kill()
        cleanup([job], pids)


@SLURM_TIMEOUT
def test_a_queue_wait_is_shown_with_its_reason(slurm_up, tmp_path):
    cpus = subprocess.run(["sinfo", "-h", "-o", "%C"], capture_output=True, text=True).stdout.split("/")
    total = int(cpus[-1]) if len(cpus) == 4 else 16
    blocker = subprocess.run(["sbatch", "--parsable", f"--ntasks={total}", "--time=2", "--output=/dev/null",
                              "--wrap", "sleep 120"], capture_output=True, text=True, timeout=30).stdout.strip()
    assert blocker.isdigit(), "could not submit the job that fills the node"
    owner, job, pids = None, None, []
    try:
        # the node must be full before the world's job is submitted (else it may simply run)
        until = time.monotonic() + 60
        while (slurm.job_state(blocker) or ("GONE",))[0] != "RUNNING" and time.monotonic() < until:
            time.sleep(0.5)
        assert (slurm.job_state(blocker) or ("GONE",))[0] == "RUNNING", slurm.job_state(blocker)
        owner = Owner(tmp_path, "-n 4 --launcher slurm")
        # (first "(reason not given yet)" while the scheduler has not looked at it, then the
        # reason; the blocker holds the node until that line has been read)
        job = owner.wait_for(r"queued as job (\d+) \(reason: (Resources|Priority)\)…", 60).group(1)
        slurm.cancel(blocker)
        owner.wait_for(rf"job {job} running on")
        assert "[ranks 0-3]\n6\n" in owner.report()["cell"]
    finally:
        if owner is not None:
            owner.kill()
        cleanup([blocker, job], pids)
        if job:
            assert wait_job_gone(job) is not None


@SLURM_TIMEOUT
def test_inside_an_allocation_the_engines_are_one_step(slurm_up, tmp_path):
    # salloc runs the owner with SLURM_JOB_ID set, as a notebook inside an allocation would be
    owner = Owner(tmp_path, "-n 4 --launcher slurm", prefix=["salloc", "--ntasks=4", "--time=3"])
    alloc = None
    try:
        m = owner.wait_for(r"starting a step of 4 tasks in allocation (\d+)…")
        alloc = m.group(1)
        ready = owner.wait_for(r"MPI world ready: 4 ranks")
        assert re.search(rf"step {alloc}\.\d+ of allocation {alloc}", ready.string), ready.string
        got = owner.report()
        assert "[ranks 0-3]\n6\n" in got["cell"]
        owner.send("restart")  # a new step in the same allocation
        owner.wait_for(rf"MPI world restarted: 4 ranks .* step {alloc}\.\d+ of allocation {alloc}")
        assert owner.report() == {"cell": "[ranks 0-3]\n6\n"}
        owner.send("stop")
        assert owner.report(30) == {"stopped": True}
        from world_helpers import wait_all_gone

        assert wait_all_gone(got["engines"], 5) == []
        owner.proc.stdin.close()  # the owner ends, and with it salloc's allocation
        assert wait_job_gone(alloc, 15) is not None
    finally:
        owner.kill()
        cleanup([alloc])


@SLURM_TIMEOUT
def test_an_idle_world_is_released_and_says_so(slurm_up, tmp_path):
    owner = Owner(tmp_path, "-n 2 --launcher slurm --idle-timeout 4s")
    job = None
    try:
        job = owner.wait_for(r"job (\d+) running on").group(1)
        owner.report()
        took = wait_job_gone(job, 4 + 30)  # released 4-4.4 s after the last cell, then stopped
        assert took is not None, f"job {job} still queued 30 s after the idle timeout; owner said:\n{owner.text}"
        owner.send("stop")  # %mpi_status, then %mpi_stop
        owner.wait_for(r"the MPI world was stopped after 4 s without a cell \(--idle-timeout\)")
        owner.wait_for(r"^no MPI world was running")
    finally:
        owner.kill()
        cleanup([job])


@SLURM_TIMEOUT
def test_a_kernel_spec_installed_with_the_slurm_launcher_runs_a_cell(slurm_up, tmp_path):
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    prefix = tmp_path / "prefix"
    subprocess.run([sys.executable, "-m", "mpikernel", "install", "--ranks", "2", "--launcher", "slurm",
                    "--time", "5", "--prefix", str(prefix)], check=True, capture_output=True, cwd=tmp_path)
    ksm = KernelSpecManager(kernel_dirs=[str(prefix / "share/jupyter/kernels")])
    assert ksm.get_kernel_spec("mpikernel-slurm-2").display_name == "MPI (2 ranks, Slurm)"
    before = queued_jobs()
    km = KernelManager(kernel_name="mpikernel-slurm-2", kernel_spec_manager=ksm)
    km.start_kernel(cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    jobs, outputs = set(), []
    try:
        kc.wait_for_ready(timeout=120)
        reply = kc.execute_interactive("print(comm.allreduce(rank + 1))", timeout=150,
                                       output_hook=lambda m: outputs.append(m))
        assert reply["content"]["status"] == "ok", reply["content"]
        text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
        # (the kernel may leave out the header when every rank printed the same)
        assert re.search(r"(^|\n)(\[ranks 0-1\]\n)?3\n", text), text
        jobs = queued_jobs() - before
        assert jobs, "no Slurm job while the kernel's world runs"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
        for job in jobs:
            assert wait_job_gone(job) is not None, f"job {job} still queued after the kernel shut down"
        cleanup(jobs)

