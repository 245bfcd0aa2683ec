"""How the engines' MPI job is started, watched and ended: the `Launch` protocol, one class per launcher.

The World owns the controller, the control channel and the engines; a launch owns the MPI job
that runs the engines: `MpiexecLaunch` (one mpiexec on this machine or a hostfile's hosts) and
`mpikernel.cluster.slurm.SlurmLaunch` (an srun step, or a batch job). Each implements all of
`Launch`, so the World never asks which launcher it has; this module alone knows their names.

Signals are not part of the protocol: a SIGINT to mpiexec (or srun) does not reach the ranks,
so the World signals the engines by the pids they reported, or through the control channel.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable, Protocol

from mpikernel.cluster import deaths, launcher, procs
from mpikernel.cluster.slurm import SlurmLaunch, SlurmOptions


class Launch(Protocol):
    """What the World needs of a launcher, from start to the report of how the job ended."""

    process: subprocess.Popen | None
    """The local process whose life is the job's (mpiexec; sbatch --wait or srun); None until started."""

    @property
    def process_name(self) -> str:
        """How sentences name that process: "mpiexec exited with code 1 while starting"."""

    def start(self, engine_args: list[str], env: dict, log, workdir: Path) -> None:
        """Start (or submit) the job of N engines run with `engine_args`; output to the open `log`."""

    def wait_running(self, say: Callable[[str], None], check_alive: Callable[[str], None]) -> None:
        """Block while a scheduler's queue holds the job, saying why (queue time is not start-up time)."""

    def find_job_id(self) -> None:
        """Once every engine connected: learn the scheduler's id and nodes of the job (for stop and
        the ready line)."""

    def describe_placement(self) -> str:
        """Where the ranks run, for the ready line ("job 12 on nid[001-004], queued 3.1 s"); "" for
        mpiexec."""

    def remote_nodes(self) -> list[str]:
        """The job's hosts other than this one (their ranks cannot reach a loopback controller)."""

    def peer_addresses(self) -> list[str]:
        """Before start: addresses of the other hosts the ranks may run on ([] for this host only);
        the World then listens on the interface that reaches them instead of loopback."""

    def failed_transiently(self, log_text: str) -> bool:
        """True if the launcher died before any rank ran, in a known way worth one more try."""

    def job_output(self) -> str:
        """What the ranks wrote outside the world's log (a batch job's output file); "" if nothing."""

    def read_deaths(self, log_text: str, n: int, first: list[int]) -> deaths.Deaths:
        """How the ended job's ranks died, from this launcher's report in the world's log."""

    def complete_deaths(self, report: deaths.Deaths, world_log: Path) -> deaths.Deaths:
        """`report` with what the scheduler itself says of the failed ranks (srun's task errors)."""

    def release(self) -> None:
        """A node was lost whole: end the job now (its nodes go back to the scheduler at once, not
        at %mpi_restart or %mpi_stop); `stop` still follows and reaps."""

    def stop(self) -> None:
        """End the job (scancel for Slurm) and its local process; reap it."""


class MpiexecLaunch:
    """The engines as ONE mpiexec job on this machine (or the hosts of a hostfile): a `Launch`."""

    process_name = "mpiexec"

    settle = 4.0  # seconds the launcher gets to end the job and report once a rank died (World.deaths)

    def __init__(self, n, hostfile=None):
        self.n, self.hostfile = n, hostfile
        self.process: subprocess.Popen | None = None

    def start(self, engine_args, env, log, workdir):
        # MPICH: gforker rather than hydra, whose PMI port would listen on every interface (the
        # hostfile names this host only, mpikernel.front.hostfile: nothing to place)
        gforker = launcher.forking_launcher(launcher.find_mpiexec())
        self.settle = 8.0 if gforker else 4.0  # gforker waits 3 s before it exits (measured)
        cmd = (launcher.forking_command(gforker, self.n) + procs.run_module("mpikernel.cluster.forked") if gforker
               else launcher.mpiexec_command(self.n, hostfile=self.hostfile, extra=_report_flags()))
        self.process = subprocess.Popen(
            cmd + procs.run_module("mpikernel.cluster.engine") + list(engine_args),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            env={**env, **launcher.mpiexec_env()},
        )

    def wait_running(self, say, check_alive):
        """mpiexec starts the ranks at once (no queue)."""

    def find_job_id(self):
        """mpiexec's job has no id beyond its pid."""

    def describe_placement(self):
        return ""

    def remote_nodes(self):
        return []

    def peer_addresses(self):
        return []  # a hostfile names this machine only (mpikernel.front.hostfile)

    def failed_transiently(self, log_text):
        return launcher.failed_to_start(log_text)

    def job_output(self):
        return ""  # everything went to the world's log

    def read_deaths(self, log_text, n, first):
        vendor = launcher.mpiexec_vendor(launcher.find_mpiexec())
        returncode = self.process.returncode if self.process is not None else None
        return deaths.read_deaths(log_text, n, returncode, vendor, first=first)

    def complete_deaths(self, report, world_log):
        return report  # mpiexec's report is all there is

    def release(self):
        procs.end_group(self.process)  # (the returncode stays readable for the report)

    def stop(self):
        procs.end_group(self.process)
        self.process = None


def _report_flags():
    """The options that make this mpiexec report every rank's exit status (none if it cannot be asked)."""
    try:
        return deaths.launcher_flags(launcher.mpiexec_vendor(launcher.find_mpiexec()))
    except Exception:
        return []


def _mpiexec(n, hostfile, slurm):
    return MpiexecLaunch(n, hostfile)


def _slurm(n, hostfile, slurm):
    return SlurmLaunch(n, slurm or SlurmOptions.from_env())


LAUNCHERS: dict[str, Callable[..., Launch]] = {"mpiexec": _mpiexec, "slurm": _slurm}  # name -> factory


def check_launcher(name):
    """ValueError (its sentence for the user) unless `name` is a launcher of LAUNCHERS."""
    if name not in LAUNCHERS:
        raise ValueError(f"unknown launcher {name!r}: use {' or '.join(LAUNCHERS)}")


def make_launch(name, n, hostfile=None, slurm: SlurmOptions | None = None) -> Launch:
    """A fresh, unstarted launch of `n` engines by the launcher called `name` ("mpiexec" or "slurm").

    hostfile: for mpiexec; slurm: the scheduler options (None: those a kernel spec put in the
    environment, `SlurmOptions.from_env`).
    """
    check_launcher(name)
    return LAUNCHERS[name](n, hostfile, slurm)

