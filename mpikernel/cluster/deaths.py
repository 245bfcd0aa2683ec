"""Why ranks died: turn the launcher's report into "rank 2 died (exit code 1)".

When a rank ends in the middle of a cell (os._exit, a segfault, MPI_Abort, the OOM killer), the
launcher notices and ends every other rank: MPICH's hydra SIGKILLs them, Open MPI's prterun
terminates the job. Nobody is left to answer, so the owner reads what the launcher wrote to the
world's log:

- hydra, started with ``-print-all-exitcodes``, ends with
  ``[mpiexec@host] Exit codes: [host] 9,9,256,9`` — each rank's wait status in rank order; the
  ranks hydra killed show 9 (SIGKILL), the one that failed shows its own status;
- gforker (MPICH's fork-only mpiexec, one host), started with ``-exitinfo``, SIGINTs the others
  (``mpikernel.cluster.forked`` SIGKILLs its engine then) and ends with one line per rank:
  ``[0]2:Return code = 1`` or ``[0]0:Return code = 0, signaled with Killed``; who exited first
  (DeathWatch) names the culprit;
- MPI_Abort prints ``Abort(3) on node 2 (rank 2 in comm 0): ... - process 2`` (and no exit codes);
- Open MPI names "the first process to do so" with its rank and exit code or signal.

Everything here is a pure function of the log text, tested without MPI.
"""

from __future__ import annotations

import os
import re
import select
import signal
import threading
import time
from dataclasses import dataclass, field

from mpikernel.notation import rank_label

_HYDRA_CODES = re.compile(r"Exit codes:\s*((?:\[[^\]]*\]\s*[-\d,]+\s*)+)")
_HYDRA_HOST = re.compile(r"\[[^\]]*\]\s*([-\d,]+)")
_GFORKER = re.compile(r"^\[\d+\](\d+):Return code = (-?\d+)(?:, signaled with (.+?))?\s*$", re.M)
_SIGNAL_BY_TEXT = {signal.strsignal(s): int(s) for s in signal.valid_signals() if signal.strsignal(s)}
_GFORKER_ENDS = {0, signal.SIGKILL, signal.SIGINT, signal.SIGQUIT}  # how gforker (cluster.forked) ends the others
_ABORT = re.compile(r"Abort\((-?\d+)\) on node \d+ \(rank (\d+) in comm 0\)[^\n]*?(?:process (\d+))?\s*$", re.M)
_OMPI_SIGNAL = re.compile(r"process rank (\d+) with PID \d+ on node \S+ exited on\s+signal (\d+)")
# Open MPI 5: [prterun-vm-1@1,2]; Open MPI 4: [[22632,1],2] (the last number is the rank)
_OMPI_EXIT = re.compile(r"Process name:\s*\[.*?,(\d+)\]\s*\n\s*Exit code:\s*(-?\d+)")

_SIGNAL_WORDS = {
    signal.SIGSEGV: "a segmentation fault",
    signal.SIGBUS: "a bus error",
    signal.SIGFPE: "a floating-point exception",
    signal.SIGABRT: "aborted",
    signal.SIGKILL: "killed from outside, by the out-of-memory killer or kill -9",
    signal.SIGTERM: "terminated",
}


def launcher_flags(vendor: str) -> list[str]:
    """mpiexec options that make it report every rank's exit status (hydra only)."""
    return ["-print-all-exitcodes"] if vendor == "MPICH" else []


def describe_status(raw: int) -> str:
    """A wait status as a person reads it: 'exit code 1', 'signal 11, SIGSEGV: a segmentation fault'."""
    sig, code = raw & 0x7F, (raw >> 8) & 0xFF
    if sig:
        return describe_signal(sig)
    return f"exit code {code}"


def describe_signal(sig: int) -> str:
    try:
        name = signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"
    words = _SIGNAL_WORDS.get(sig)
    return f"signal {sig}, {name}" + (f": {words}" if words else "")


