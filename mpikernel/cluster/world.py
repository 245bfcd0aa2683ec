"""The MPI world: ONE owner for the controller, the mpiexec job and its engines.

A `World` starts, in its own process groups:

- the ipyparallel controller as ONE process (schedulers in threads, `mpikernel.cluster.controller`),
  listening on 127.0.0.1;
- ONE `mpiexec -n N python -m mpikernel.cluster.engine ...` job, so engine id == MPI rank.

That is N + 3 processes for N ranks with MPICH (controller, mpiexec, hydra's proxy, engines)
instead of ipyparallel's default 2N + 11. Each engine says hello on a control socket of ours
(`ControlChannel`) with its pid and host; the World signals engines by those pids (a SIGINT to
mpiexec does not reach them) and asks them where they are while they are busy.

Nothing outlives the owner: `stop()` kills both process groups and reaps them; an `atexit` hook
does the same when the owner exits normally; and every process we start also watches the owner
(`watchdog`), so a SIGKILLed notebook kernel leaves nothing behind either.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from mpikernel.cluster import security
from mpikernel.cluster import deaths
from mpikernel.cluster import launcher
from mpikernel.cluster.watchdog import pid_alive

START_TIMEOUT = 120.0  # seconds for all engines to connect (4 ranks take ~3 s here)
WORLD_DIR_PREFIX = "mpikernel-world-"  # the world's scratch directory in the temp dir: log, profile, keys
WORLD_DIR_ENV = "MPIKERNEL_WORLD_DIR"


class WorldError(RuntimeError):
    """The world could not do what was asked; the message says why and what to do."""

    def _render_traceback_(self):  # IPython/ipykernel: the sentence, not our call stack
        return [f"WorldError: {self}"]


@dataclass
class Engine:
    rank: int
    pid: int
    host: str

    @property
    def local(self) -> bool:
        return self.host in (socket.gethostname(), "localhost", "127.0.0.1")


class ControlChannel:
    """The owner's side of the agents' sockets: a zmq ROUTER bound on loopback (see engine.EngineAgent).

    On a shared machine a random port may have been someone else's a moment ago, and their
    sockets keep reconnecting to it; and anyone on the machine can connect to a loopback port.
    So every message is signed (HMAC-SHA256, `security.signed`) with this world's key, given to
    the ranks in their environment (never on a command line, which `ps` shows to everyone), and
    anything unsigned or signed with another key is dropped unread.
    """

    def __init__(self, ip=security.LOOPBACK):
        import zmq

        self._zmq = zmq
        self.key = security.new_key()
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        port = self.sock.bind_to_random_port(f"tcp://{ip}")
        self.url = f"tcp://{ip}:{port}"
        self.hellos: dict[int, dict] = {}
        self._seq = 0

    def _recv(self, timeout):
        """The next valid (rank, message), or None after `timeout` seconds."""
        until = time.monotonic() + timeout
        while True:
            left = until - time.monotonic()
            if not self.sock.poll(max(0, int(left * 1000))):
                return None
            frames = self.sock.recv_multipart()
            got = self._parse(frames)
            if got is not None:
                return got

    def _parse(self, frames):
        if len(frames) != 3:
            return None
        msg = security.verified(self.key, frames[1:])
        if msg is None:
            return None  # not one of our agents
        try:
            rank = int(frames[0].decode().split("-", 1)[1])
        except (ValueError, IndexError, UnicodeDecodeError):
            return None
        if msg.get("rank") != rank:
            return None  # signed, but sent under another rank's name
        if msg.get("op") == "hello":
            self.hellos[rank] = msg
        return rank, msg

    def wait_hellos(self, n, until):
        while len(self.hellos) < n and time.monotonic() < until:
            self._recv(min(0.1, max(0.0, until - time.monotonic())))
        return len(self.hellos)

    def request(self, ranks, op, timeout=1.0):
        """Send {"op": op} to each rank; {rank: reply or None} once all answered or `timeout` passed."""
        self._seq += 1
        seq = self._seq
        for r in ranks:
            msg = {"op": op, "seq": seq}
            self.sock.send_multipart([f"rank-{r}".encode(), *security.signed(self.key, msg)])
        replies: dict[int, dict | None] = {r: None for r in ranks}
        until = time.monotonic() + timeout
        while any(v is None for v in replies.values()):
            left = until - time.monotonic()
            if left <= 0:
                break
            got = self._recv(left)
            if got is None:
                break
            rank, msg = got
            if msg.get("seq") == seq and rank in replies:
                replies[rank] = msg
        return replies

    def close(self):
        self.sock.close(linger=0)
        self.ctx.term()


class MpiexecLaunch:
    """The engines as ONE mpiexec job on this machine (or the hosts of a hostfile).

    The launch seam of the World: `start` / `wait_running` / `exit_code` / `stop`; the Slurm
    counterpart is `mpikernel.cluster.slurm.SlurmLaunch`.
    """

    name = what = "mpiexec"

    def __init__(self, n, hostfile=None, extra=()):
        self.n, self.hostfile, self.extra, self.proc = n, hostfile, list(extra), None

    def start(self, engine_args, env, log, workdir):
        self.proc = subprocess.Popen(
            launcher.mpiexec_command(self.n, hostfile=self.hostfile, extra=self.extra)
            + _run_module("mpikernel.cluster.engine") + list(engine_args),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            env={**env, **launcher.mpiexec_env()},
        )

    def wait_running(self, say, check_alive):
        """mpiexec starts the ranks at once (no queue)."""

    def find_step(self):
        pass

    def exit_code(self):
        return None if self.proc is None else self.proc.poll()

    def describe(self):
        return ""

    def remote_nodes(self):
        return []

    def stop(self):
        if self.proc is not None:
            _killpg(self.proc.pid)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None


def make_launch(world):
    """The launch object for `world.launcher` ("mpiexec" or "slurm")."""
    if world.launcher == "mpiexec":
        return MpiexecLaunch(world.n, world.hostfile, extra=world._report_flags())
    if world.launcher == "slurm":
        from mpikernel.cluster.slurm import SlurmLaunch, SlurmOptions

        return SlurmLaunch(world.n, world.slurm or SlurmOptions.from_env())
    raise WorldError(f"unknown launcher {world.launcher!r}: use mpiexec or slurm")


@dataclass
class World:
    """N MPI ranks as ipyparallel engines, owned by this process.

    n: ranks; hostfile: passed to mpiexec; env: extra environment variables for the ranks;
    launcher: "mpiexec" or "slurm" (then `slurm`: a mpikernel.cluster.slurm.SlurmOptions, or None); ip: the
    address the controller and the control channel listen on: loopback unless set (anything else
    warns, see `security.listen_ip`).
    """

    n: int = 4
    hostfile: str | None = None
    env: dict = field(default_factory=dict)
    launcher: str = "mpiexec"
    ip: str = security.LOOPBACK
    slurm: object = None

    def __post_init__(self):
        self.n = int(self.n)
        if self.n < 1:
            raise WorldError(f"a world needs at least 1 rank, not {self.n}")
        if self.launcher not in ("mpiexec", "slurm"):
            raise WorldError(f"unknown launcher {self.launcher!r}: use mpiexec or slurm")
        self._launch = None  # MpiexecLaunch or slurm.SlurmLaunch while the world runs
        self.engines: dict[int, Engine] = {}
        self.client = None
        self.library = ""
        self.started_in = None
        self.needs_reset = False
        self._dir = None
        self._control = None
        self._controller = None
        self._log = None
        self._lost = None  # the sentence saying how the MPI job ended, once it has
        self._death_watch = None
        self._ended = None  # the Deaths report once the MPI job has ended (it no longer changes)

    # ----------------------------------------------------------------------------- life cycle

    @property
    def running(self) -> bool:
        return self._launch is not None

    @property
    def _mpiexec(self):
        """The local process whose life is the MPI job's: mpiexec, or Slurm's sbatch --wait / srun."""
        return self._launch.proc if self._launch is not None else None

    def start(self, progress=None, timeout=START_TIMEOUT):
        """Start controller and engines; return when all N engines are connected (or raise WorldError)."""
        if self.running:
            raise WorldError("this world is already running; stop it first")
        say = progress or (lambda text: None)
        t0 = time.monotonic()
        try:
            ip = security.listen_ip(self.ip, say=progress)
        except ValueError as e:
            raise WorldError(str(e)) from None
        sweep_stale_world_dirs()
        self._dir = security.private_dir(WORLD_DIR_PREFIX)
        self._log = self._dir / "world.log"
        profile = self._dir / "profile"
        engine_json = profile / "security" / "ipcontroller-engine.json"
        client_json = profile / "security" / "ipcontroller-client.json"
        atexit.register(self.stop)
        try:
            self._control = ControlChannel(ip)
            log = security.private_file(self._log, "ab")
            owner = str(os.getpid())
            self._controller = subprocess.Popen(
                _run_module("mpikernel.cluster.controller") + [owner, f"--ip={ip}",
                 f"--profile-dir={profile}", "--log-level=WARN", "--nodb",
                 "--HeartMonitor.period=500"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                umask=0o077,  # its profile (connection files, logs) readable by the owner only
            )
            # the engines start at the same time; each waits for the controller's connection file
            self._launch = make_launch(self)
            engine_args = ["--owner", owner, "--control", self._control.url, "--file", str(engine_json)]
            engine_env = self._engine_env()
            self._launch.start(engine_args, engine_env, log, self._dir)
            log.close()
            relaunched = False
            from ipyparallel import Client  # (slow import: overlaps with the processes starting)

            self._launch.wait_running(say, self._check_alive)  # a batch queue's wait is not start-up
            until = time.monotonic() + timeout
            say(f"starting {self.n} MPI ranks…")
            while len(self._control.hellos) < self.n:
                try:
                    self._check_alive("while starting")
                except WorldError:
                    if relaunched or self._control.hellos or not self._launcher_failed_to_start():
                        raise
                    relaunched = True  # Open MPI's launcher now and then fails before any rank runs
                    say("the launcher failed before starting any rank; starting it once more…")
                    self._launch = make_launch(self)
                    with security.private_file(self._log, "ab") as log:
                        self._launch.start(engine_args, engine_env, log, self._dir)
                    continue
                if time.monotonic() > until:
                    raise WorldError(self._failure(f"only {len(self._control.hellos)} of {self.n} ranks "
                                                   f"started within {timeout:.0f} s" + _remote_hint(self._launch, ip)))
                before = len(self._control.hellos)
                self._control.wait_hellos(self.n, min(until, time.monotonic() + 0.2))
                if len(self._control.hellos) != before:
                    say(f"{len(self._control.hellos)}/{self.n} ranks initialized MPI…")
            self.engines = {r: Engine(r, int(h["pid"]), h["host"]) for r, h in self._control.hellos.items()}
            self._watch_deaths()
            while not _complete_json(client_json):  # the controller writes it in place, not atomically
                self._check_alive("while the controller started")
                if time.monotonic() > until:
                    raise WorldError(self._failure("the controller did not start"))
                time.sleep(0.05)
            say("controller ready…")
            self.client = Client(str(client_json), timeout=max(1.0, until - time.monotonic()))
            seen = -1
            while len(self.client.ids) < self.n:
                self._check_alive("while the engines connected")
                if time.monotonic() > until:
                    raise WorldError(self._failure(f"only {len(self.client.ids)} of {self.n} engines "
                                                   f"connected within {timeout:.0f} s"))
                if len(self.client.ids) != seen:
                    seen = len(self.client.ids)
                    say(f"{seen}/{self.n} engines connected…")
                time.sleep(0.05)
            if sorted(self.client.ids) != list(range(self.n)):
                raise WorldError(self._failure(f"engine ids {sorted(self.client.ids)} do not match the ranks"))
            self.library = self._library_version()
            self._launch.find_step()
        except BaseException:
            self.stop()
            raise
        self.needs_reset = False
        self.started_in = time.monotonic() - t0
        return self

    def _engine_env(self):
        # (not the MPI job of this process, if it imported mpikernel.MPI or was itself launched;
        # + launcher.mpiexec_env() for mpiexec: MpiexecLaunch)
        env = launcher.without_job_variables(os.environ)
        # figures drawn on a rank become display_data that the notebook shows (labelled)
        env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        env.update({str(k): str(v) for k, v in (self.env or {}).items()})
        if security.is_loopback(self.ip or security.LOOPBACK):
            # MPI's own sockets stay on loopback too
            env.update(security.loopback_mpi_env(env, launcher.build_config()))
        env["MPIKERNEL_CONTROL_KEY"] = self._control.key
        env[WORLD_DIR_ENV] = str(self._dir)  # the ranks remove it if the owner dies (watchdog)
        return env

    def _library_version(self):
        try:
            text = self.client[0].apply_sync(_library_version)
        except Exception:
            return ""
        return text

    def _check_alive(self, when):
        what = self._launch.what if self._launch is not None else "mpiexec"
        for name, proc in ((what, self._mpiexec), ("the controller", self._controller)):
            if proc is not None and proc.poll() is not None:
                raise WorldError(self._failure(f"{name} exited with code {proc.returncode} {when}"))

    def _launcher_failed_to_start(self):
        """The launcher ended with a known transient start-up failure (launcher.START_FAILURES)."""
        if self._mpiexec is None or self._mpiexec.poll() is None or self._controller.poll() is not None:
            return False
        try:
            return launcher.failed_to_start(self._log.read_text(errors="replace"))
        except OSError:
            return False

    def _failure(self, what):
        tail, cause = "", ""
        try:
            lines = self._log.read_text(errors="replace").splitlines()
            # a batch job's ranks write to the job's own output file (mpikernel.cluster.slurm)
            job_output = getattr(self._launch, "job_output", None)
            lines += job_output(self._dir).splitlines() if job_output else []
            tail = "\n".join(lines[-15:])
            # a rank that refused the launcher or its libmpi said why in one sentence: lead with it
            cause = next((line.split(": ", 1)[-1] for line in lines
                          if "mpikernel.MPI was built against" in line), "")
        except (OSError, AttributeError):
            pass
        return (f"{cause}\n" if cause else "") + f"{what}." + (
            f"\nLast lines of the log:\n{tail}" if tail else "")

    def stop(self):
        """Kill controller, mpiexec and engines (by process group, then by recorded pid) and reap them."""
        atexit.unregister(self.stop)
        if self.client is not None:
            try:
                self.client.close(linger=0)
            except Exception:
                pass
            self.client = None
        pids = [e.pid for e in self.engines.values() if e.local]
        descendants = _descendants(self._mpiexec.pid if self._mpiexec else None)
        if self._launch is not None:
            self._launch.stop()  # mpiexec: its process group; Slurm: scancel, then sbatch/srun
        if self._controller is not None:
            _killpg(self._controller.pid)
        for pid in set(pids) | set(descendants):
            _kill(pid)
        if self._controller is not None:
            try:
                self._controller.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        _wait_gone(set(pids) | set(descendants), timeout=5)
        self._launch = self._controller = None
        self._lost = None
        self._ended = None
        if self._death_watch is not None:
            self._death_watch.close()
            self._death_watch = None
        if self._control is not None:
            self._control.close()
            self._control = None
        self.engines = {}
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def restart(self, progress=None):
        self.stop()
        return self.start(progress=progress)

    # ----------------------------------------------------------------------------- the ranks

    def require_running(self):
        if not self.running or self.client is None:
            raise WorldError("the MPI world is not running; start it with %mpi_start")
        if self.lost():
            raise WorldError(self.lost())

    def view(self, ranks=None):
        """ipyparallel DirectView on `ranks` (default: all)."""
        self.require_running()
        targets = list(range(self.n)) if ranks is None else [int(r) for r in ranks]
        return self.client[targets]

    def where(self, ranks=None, timeout=1.0):
        """{rank: status dict or None} from the agents: busy, line, code, waiting, rss, pid, host."""
        self.require_running()
        ranks = list(range(self.n)) if ranks is None else list(ranks)
        replies = self._control.request(ranks, "status", timeout)
        return {r: (m or {}).get("status") for r, m in replies.items()}

    def interrupt(self, ranks=None):
        """Raise KeyboardInterrupt in the cells running on `ranks` (default all); returns the ranks signalled.

        Each rank's agent checks that a user cell is running and sends SIGINT to its own process,
        so the signal cannot land in ipyparallel's code between two cells (where it would end the
        engine). A rank whose agent does not answer within 0.5 s (its interpreter is held by a
        long call) gets SIGINT straight to its pid, as it is certainly busy; that is also the
        measured way that works (a SIGINT to mpiexec does not reach the ranks).
        """
        self.require_running()
        ranks = list(range(self.n)) if ranks is None else list(ranks)
        self.needs_reset = True
        replies = self._control.request(ranks, "interrupt", timeout=0.5)
        signalled = [r for r, m in replies.items() if m and m.get("sent")]
        for r, m in replies.items():
            e = self.engines.get(r)
            if m is None and e is not None and e.local:
                _kill(e.pid, signal.SIGINT)
                signalled.append(r)
        return sorted(signalled)

    def lost(self):
        """None while every rank runs; else a sentence: which rank died, why, and what to do.

        A rank that dies makes the launcher end all the others (hydra SIGKILLs them); its
        report in the log names the rank and its exit status (see mpikernel.cluster.deaths). A local
        rank found dead while mpiexec still runs gets 2 s for mpiexec to notice and report.
        """
        if self._mpiexec is None:
            return None
        if self._lost is None:
            report = self.deaths()
            if report is not None:
                self._lost = report.sentence()
        return self._lost

    def deaths(self, settle=4.0):
        """mpikernel.cluster.deaths.Deaths once the MPI job ended (or a local rank died); None while all run.

        `settle`: how long a launcher gets to end the job and report after a local rank died
        (hydra takes milliseconds; Open MPI 4's mpirun about 1 s, more on a busy machine)."""
        if self._mpiexec is None:
            return None
        if self._mpiexec.poll() is None:
            dead = self.dead_ranks()
            if not dead:
                return None
            try:
                self._mpiexec.wait(timeout=settle)
            except subprocess.TimeoutExpired:  # mpiexec did not end the job: say what we know
                return self._slurm_deaths(deaths.Deaths(
                    n=self.n, causes={r: "its exit status is unknown" for r in dead}, launcher="mpiexec"))
        vendor = launcher.mpiexec_vendor(launcher.find_mpiexec()) if self.launcher == "mpiexec" else "unknown"
        # the launcher can exit a moment before the failed rank's last words reach the log and
        # before the death watch has seen which rank went first: give them `settle` seconds
        if self._ended is not None:
            return self._ended
        until = time.monotonic() + settle
        while True:
            try:
                log = self._log.read_text(errors="replace")
            except (OSError, AttributeError):
                log = ""
            first = self._death_watch.first() if self._death_watch is not None else None
            report = deaths.read_deaths(log, self.n, self._mpiexec.returncode, vendor, first=first)
            if report.causes or time.monotonic() > until:
                self._ended = self._slurm_deaths(report)
                return self._ended
            time.sleep(0.05)

    def _slurm_deaths(self, report):
        """Under Slurm: srun's own report names the failed ranks and their exit codes."""
        if self.launcher == "slurm" and self._launch is not None:
            report.launcher = "Slurm"
            until = time.monotonic() + 5.0  # srun reports a moment after the step ended
            while True:
                found = self._launch.death_causes(self._log)
                if found or not any("unknown" in why for why in report.causes.values()) \
                        or time.monotonic() > until:
                    break
                time.sleep(0.2)
            report.causes.update(found)
        return report

    def launch_note(self):
        """Where the ranks run, for the ready line ("job 12 on nid[001-004], queued 3.1 s"); "" for mpiexec."""
        return self._launch.describe() if self._launch is not None else ""

    def _watch_deaths(self):
        """Start noting the order in which local ranks exit (the first one is the one that died)."""
        self._death_watch = deaths.DeathWatch({r: e.pid for r, e in self.engines.items() if e.local})

    def dead_ranks(self):
        """Ranks on this host whose engine process is gone."""
        return [r for r, e in sorted(self.engines.items()) if e.local and not pid_alive(e.pid)]

    def _report_flags(self):
        try:
            return deaths.launcher_flags(launcher.mpiexec_vendor(launcher.find_mpiexec()))
        except Exception:
            return []

    def reset_if_needed(self, timeout=10.0):
        """After an interrupt: every rank re-creates COMM_WORLD from the pristine communicator."""
        if not self.needs_reset:
            return False
        from mpikernel.cluster.engine import reset_world

        ar = self.view().apply_async(reset_world)
        if not ar.wait(timeout):
            busy = self.where()
            raise WorldError(
                "the ranks could not be reset after the interrupt "
                f"({', '.join(f'rank {r} is still busy' for r, s in busy.items() if not s or s.get('busy'))}); "
                "restart the world with %mpi_restart"
            )
        ar.get()
        self.needs_reset = False
        return True

    def status(self):
        """One dict per rank: rank, alive, busy, host, pid, rss (bytes), where (line/call if busy).

        After the MPI job ended every rank is dead and "death" says why (see `deaths`).
        """
        if self.running and self.lost():
            notes = self.deaths().notes()
            return [{"rank": r, "pid": e.pid, "host": e.host, "alive": False, "busy": None, "rss": None,
                     "status": None, "death": notes.get(r)} for r, e in sorted(self.engines.items())]
        self.require_running()
        agents = self.where(timeout=1.0)
        rows = []
        for r in range(self.n):
            e = self.engines[r]
            st = agents.get(r)
            rows.append({
                "rank": r, "pid": e.pid, "host": e.host,
                "alive": (pid_alive(e.pid) if e.local else st is not None),
                "busy": None if st is None else bool(st.get("busy")),
                "rss": None if st is None else st.get("rss"),
                "status": st,
            })
        return rows

    def processes(self):
        """Pids of every process this world runs (controller, mpiexec and all it started)."""
        pids = []
        for proc in (self._controller, self._mpiexec):
            if proc is not None and proc.poll() is None:
                pids.append(proc.pid)
                pids += _descendants(proc.pid)
        return pids

    # --------------------------------------------------------------------- data in and out

    def push(self, namespace: dict, ranks=None):
        """Copy names from here to every rank: world.push({"x": 1}). WorldError if the copies cannot fit."""
        from mpikernel.cluster.limits import TransferTooLarge, check_push

        view = self.view(ranks)
        try:
            check_push(namespace, len(view.targets))
        except TransferTooLarge as e:
            raise WorldError(str(e)) from None
        view.push(dict(namespace), block=True)

    def pull(self, name: str, ranks=None):
        """[value on rank r for r in ranks] of a variable named `name`."""
        return self.view(ranks).pull(name, block=True)

    def scatter(self, name: str, seq, ranks=None):
        """Split `seq` into contiguous parts, one per rank (rank order), bound to `name` on each."""
        self.view(ranks).scatter(name, seq, block=True)

    def gather(self, name: str, ranks=None):
        """The parts bound to `name` on the ranks, concatenated in rank order (inverse of scatter)."""
        return self.view(ranks).gather(name, block=True)


def _remote_hint(launch, ip):
    nodes = launch.remote_nodes() if launch is not None else []
    if not nodes or not security.is_loopback(ip):
        return ""
    return (f" (ranks run on {', '.join(nodes[:4])}, but the controller listens on {ip} of this host "
            "only: start with --ip and an address of this host that the nodes reach)")


def _complete_json(path) -> bool:
    """True once `path` holds a whole JSON document (a reader racing the writer sees half of it)."""
    try:
        json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    return True


def _run_module(module):
    """argv that runs `module` of THIS mpikernel, like `python -m module`.

    `python -m` would put the working directory first on sys.path, so a notebook opened in a
    source tree (or next to any folder named mpikernel) would start ranks with another build
    than the owner's. The ranks keep the working directory on their path for the user's modules.
    """
    import mpikernel

    home = str(Path(mpikernel.__file__).resolve().parent.parent)
    boot = (f"import sys, runpy; sys.path.insert(0, {home!r}); "
            f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")
    return [sys.executable, "-c", boot]


def _library_version():
    from mpikernel import MPI

    try:
        first = " ".join(MPI.Get_library_version().strip().splitlines()[0].split())
        return first.split(",")[0]  # "MPICH Version: 5.0.2", "Open MPI v5.0.11" (not its build details)
    except Exception:
        return ""


def _killpg(pid, sig=signal.SIGKILL):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pids, timeout):
    """Wait until none of `pids` is alive (zombies of reparented ranks count as gone)."""
    until = time.monotonic() + timeout
    while any(pid_alive(p) for p in pids) and time.monotonic() < until:
        time.sleep(0.02)


def sweep_stale_world_dirs(min_age=60.0):
    """Remove this user's world directories that no running process uses (left by killed owners).

    A directory is in use while some process names it on its command line (the controller's
    --profile-dir); a fresh one (younger than `min_age` seconds) may belong to a world starting
    right now in another process, so it is left alone. Returns the directories removed.
    """
    tmp = Path(tempfile.gettempdir())
    candidates = [d for d in tmp.glob(WORLD_DIR_PREFIX + "*")
                  if d.is_dir() and not d.is_symlink() and _owned_and_old(d, min_age)]
    if not candidates:
        return []
    try:
        import psutil

        in_use = " ".join(" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"]))
    except Exception:
        return []
    removed = []
    for d in candidates:
        if str(d) not in in_use:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def _owned_and_old(path, min_age):
    try:
        st = path.stat()
    except OSError:
        return False
    return st.st_uid == os.getuid() and time.time() - st.st_mtime > min_age


def _descendants(pid):
    if pid is None:
        return []
    try:
        import psutil

        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except Exception:
        return []
