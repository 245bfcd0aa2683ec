"""The MPI world: ONE owner for the controller, the engines' MPI job and its engines.

A `World` starts, in its own process groups:

- the ipyparallel controller as ONE process (schedulers in threads, `mpikernel.cluster.controller`),
  listening on 127.0.0.1;
- ONE MPI job of `python -m mpikernel.cluster.engine ...` (`mpiexec -n N`, or Slurm's srun: a
  `launch.Launch`), so engine id == MPI rank.

That is N + 3 processes for N ranks with MPICH's hydra (controller, mpiexec, hydra's proxy,
engines), 2N + 2 with MPICH's gforker on one host (a shield per engine, `forked`: hydra's port
would listen on every interface), instead of ipyparallel's default 2N + 11. Each engine says hello on a control socket of ours
(`control.ControlChannel`) with its pid and host; the World signals engines by those pids (a
SIGINT to mpiexec does not reach them) and asks them where they are while they are busy.

Nothing outlives the owner: `stop()` kills both process groups and reaps them; an `atexit` hook
does the same when the owner exits normally; and every process we start also watches the owner
(`watchdog`), so a SIGKILLed notebook kernel leaves nothing behind either.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field

from mpikernel.cluster import deaths, launcher, network, procs, security, shm
from mpikernel.cluster.control import ControlChannel
from mpikernel.cluster.controller import connection_file_complete
from mpikernel.cluster.launch import check_launcher, make_launch
from mpikernel.cluster.watchdog import pid_alive

START_TIMEOUT = 120.0  # seconds for all engines to connect (4 ranks take ~3 s here)
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


@dataclass
class World:
    """N MPI ranks as ipyparallel engines, owned by this process.

    n: ranks; hostfile: passed to mpiexec; env: extra environment variables for the ranks;
    launcher: "mpiexec" or "slurm" (then `slurm`: a mpikernel.cluster.slurm.SlurmOptions, or None); ip: the
    address the controller and the control channel listen on: loopback unless set (anything else
    warns, see `security.listen_ip`) — except that a world whose ranks run on other hosts listens
    on the address of the interface that routes to them (`network.cluster_address`) when `ip` is
    loopback, since they could not reach loopback; another `ip` overrides that choice.
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
        try:
            check_launcher(self.launcher)
        except ValueError as e:
            raise WorldError(str(e)) from None
        self._launch = None  # a launch.Launch while the world runs
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
        self._segments = set()  # MPI's /dev/shm files the ranks map: removed at stop (shm.py)

    # ----------------------------------------------------------------------------- life cycle

    @property
    def running(self) -> bool:
        return self._launch is not None

    @property
    def _mpiexec(self):
        """The local process whose life is the MPI job's: mpiexec, or Slurm's sbatch --wait / srun."""
        return self._launch.process if self._launch is not None else None

    def start(self, progress=None, timeout=START_TIMEOUT):
        """Start controller and engines; return when all N engines are connected (or raise WorldError)."""
        if self.running:
            raise WorldError("this world is already running; stop it first")
        say = progress or (lambda text: None)
        t0 = time.monotonic()
        try:
            ip = self._listen_ip(say, progress)
        except ValueError as e:
            raise WorldError(str(e)) from None
        procs.sweep_stale_world_dirs()
        atexit.register(self.stop)
        try:
            self._prepare(ip)
            self._start_controller(ip)
            self._start_engines()  # at the same time; each waits for the controller's connection file
            import ipyparallel  # noqa: F401 (slow import: overlaps with the processes starting)

            self._launch.wait_running(say, self._check_alive)  # a batch queue's wait is not start-up
            until = time.monotonic() + timeout
            say(f"starting {self.n} MPI ranks…")
            self._wait_for_hellos(say, until, timeout, ip)
            self.engines = {r: Engine(r, int(h["pid"]), h["host"]) for r, h in self._control.hellos.items()}
            self._segments = shm.mapped_segments(e.pid for e in self.engines.values() if e.local)
            self._watch_deaths()
            self._connect_client(say, until, timeout)
            self.library = self._library_version()
            self._launch.find_job_id()
        except BaseException:
            self.stop()
            raise
        self.needs_reset = False
        self.started_in = time.monotonic() - t0
        return self

    def _listen_ip(self, say, progress):
        """Loopback, the person's --ip, or (ranks on other hosts) the cluster interface's address."""
        asked = str(self.ip or "").strip()
        if asked not in ("", "localhost") and not security.is_loopback(asked):
            return security.listen_ip(self.ip, say=progress)
        peers = make_launch(self.launcher, self.n, self.hostfile, self.slurm).peer_addresses()
        if not peers:
            return security.LOOPBACK
        ip = network.cluster_address(peers)
        where = network.interface_of(ip) or "the interface that reaches them"
        say(f"the ranks may run on other nodes: listening on {ip} ({where}), not on loopback; "
            "every connection needs this world's key")
        return ip

    def _prepare(self, ip):
        """The world's private directory (log, profile, keys) and the control channel."""
        self._dir = security.private_dir(procs.WORLD_DIR_PREFIX)
        self._log = self._dir / "world.log"
        self._control = ControlChannel(ip)

    def _connection_file(self, who):
        """The controller's connection file for "engine" or "client" (in the world's profile)."""
        return self._dir / "profile" / "security" / f"ipcontroller-{who}.json"

    def _start_controller(self, ip):
        with security.private_file(self._log, "ab") as log:
            self._controller = subprocess.Popen(
                procs.run_module("mpikernel.cluster.controller") + [str(os.getpid()), f"--ip={ip}",
                 f"--profile-dir={self._dir / 'profile'}", "--log-level=WARN", "--nodb",
                 "--HeartMonitor.period=500"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                umask=0o077,  # its profile (connection files, logs) readable by the owner only
            )

    def _start_engines(self):
        """A fresh launch of the N engines (ending the one before, if any)."""
        if self._launch is not None:
            self._launch.stop()
        self._launch = make_launch(self.launcher, self.n, self.hostfile, self.slurm)
        engine_args = ["--owner", str(os.getpid()), "--control", self._control.url,
                       "--file", str(self._connection_file("engine"))]
        with security.private_file(self._log, "ab") as log:
            self._launch.start(engine_args, self._engine_env(), log, self._dir)

    def _wait_for_hellos(self, say, until, timeout, ip):
        """Until every rank said hello on the control channel; the launcher is started once more if
        it failed before any rank ran (Open MPI's launcher now and then does)."""
        relaunched = False
        while len(self._control.hellos) < self.n:
            try:
                self._check_alive("while starting")
            except WorldError:
                if relaunched or self._control.hellos or not self._launcher_failed_to_start():
                    raise
                relaunched = True
                say("the launcher failed before starting any rank; starting it once more…")
                self._start_engines()
                continue
            if time.monotonic() > until:
                raise WorldError(self._failure(f"only {len(self._control.hellos)} of {self.n} ranks "
                                               f"started within {timeout:.0f} s" + self._remote_hint(ip)))
            before = len(self._control.hellos)
            self._control.wait_hellos(self.n, min(until, time.monotonic() + 0.2))
            if len(self._control.hellos) != before:
                say(f"{len(self._control.hellos)}/{self.n} ranks initialized MPI…")

    def _connect_client(self, say, until, timeout):
        """Once the controller wrote its connection file: our Client, and every engine connected to it."""
        from ipyparallel import Client

        client_json = self._connection_file("client")
        while not connection_file_complete(client_json):
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

    def _engine_env(self):
        # (not the MPI job of this process, if it imported mpikernel.MPI or was itself launched;
        # the launch adds what its launcher needs, e.g. launcher.mpiexec_env() for mpiexec)
        env = launcher.without_job_variables(os.environ)
        # figures drawn on a rank become display_data that the notebook shows (labelled)
        env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        env.update({str(k): str(v) for k, v in (self.env or {}).items()})
        if security.is_loopback(self._control.url.split("//")[1].rsplit(":", 1)[0]):
            # MPI's own sockets stay on loopback too
            env.update(security.loopback_mpi_env(env, launcher.build_config()))
        env["MPIKERNEL_CONTROL_KEY"] = self._control.key
        env[WORLD_DIR_ENV] = str(self._dir)  # the ranks remove it if the owner dies (watchdog)
        return env

    def _library_version(self):
        from mpikernel.cluster.engine import mpi_library_version

        try:
            return self.client[0].apply_sync(mpi_library_version)
        except Exception:
            return ""

    def _check_alive(self, when):
        watched = [("the controller", self._controller)]
        if self._launch is not None:
            watched.insert(0, (self._launch.process_name, self._launch.process))
        for name, proc in watched:
            if proc is not None and proc.poll() is not None:
                raise WorldError(self._failure(f"{name} exited with code {proc.returncode} {when}"))

    def _launcher_failed_to_start(self):
        """The launcher ended with a known transient start-up failure (Launch.failed_transiently)."""
        if self._mpiexec is None or self._mpiexec.poll() is None or self._controller.poll() is not None:
            return False
        try:
            return self._launch.failed_transiently(self._log.read_text(errors="replace"))
        except OSError:
            return False

    def _failure(self, what):
        tail, cause = "", ""
        try:
            lines = self._log.read_text(errors="replace").splitlines()
            # a batch job's ranks write to the job's own output file (mpikernel.cluster.slurm)
            lines += self._launch.job_output().splitlines() if self._launch is not None else []
            tail = "\n".join(lines[-15:])
            # a rank that refused the launcher or its libmpi said why in one sentence: lead with it
            cause = next((line.split(": ", 1)[-1] for line in lines
                          if "mpikernel.MPI was built against" in line), "")
        except (OSError, AttributeError):
            pass
        return (f"{cause}\n" if cause else "") + f"{what}." + (
            f"\nLast lines of the log:\n{tail}" if tail else "")

    def _remote_hint(self, ip):
        nodes = self._launch.remote_nodes() if self._launch is not None else []
        if not nodes or not security.is_loopback(ip):
            return ""
        return (f" (ranks run on {', '.join(nodes[:4])}, but the controller listens on {ip} of this host "
                "only: start with --ip and an address of this host that the nodes reach)")

    def stop(self):
        """Kill controller, the MPI job and engines (by process group, then by recorded pid) and reap them."""
        atexit.unregister(self.stop)
        if self.client is not None:
            try:
                self.client.close(linger=0)
            except Exception:
                pass
            self.client = None
        pids = {e.pid for e in self.engines.values() if e.local}
        pids |= set(procs.descendants(self._mpiexec.pid if self._mpiexec else None))
        segments = self._segments | shm.mapped_segments(pids)  # read before the ranks are killed
        if self._launch is not None:
            self._launch.stop()  # mpiexec: its process group; Slurm: scancel, then sbatch/srun
        if self._controller is not None:
            procs.kill_group(self._controller.pid)
        for pid in pids:
            procs.kill(pid)
        procs.end_group(self._controller)
        procs.wait_gone(pids, timeout=5)
        shm.remove(segments)  # killed ranks never finalize, so their MPI left these behind
        self._segments = set()
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

    def hosts(self):
        """{rank: host} when some rank runs on another host, else {}: reports on one host name none."""
        if all(e.local for e in self.engines.values()):
            return {}
        return {r: e.host for r, e in self.engines.items()}

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
                procs.kill(e.pid, signal.SIGINT)
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

    def deaths(self, settle=None):
        """mpikernel.cluster.deaths.Deaths once the MPI job ended (or a local rank died); None while all run.

        `settle`: how long a launcher gets to end the job and report after a local rank died
        (hydra takes milliseconds; Open MPI 4's mpirun about 1 s, gforker 3 s, more on a busy
        machine); by default the launch's own `settle`."""
        settle = getattr(self._launch, "settle", 4.0) if settle is None else settle
        job = self._mpiexec
        if job is None:
            return None
        if job.poll() is None:
            dead = self.dead_ranks()
            if not dead:
                return None
            if self._ended is not None:
                return self._ended
            lost = self._lost_nodes(dead)
            if lost:  # the job would hold the other nodes until %mpi_restart: give them back now
                self._launch.release()
                self._ended = deaths.Deaths(n=self.n, causes={r: f"node {h} lost" for h, rs in lost.items()
                                                               for r in rs}, launcher=self.launcher, lost_nodes=lost)
                return self._ended
            try:
                job.wait(timeout=settle)
            except subprocess.TimeoutExpired:  # the launcher did not end the job: say what we know
                return self._launch.complete_deaths(deaths.Deaths(
                    n=self.n, causes={r: "its exit status is unknown" for r in dead}), self._log)
        if self._ended is not None:
            return self._ended
        # the launcher can exit a moment before the failed rank's last words reach the log and
        # before the death watch has seen which rank went first: give them `settle` seconds
        until = time.monotonic() + settle
        while True:
            try:
                log = self._log.read_text(errors="replace")
            except (OSError, AttributeError):
                log = ""
            first = self._death_watch.first() if self._death_watch is not None else None
            report = self._launch.read_deaths(log, self.n, first)
            if report.causes or time.monotonic() > until:
                self._ended = self._launch.complete_deaths(report, self._log)
                return self._ended
            time.sleep(0.05)

    def launch_note(self):
        """Where the ranks run, for the ready line ("job 12 on nid[001-004], queued 3.1 s"); "" for mpiexec."""
        return self._launch.describe_placement() if self._launch is not None else ""

    def _watch_deaths(self):
        """Start noting the order in which local ranks exit (the first one is the one that died)."""
        self._death_watch = deaths.DeathWatch({r: e.pid for r, e in self.engines.items() if e.local})

    def dead_ranks(self):
        """Ranks whose engine is gone: on this host by pid; on other hosts by the controller's
        heartbeat (ipyparallel unregisters an engine that missed 10 beats of 0.5 s)."""
        dead = [r for r, e in sorted(self.engines.items()) if e.local and not pid_alive(e.pid)]
        if self.client is not None and any(not e.local for e in self.engines.values()):
            try:
                connected = set(self.client.ids)
            except Exception:
                connected = set(self.engines)
            dead += [r for r, e in sorted(self.engines.items()) if not e.local and r not in connected]
        return sorted(dead)

    def _lost_nodes(self, dead):
        """{host: its ranks} for the other hosts all of whose ranks are dead (a node lost whole:
        its slurmd is gone with them, so the job may never end by itself)."""
        hosts: dict[str, list[int]] = {}
        for r, e in sorted(self.engines.items()):
            if not e.local:
                hosts.setdefault(e.host, []).append(r)
        return {h: rs for h, rs in hosts.items() if set(rs) <= set(dead)}

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
                pids += procs.descendants(proc.pid)
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