@dataclass
class Deaths:
    """Which ranks failed and why (`causes`), and which the launcher ended because of them."""

    n: int
    causes: dict[int, str] = field(default_factory=dict)
    returncode: int | None = None
    launcher: str = "mpiexec"
    all_killed: bool = False  # every rank ended by SIGKILL: one was killed from outside, hydra the rest
    lost_nodes: dict[str, list[int]] = field(default_factory=dict)  # {host: its ranks}: hosts gone whole

    @property
    def ended(self) -> list[int]:
        return [r for r in range(self.n) if r not in self.causes]

    def notes(self) -> dict[int, str]:
        """{rank: note} for the cell's report: the cause on the failed ranks, one shared note on the rest."""
        notes = {r: f"rank {r} died ({why})" for r, why in self.causes.items()}
        if self.lost_nodes:
            return {r: self.sentence() for r in range(self.n)}
        if not self.causes:
            return {r: f"rank {r} was lost: {self.sentence()}" for r in range(self.n)}
        ended = self.ended
        culprits = rank_label(self.causes)
        shared = f"ended by {self.launcher} when {culprits} died (it ends every rank when one fails)"
        for r in ended:
            notes[r] = f"rank {r} was {shared}" if len(ended) == 1 else shared
        return notes

    def sentence(self) -> str:
        """One sentence for %mpi_status and for the next cell: what happened and what to do."""
        hint = "this MPI world is gone: %mpi_restart (or restarting the kernel) starts a new one"
        if self.lost_nodes:
            gone = "; ".join(f"node {h} lost: {rank_label(rs)}" for h, rs in sorted(self.lost_nodes.items()))
            rest = [r for r in range(self.n) if r not in self.causes]
            return f"{gone} (its processes stopped answering); {rank_label(rest)} still ran; {hint}" \
                if rest else f"{gone}; {hint}"
        if not self.causes and self.all_killed:
            return ("every rank was killed by signal 9 (SIGKILL): one was killed from outside (the "
                    f"out-of-memory killer does this) and {self.launcher} ended the others; {hint}")
        if not self.causes:
            code = f" (mpiexec exited with code {self.returncode})" if self.returncode is not None else ""
            return f"the MPI job ended{code}; {hint}"
        died = "; ".join(f"rank {r} died ({why})" for r, why in sorted(self.causes.items()))
        ended = self.ended
        rest = (f"; {self.launcher} then ended {rank_label(ended)}, as it does when one rank fails"
                if ended else "")
        return f"{died}{rest}; {hint}"


def read_deaths(log: str, n: int, returncode: int | None = None, vendor: str = "unknown",
                first: list[int] | None = None) -> Deaths:
    """What the launcher's log says about the end of an n-rank job.

    `first`: the ranks seen to exit first (DeathWatch), i.e. before the launcher ended the rest;
    without it, hydra's statuses decide (the ranks it killed show 9, the failed one its own).
    """
    who = {"MPICH": "MPICH's mpiexec (hydra)", "Open MPI": "Open MPI's mpiexec"}.get(vendor, "mpiexec")
    codes, launcher_ends = hydra_exit_statuses(log), {0, signal.SIGKILL}
    forked = gforker_exit_statuses(log) if not codes else {}
    if forked:
        codes, launcher_ends, who = forked, _GFORKER_ENDS, "MPICH's mpiexec (gforker)"
    d = Deaths(n=n, returncode=returncode, launcher=who)
    for m in _ABORT.finditer(log):
        rank = int(m.group(3) if m.group(3) is not None else m.group(2))
        d.causes[rank] = f"exit code {int(m.group(1))}: it called MPI_Abort"
    if forked and first and not d.causes:  # the others' statuses are what gforker did to them
        d.causes = {r: describe_status(codes[r]) for r in first if r in codes}
    # a status other than the launcher's own way of ending ranks is a rank's own failure
    own = {r: raw for r, raw in codes.items() if raw not in launcher_ends}
    if not d.causes and own:
        d.causes = {r: describe_status(raw) for r, raw in own.items()}
    if not d.causes:  # Open MPI names the first failed rank and its signal or exit code itself
        for m in _OMPI_SIGNAL.finditer(log):
            d.causes.setdefault(int(m.group(1)), describe_signal(int(m.group(2))))
        for m in _OMPI_EXIT.finditer(log):
            d.causes.setdefault(int(m.group(1)), f"exit code {int(m.group(2))}")
    if not d.causes and first:
        for r in first:
            if r in codes:
                d.causes[r] = describe_status(codes[r])
            elif not codes and vendor == "MPICH" and returncode:  # hydra prints no codes after an abort
                d.causes[r] = f"exit code {returncode}: MPI_Abort was called"
            else:
                d.causes[r] = f"exit code {returncode}" if returncode is not None else "exit status unknown"
    if codes and not d.causes:
        d.all_killed = all(raw == signal.SIGKILL for raw in codes.values())
    d.causes = {r: why for r, why in d.causes.items() if 0 <= r < n}
    return d


