"""Engines on Slurm: one srun step inside an allocation, else one batch job whose step is the engines.

`SlurmLaunch` is a `mpikernel.cluster.launch.Launch`, as `MpiexecLaunch` is: ONE local process whose
life is the job's life, and the scheduler's own report of how the ranks died:

- inside an allocation (SLURM_JOB_ID set, as in `salloc` or a JupyterHub spawned by Slurm):
  `srun -n N ... <engine>` — the step runs in the allocation the person already has;
- outside one: `sbatch --wait` of a script whose single step is `srun <engine>`. sbatch prints
  the job id at once and then waits for the job to end, so its exit is the job's end.

Queue waits are shown ("queued as job 1234 (reason: Resources)… running on nid[001-004]")
and do not count against the start timeout. Money matters: `stop()` cancels the job (or the
step) with scancel, and a watchdog process (`python -m mpikernel.cluster.slurm watchdog`, in its own
session) runs scancel when the owner dies, even by SIGKILL — sbatch, srun and ranks on other
hosts would not notice that by themselves.

Ranks on the owner's host watch the owner's pid (as with mpiexec); ranks on other hosts cannot
see that pid, so they watch their slurmstepd instead, which scancel ends (`engine_main`).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mpikernel.cluster import deaths, procs

QUEUE_POLL = 0.5  # seconds between squeue calls while the job is queued
ENV_VAR = "MPIKERNEL_SLURM_OPTIONS"  # set by kernel specs: the defaults of `--launcher slurm`
STEP_LOOKUP = 5.0  # seconds to find the engines' step in squeue once they all connected
SRUN_REPORT = 5.0  # seconds srun may take to report failed tasks after the step ended
ACTIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING"}


class SlurmError(RuntimeError):
    """Slurm refused or is not there; the message says what it answered."""


@dataclass
class SlurmOptions:
    """What a person may ask of the scheduler (the %mpi_start / `install` options)."""

    partition: str | None = None
    time: str | None = None  # Slurm's forms: MM, HH:MM:SS, D-HH
    account: str | None = None
    nodes: str | None = None  # "2" or "2-4"
    extra: str = ""  # further sbatch/srun options, as typed
    mpi: str | None = None  # srun --mpi=...; None: default_mpi_plugin()

    def __post_init__(self):
        if self.time is not None and not re.fullmatch(r"(\d+-)?\d+(:\d+){0,2}", str(self.time)):
            raise SlurmError(f"--time {self.time!r} is not a Slurm time (like 30, 01:00:00 or 1-12)")
        if self.nodes is not None and not re.fullmatch(r"\d+(-\d+)?", str(self.nodes)):
            raise SlurmError(f"--nodes {self.nodes!r} is not a node count (like 2 or 2-4)")
        try:
            self.extra_args = shlex.split(self.extra or "")
        except ValueError as e:
            raise SlurmError(f"--extra {self.extra!r} cannot be split into options: {e}") from None

    FIELDS = ("partition", "time", "account", "nodes", "extra")

    def to_line(self) -> str:
        """'--partition=P --time=T ...': how a kernel spec carries them (ENV_VAR in its env)."""
        return " ".join(f"--{k}={shlex.quote(str(getattr(self, k)))}" for k in self.FIELDS if getattr(self, k))

    @classmethod
    def from_line(cls, line: str) -> "SlurmOptions":
        """Inverse of to_line (SlurmError when it holds something else)."""
        p = argparse.ArgumentParser(prog=ENV_VAR, add_help=False, allow_abbrev=False)
        for k in cls.FIELDS:
            p.add_argument(f"--{k}")
        try:
            args, rest = p.parse_known_args(shlex.split(line or ""))
        except (ValueError, SystemExit):
            rest = [line]
        if rest:
            raise SlurmError(f"{ENV_VAR}={line!r}: cannot read {' '.join(rest)!r}")
        return cls(**{k: v for k, v in vars(args).items() if v is not None})

    @classmethod
    def from_env(cls) -> "SlurmOptions":
        """The options a kernel spec installed with `--launcher slurm` put in the environment."""
        return cls.from_line(os.environ.get(ENV_VAR, ""))

    def args(self, allocation: bool) -> list[str]:
        """The scheduler options in sbatch/srun syntax (the job's limits only for a new job)."""
        out = []
        if not allocation:
            for flag, value in (("--partition", self.partition), ("--time", self.time),
                                ("--account", self.account)):
                if value:
                    out.append(f"{flag}={value}")
        if self.nodes:
            out.append(f"--nodes={self.nodes}")
        return out + self.extra_args


def missing() -> str | None:
    """Why Slurm cannot be used here (a sentence), or None when its controller answers."""
    for tool in ("sbatch", "srun", "squeue", "scancel"):
        if shutil.which(tool) is None:
            return f"{tool} is not on PATH (no Slurm client here)"
    try:  # (this person's jobs only: the whole queue of a big cluster is long)
        out = subprocess.run(["squeue", "-h", "-o", "%i", "--me"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return "squeue did not answer within 15 s (is slurmctld up?)"
    if out.returncode != 0:
        first = (out.stderr.strip() or out.stdout.strip() or f"exit code {out.returncode}").splitlines()[0]
        return f"the Slurm controller does not answer (squeue: {first})"
    return None


def default_mpi_plugin(family: str | None = None) -> str | None:
    """srun's --mpi for our build when none was asked for: "pmix" for Open MPI, else the cluster's
    MpiDefault (None).

    Open MPI 4 and 5 start under srun only through PMIx; a cluster's MpiDefault is often pmi2 (it
    is on the CI's Slurm), under which every rank of Debian's Open MPI 4.1 refused to start. MPICH
    (the mpich wheel) runs with the cluster's default. pmix is asked for only if this srun has it.
    """
    if family is None:
        from mpikernel.cluster.launcher import built_family

        family = built_family()
    if family != "Open MPI":
        return None
    try:
        out = subprocess.run(["srun", "--mpi=list"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return "pmix" if re.search(r"^\s*pmix\b", out.stdout + out.stderr, re.M) else None


def allocation() -> str | None:
    """The job id of the allocation this process runs in (salloc, a batch job), or None."""
    return os.environ.get("SLURM_JOB_ID") or None


def job_state(job: str) -> tuple[str, str, str] | None:
    """(state, reason, nodes) of a job or step ("1234" / "1234.5") while Slurm lists it, else None."""
    if "." in job:
        cmd = ["squeue", "-h", "-s", "-j", job.split(".")[0], "-o", "%i|%T|%N"]
    else:
        cmd = ["squeue", "-h", "-j", job, "-o", "%i|%T|%r|%N"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return ("UNKNOWN", "squeue timed out", "")
    for line in out.stdout.splitlines():
        parts = line.strip().split("|")
        if parts[0] != job:
            continue
        if "." in job:
            return ("RUNNING", "", parts[2] if len(parts) > 2 else "")
        state, reason, nodes = (parts + ["", "", ""])[1:4]
        return (state, reason, nodes) if state in ACTIVE_STATES else None
    return None


def step_id(job: str, name: str) -> str | None:
    """'JOB.STEP' of the step called `name` in allocation `job`, or None while it is not listed."""
    try:
        out = subprocess.run(["squeue", "-h", "-s", "-j", job, "-o", "%i|%j"],
                             capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return None
    for line in out.stdout.splitlines():
        sid, _, sname = line.strip().partition("|")
        if sname == name:
            return sid
    return None


def cancel(job: str, kill: bool = False) -> None:
    """scancel a job or a step; a job Slurm no longer knows is not an error.

    kill: SIGKILL every process of the job first (batch script included), so that it ends
    without Slurm's KillWait grace: the engines hold no state worth a clean exit.
    """
    cmds = ([["scancel", "--signal=KILL", "--full", job]] if kill and "." not in job else []) + [["scancel", job]]
    for cmd in cmds:
        try:
            subprocess.run(cmd, capture_output=True, timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            pass


@dataclass
class SlurmLaunch:
    """The engines as one srun step (in an allocation) or one batch job: a `launch.Launch`
    (see the module docstring)."""

    n: int
    options: SlurmOptions = field(default_factory=SlurmOptions)

    def __post_init__(self):
        self.allocation = allocation()
        self.job: str | None = None  # "1234" (batch) or "1234.5" (a step of the allocation)
        self.nodes = ""
        self.queued_for = 0.0
        self.process: subprocess.Popen | None = None  # srun, or sbatch --wait
        self.watchdog: subprocess.Popen | None = None
        self.workdir: Path | None = None  # the world's directory: the batch job's output file is there
        self.step_name = f"mpikernel-{secrets.token_hex(4)}"

    @property
    def process_name(self) -> str:
        return "srun" if self.allocation else "the Slurm job"

    def start(self, engine_args, env, log, workdir):
        """Submit; returns once Slurm accepted the request (the job may still be queued)."""
        reason = missing()
        if reason:
            raise SlurmError(f"the slurm launcher needs a working Slurm: {reason}")
        self.workdir = Path(workdir)
        engine_argv = procs.run_module("mpikernel.cluster.slurm") + ["engine", "--owner-host", socket.gethostname()]
        engine_argv += list(engine_args)
        srun = ["srun", f"--ntasks={self.n}", "--kill-on-bad-exit=1", f"--job-name={self.step_name}"]
        mpi = self.options.mpi or default_mpi_plugin()
        if mpi:
            srun.append(f"--mpi={mpi}")
        if self.allocation:
            cmd = srun + self.options.args(allocation=True) + engine_argv
            self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True, env=env)
        else:
            script = "#!/bin/sh\nexec " + shlex.join(srun + engine_argv) + "\n"
            cmd = ["sbatch", "--wait", "--parsable", f"--ntasks={self.n}", "--job-name=mpikernel",
                   f"--output={workdir}/slurm-%j.out", f"--chdir={os.getcwd()}"] + self.options.args(False)
            self.process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                         start_new_session=True, env=env, text=True)
            self.process.stdin.write(script)
            self.process.stdin.close()
            line = self.process.stdout.readline().strip()  # sbatch prints the id once submitted
            if not re.fullmatch(r"\d+(;\S+)?", line):
                self.process.wait(timeout=15)
                said = " ".join(_tail(log).split()[-60:])
                raise SlurmError(f"sbatch refused the job (exit code {self.process.returncode})"
                                 + (f": {said}" if said else ""))
            self.job = line.split(";")[0]
        self._start_watchdog(env)

    def _start_watchdog(self, env):
        args = ["--owner", str(os.getpid()), "--follow", str(self.process.pid)]
        args += ["--job", self.job] if self.job else ["--job", self.allocation, "--step-name", self.step_name]
        self.watchdog = subprocess.Popen(
            procs.run_module("mpikernel.cluster.slurm") + ["watchdog"] + args,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, env=env,
        )

    def wait_running(self, say, check_alive):
        """Block while the job is queued, saying why; the queue time is not start-up time."""
        t0 = time.monotonic()
        if self.allocation:
            say(f"starting a step of {self.n} tasks in allocation {self.allocation}…")
            return
        last = None
        while True:
            check_alive("while the job was queued")
            got = job_state(self.job)
            state, reason, nodes = got or ("GONE", "", "")
            if state == "RUNNING":
                self.nodes = nodes
                self.queued_for = time.monotonic() - t0
                say(f"job {self.job} running on {nodes}…")
                return
            if (state, reason) != last:
                last = (state, reason)
                if state == "PENDING":  # reason None: the scheduler has not looked at it yet
                    given = reason and reason != "None"
                    say(f"queued as job {self.job} ({f'reason: {reason}' if given else 'reason not given yet'})…")
                else:
                    say(f"job {self.job}: {state.lower()}…")
            time.sleep(QUEUE_POLL)

    def find_job_id(self):
        """Inside an allocation: learn the step's id (for scancel and the ready line); the job's nodes."""
        until = time.monotonic() + STEP_LOOKUP
        while self.allocation and self.job is None and time.monotonic() < until:
            self.job = step_id(self.allocation, self.step_name)
            if self.job is None:
                time.sleep(0.2)
        if self.job:
            got = job_state(self.job)
            self.nodes = got[2] if got else self.nodes

    def describe_placement(self) -> str:
        where = f" on {self.nodes}" if self.nodes else ""
        if self.allocation:
            return f"step {self.job or self.step_name} of allocation {self.allocation}{where}"
        queued = f", queued {self.queued_for:.1f} s" if self.queued_for >= 0.05 else ""
        return f"job {self.job}{where}{queued}"

    def failed_transiently(self, log_text) -> bool:
        """Never worth a second submission: it would queue again, outside the start's wait."""
        return False

    def read_deaths(self, log_text, n, first) -> deaths.Deaths:
        """The ranks' own last words in the log (MPI_Abort); srun's report comes in complete_deaths."""
        returncode = self.process.returncode if self.process is not None else None
        return deaths.read_deaths(log_text, n, returncode, "unknown", first=first)

    def complete_deaths(self, report, world_log) -> deaths.Deaths:
        """srun's report names the failed ranks and their exit codes (a moment after the step ended)."""
        report.launcher = "Slurm"
        until = time.monotonic() + SRUN_REPORT
        while True:
            found = self._srun_causes(world_log)
            if found or not any("unknown" in why for why in report.causes.values()) \
                    or time.monotonic() > until:
                break
            time.sleep(0.2)
        report.causes.update(found)
        return report

    def _srun_causes(self, world_log) -> dict[int, str]:
        """srun's report of failed ranks: in the world's log (a step) or the job's output file (batch)."""
        try:
            text = world_log.read_text(errors="replace")
        except (OSError, AttributeError):
            text = ""
        return srun_deaths(text + self.job_output())

    def job_output(self) -> str:
        """What the batch job's step printed (its ranks' start-up errors land there), "" for a step."""
        if not self.job or self.allocation or self.workdir is None:
            return ""
        try:
            return (self.workdir / f"slurm-{self.job}.out").read_text(errors="replace")
        except OSError:
            return ""

    def remote_nodes(self) -> list[str]:
        """Nodes of the job that are not this host (their ranks cannot reach a loopback controller)."""
        return [n for n in expand_nodes(self.nodes) if not _is_here(n)]

    def peer_addresses(self) -> list[str]:
        """Before submitting: the addresses of the nodes other than this host that the ranks may run
        on (the allocation's nodes, else the partition's), so the World knows where to listen."""
        if self.allocation:
            nodes = os.environ.get("SLURM_JOB_NODELIST") or os.environ.get("SLURM_NODELIST") or ""
        else:
            nodes = partition_nodes(self.options.partition)
        return [node_address(n) for n in expand_nodes(nodes) if not _is_here(n)]

    def release(self):
        """A node was lost: cancel the job (or step) at once, so the other nodes are free now."""
        job = self._job_or_step()
        if job:
            cancel(job, kill=True)

    def _job_or_step(self):
        if self.job is None and self.allocation:
            return step_id(self.allocation, self.step_name)
        return self.job

    def stop(self):
        """Cancel the job or step, then end the local sbatch/srun and the watchdog."""
        job = self._job_or_step()
        if job:
            cancel(job, kill=True)
        for proc in (self.process, self.watchdog):
            procs.end_group(proc)
        if job and "." not in job:
            until = time.monotonic() + 8
            while job_state(job) is not None and time.monotonic() < until:
                time.sleep(0.2)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self.process = self.watchdog = None


_SRUN_TASKS = re.compile(r"srun: error: \S+: tasks? ([\d,\-]+): (.+?)\s*$", re.M)


def srun_deaths(text: str) -> dict[int, str]:
    """{rank: why} of the ranks srun reports as failed ("task 1: Exited with exit code 3").

    Tasks Slurm itself ended after the failure ("Terminated", "Killed" by the step's end) are
    not causes and are left out.
    """
    causes = {}
    for m in _SRUN_TASKS.finditer(text or ""):
        what = m.group(2)
        code = re.fullmatch(r"Exited with exit code (\d+)", what)
        if code and code.group(1) == "0" or what in ("Terminated", "Killed"):
            continue
        why = f"exit code {code.group(1)}" if code else what[0].lower() + what[1:]
        for part in m.group(1).split(","):
            lo, _, hi = part.partition("-")
            for r in range(int(lo), int(hi or lo) + 1):
                causes[r] = why
    return causes


def _tail(log, size=8192) -> str:
    """The end of an open log file (it may be write-only: read it through a second descriptor)."""
    try:
        log.flush()
        name = log.name if isinstance(log.name, str) else f"/proc/self/fd/{log.fileno()}"
        with open(name, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - size))
            return f.read().decode(errors="replace")
    except (OSError, AttributeError, ValueError):
        return ""


def _is_here(node: str) -> bool:
    return node in {socket.gethostname(), socket.gethostname().split(".")[0], "localhost"}


def _ask(cmd) -> str:
    """stdout of a Slurm query ("" when it fails or takes over 15 s)."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout if out.returncode == 0 else ""


def partition_nodes(partition: str | None) -> str:
    """The node list of `partition` (None: the default one, marked '*' by sinfo), '' if unknown."""
    for line in _ask(["sinfo", "-h", "-o", "%P|%N"]).splitlines():
        name, _, nodes = line.strip().partition("|")
        if (partition is None and name.endswith("*")) or name.rstrip("*") == partition:
            return nodes
    return ""


def node_address(node: str) -> str:
    """The address Slurm reaches `node` at (its NodeAddr), else the name itself resolved."""
    found = re.search(r"\bNodeAddr=(\S+)", _ask(["scontrol", "show", "node", "-o", node]))
    addr = found.group(1) if found else node
    try:
        return socket.gethostbyname(addr)
    except OSError:
        return addr


def expand_nodes(nodes: str) -> list[str]:
    """'vm' / 'nid[001-003,007]' -> host names (scontrol when present, a simple parser otherwise)."""
    if not nodes:
        return []
    if "[" not in nodes:
        return nodes.split(",")
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodes], capture_output=True, text=True, timeout=15)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return [nodes]


# ----------------------------------------------------------------------- run on the nodes / owner


def engine_main(argv):
    """A rank under Slurm: watch the owner on its host, the slurmstepd elsewhere; then mpikernel.cluster.engine."""
    p = argparse.ArgumentParser(prog="python -m mpikernel.cluster.slurm engine")
    p.add_argument("--owner-host", required=True)
    p.add_argument("--owner", required=True)
    args, rest = p.parse_known_args(argv)
    owner = args.owner if socket.gethostname() == args.owner_host else str(os.getppid())
    _use_the_owners_interface(rest)
    # A session of its own, as hydra gives each rank: the kernel's fair share is per session
    # (autogroup), and srun's tasks share one, so on a busy node 8 ranks got the CPU time of one
    # (measured here: 25 s instead of 4 s to import the engine). Slurm still tracks, signals and
    # kills the rank: proctrack follows parents (or cgroups), not sessions.
    try:
        os.setsid()
    except OSError:
        pass  # already a session leader
    from mpikernel.cluster.engine import main

    main(["--owner", owner] + rest)


def _use_the_owners_interface(engine_args):
    """On a node of a world that spans hosts: the MPI library's TCP traffic on the interface that
    routes to the owner's control address (the cluster network), unless the person chose."""
    from urllib.parse import urlsplit

    from mpikernel.cluster import network, security

    control = engine_args[engine_args.index("--control") + 1] if "--control" in engine_args else ""
    host = urlsplit(control).hostname or ""
    if not host or security.is_loopback(host):
        return
    try:
        interface = network.interface_of(network.route_source(host))
    except OSError:
        return
    if interface:
        for k, v in network.mpi_interface_env(interface).items():
            os.environ.setdefault(k, v)


def watchdog_main(argv):
    """Run scancel when the owner dies; exit quietly when the followed sbatch/srun ends first."""
    p = argparse.ArgumentParser(prog="python -m mpikernel.cluster.slurm watchdog")
    p.add_argument("--owner", type=int, required=True)
    p.add_argument("--follow", type=int, required=True, help="pid of the local sbatch --wait / srun")
    p.add_argument("--job", required=True)
    p.add_argument("--step-name", default=None, help="inside an allocation: the step's name")
    args = p.parse_args(argv)
    import threading

    from mpikernel.cluster.watchdog import wait_for_exit

    gone = threading.Event()
    who = {}

    def watch(pid, label):
        wait_for_exit(pid)
        who.setdefault("first", label)
        gone.set()

    for pid, label in ((args.owner, "owner"), (args.follow, "job")):
        threading.Thread(target=watch, args=(pid, label), daemon=True).start()
    gone.wait()
    if who.get("first") == "owner":
        job = step_id(args.job, args.step_name) if args.step_name else args.job
        if job:
            cancel(job)
        try:
            os.kill(args.follow, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["engine"]:
        return engine_main(argv[1:])
    if argv[:1] == ["watchdog"]:
        return watchdog_main(argv[1:])
    print("usage: python -m mpikernel.cluster.slurm engine|watchdog ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