class DeathWatch:
    """Notes the order in which the engine processes on this host exit (a pidfd each, one thread).

    The launcher ends every rank once one has died, so "who died" is "who exited first". A
    pidfd becomes readable the moment its process exits, before anyone reaps it; the thread
    wakes at once and records the time. Ranks exiting within `TIE` seconds of the first count
    as dying together (the launcher needs longer than that to kill the others).
    """

    TIE = 0.002

    def __init__(self, pids: dict[int, int]):
        self.exits: list[tuple[float, int]] = []  # (monotonic time, rank) in order of exit
        self._fds: dict[int, int] = {}
        opener = getattr(os, "pidfd_open", None)
        for rank, pid in pids.items():
            try:
                self._fds[opener(pid)] = rank
            except (TypeError, OSError):  # no pidfds here, or already gone
                pass
        self._wake_r, self._wake_w = os.pipe()
        self._closing = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="mpikernel-death-watch", daemon=True)
        self._thread.start()

    def _run(self):
        fds, wake = dict(self._fds), self._wake_r  # close() forgets the numbers; this thread keeps its own
        while fds:
            try:
                ready, _, _ = select.select(list(fds) + [wake], [], [])
            except (OSError, ValueError):
                return
            now = time.monotonic()
            if wake in ready:
                return
            for fd in ready:
                self.exits.append((now, fds.pop(fd)))

    def first(self) -> list[int]:
        """The rank(s) that exited first (empty if none has, or pidfds are unavailable)."""
        if not self.exits:
            return []
        t0 = self.exits[0][0]
        return sorted(r for t, r in self.exits if t - t0 <= self.TIE)

    def close(self):
        """Stop the thread and close the descriptors, once: a second call does nothing.

        Closing an fd number twice would close whatever reused it meanwhile (a zmq socket of
        the kernel, say), so the numbers are forgotten as they are closed.
        """
        with self._closing:
            if self._wake_w is None:
                return
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass
            self._thread.join(timeout=1)
            for fd in list(self._fds) + [self._wake_r, self._wake_w]:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._fds = {}
            self._wake_r = self._wake_w = None


def gforker_exit_statuses(log: str) -> dict[int, int]:
    """{rank: wait status} from gforker's -exitinfo lines ("[0]2:Return code = 1", "..., signaled with Quit")."""
    statuses = {}
    for m in _GFORKER.finditer(log):
        sig = _SIGNAL_BY_TEXT.get(m.group(3).strip()) if m.group(3) else 0
        if m.group(3) and sig is None:
            sig = signal.SIGKILL if "kill" in m.group(3).lower() else 0
        statuses[int(m.group(1))] = sig if sig else (int(m.group(2)) & 0xFF) << 8
    return statuses


def hydra_exit_statuses(log: str) -> dict[int, int]:
    """{rank: wait status} from hydra's last 'Exit codes:' line (hosts in order, ranks in order)."""
    found = _HYDRA_CODES.findall(log)
    if not found:
        return {}
    statuses: list[int] = []
    for host_codes in _HYDRA_HOST.findall(found[-1]):
        statuses += [int(c) for c in host_codes.split(",") if c.strip()]
    return dict(enumerate(statuses))
