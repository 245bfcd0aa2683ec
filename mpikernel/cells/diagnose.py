"""Is a cell stuck, and why: the analysis behind the runner's deadlock reports.

The runner samples every rank of a running cell (finished, failed, computing, or blocked in an MPI
call, from the engines' agents, which read `MPI._waiting()`) and asks this module two questions:

- `stuck(states, grace)`: can nobody make progress any more? Only when no rank is computing,
  every unfinished rank is blocked in MPI, at least one has waited longer than the grace period,
  and no blocked rank can be served by another blocked rank (a Send whose peer sits in a matching
  Recv, a collective every rank of its communicator has entered, two ranks both in request
  waits: those are transfers in flight, not deadlocks). The runner also asks for the same
  picture twice in a row before it acts, so a wait that ended between samples is never reported.
- `explain(states)`: the short text a student reads: which ranks wait in which call at which line
  of the cell, what the ranks they wait for did instead, and the usual fix. With hints off
  (`explain(states, hints=False)`, or `with hints(False):` around the cell, or
  MPIKERNEL_HINTS=0) the report still says what every rank is doing, but not how to fix it: an
  exercise about the fix keeps its answer.

Everything here is a pure function of plain data (`RankState`), tested without MPI.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from dataclasses import dataclass
from typing import Iterable, Mapping

from mpikernel.cells import merge as out
from mpikernel.notation import format_bytes, rank_label

FINISHED = "finished"  # the cell ended on this rank without an error
FAILED = "failed"  # the cell raised on this rank
BLOCKED = "blocked"  # waiting inside a blocking MPI call
COMPUTING = "computing"  # running Python (or not answering: assume it works)
OUTSIDE = "outside"  # not running this cell (%%px_mpi --ranks chose others)

HINTS_ENV = "MPIKERNEL_HINTS"  # 0 / no / off / false: reports without the suggested fix
_OFF = {"0", "no", "off", "false"}
_hints: contextvars.ContextVar[bool | None] = contextvars.ContextVar("mpikernel_hints", default=None)

WORLD_NAMES = ("MPI_COMM_WORLD", "COMM_WORLD")
_SENDS = {"send", "ssend", "bsend", "rsend", "sendrecv"}
_RECVS = {"recv", "probe", "mprobe", "sendrecv"}
_REQUEST_WAITS = {"wait", "waitall", "waitany", "waitsome", "test", "testall"}
_COLLECTIVES = {
    "barrier", "bcast", "scatter", "gather", "allgather", "alltoall", "reduce", "allreduce",
    "scan", "exscan", "reduce_scatter", "dup", "split", "create", "_reset_world",
}


@dataclass
class RankState:
    """One rank of a running cell, as sampled by the runner."""

    rank: int
    state: str
    waiting: dict | None = None  # engine.status()["waiting"] when BLOCKED
    line: int | None = None  # line of the cell it is at (BLOCKED/COMPUTING)
    code: str | None = None  # the text of that line
    host: str | None = None  # its node, set only when the world spans hosts (rank_states' hosts)

    @property
    def who(self) -> str:
        """'rank 4', or 'rank 4 on n3' in a world over several hosts."""
        return f"rank {self.rank}" + (f" on {self.host}" if self.host else "")

    @property
    def waited(self) -> float:
        """Seconds this rank has been in its current MPI call (0 when not blocked)."""
        if self.state != BLOCKED or not self.waiting:
            return 0.0
        return float(self.waiting.get("waited") or 0.0)

    @property
    def call(self) -> str:
        """The MPI call's name without the case and the leading I of nonblocking names."""
        name = str((self.waiting or {}).get("call") or "").lower()
        if name.startswith("i") and name[1:] in _SENDS | _RECVS | _COLLECTIVES:
            name = name[1:]
        return name.rstrip("v") if name.rstrip("v") in _COLLECTIVES else name

    @property
    def kind(self) -> str:
        """'collective', 'send', 'recv', 'sendrecv' or 'request' (a wait on request objects)."""
        kind = (self.waiting or {}).get("kind")
        if kind in ("coll", "collective") or self.call in _COLLECTIVES:
            return "collective"
        if self.call == "sendrecv":
            return "sendrecv"
        if self.call in _SENDS:
            return "send"
        if self.call in _RECVS:
            return "recv"
        return "request"

    @property
    def peer(self):
        """The rank it waits for, as a COMM_WORLD rank when the binding says (`world_peer`):
        a sub-communicator's rank 0 need not be world rank 0."""
        w = self.waiting or {}
        return w["world_peer"] if w.get("world_peer") is not None else w.get("peer")

    @property
    def tag(self):
        return (self.waiting or {}).get("tag")

    @property
    def comm(self) -> str:
        return str((self.waiting or {}).get("comm") or "MPI_COMM_WORLD")

    @property
    def on_world(self) -> bool:
        return self.comm in WORLD_NAMES

    def key(self) -> tuple:
        """What must stay the same between two samples for the rank to be "still stuck"."""
        w = self.waiting or {}
        return (self.state, w.get("call"), w.get("peer"), w.get("tag"), w.get("since"), w.get("seq"))


def rank_states(
    ranks: Iterable[int],
    size: int,
    finished: Iterable[int],
    failed: Iterable[int],
    statuses: Mapping[int, dict | None],
    hosts: Mapping[int, str] | None = None,
) -> dict[int, RankState]:
    """Every rank of the world: `ranks` run the cell; `statuses` are the agents' answers for the
    ranks still running (None: did not answer, so it holds the interpreter: computing); `hosts`
    ({rank: node}, only when the ranks span hosts) makes the report say where each rank is."""
    ranks, finished, failed = set(ranks), set(finished), set(failed)
    states = {}
    for r in range(size):
        if r not in ranks:
            states[r] = RankState(r, OUTSIDE)
        elif r in failed:
            states[r] = RankState(r, FAILED)
        elif r in finished:
            states[r] = RankState(r, FINISHED)
        else:
            st = statuses.get(r) or {}
            waiting = st.get("waiting")
            states[r] = RankState(r, BLOCKED if waiting else COMPUTING, waiting, st.get("line"), st.get("code"))
        states[r].host = (hosts or {}).get(r)
    return states


def same_picture(a: Mapping[int, RankState] | None, b: Mapping[int, RankState] | None) -> bool:
    """True when two samples show every rank in the same state and the very same MPI call."""
    if not a or not b or a.keys() != b.keys():
        return False
    return all(a[r].key() == b[r].key() for r in a)


# ------------------------------------------------------------------------------- progress


def _receives_from(receiver: RankState, sender: RankState) -> bool:
    """Could `receiver`'s blocked receive take a message `sender` is blocked sending?"""
    if receiver.kind not in ("recv", "sendrecv") or sender.kind not in ("send", "sendrecv"):
        return False
    if sender.peer != receiver.rank or sender.comm != receiver.comm:
        return False
    if receiver.kind == "sendrecv":  # it reports its destination, not its source: be lenient
        return True
    if receiver.peer not in (sender.rank, "ANY_SOURCE"):
        return False
    return receiver.tag in (sender.tag, "ANY_TAG", None)


def progressing(states: Mapping[int, RankState]) -> set[int]:
    """Blocked ranks that another blocked rank can serve: transfers in flight, not deadlocks."""
    blocked = [s for s in states.values() if s.state == BLOCKED]
    moving: set[int] = set()
    for a in blocked:
        for b in blocked:
            if a is not b and (_receives_from(a, b) or _receives_from(b, a)):
                moving.update((a.rank, b.rank))
    by_comm: dict[str, list[RankState]] = {}
    for s in blocked:
        if s.kind == "collective":
            by_comm.setdefault(s.comm, []).append(s)
    for comm, members in by_comm.items():
        same = len({(m.call, (m.waiting or {}).get("seq")) for m in members}) == 1
        everyone = len(members) == len(states) if comm in WORLD_NAMES else len(members) >= 2
        if same and everyone:
            moving.update(m.rank for m in members)
    waits = [s for s in blocked if s.kind == "request"]
    if len(waits) >= 2:  # request waits name no peer: two of them may be serving each other
        moving.update(s.rank for s in waits)
    return moving


def stuck(states: Mapping[int, RankState], grace: float) -> bool:
    """True when nobody can make progress: see the module docstring."""
    values = list(states.values())
    if any(s.state == COMPUTING for s in values):
        return False
    blocked = [s for s in values if s.state == BLOCKED]
    if not blocked or max(s.waited for s in blocked) < grace:
        return False
    return not progressing(states)


# ---------------------------------------------------------------------------- explanation


def hints_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """False when $MPIKERNEL_HINTS says off (0, no, off, false); on otherwise (the default)."""
    value = (os.environ if environ is None else environ).get(HINTS_ENV, "")
    return value.strip().lower() not in _OFF


@contextlib.contextmanager
def hints(on: bool):
    """Within this block, explain() gives (on) or leaves out (off) the suggested fixes: the
    session wraps each cell in the setting its world was started with (%mpi_start --no-hints)."""
    token = _hints.set(bool(on))
    try:
        yield
    finally:
        _hints.reset(token)


def hints_on() -> bool:
    """The setting explain() uses when not told: the enclosing hints() block, else the environment."""
    value = _hints.get()
    return hints_from_env() if value is None else value



def _comm_text(state: RankState) -> str:
    return "COMM_WORLD" if state.on_world else (state.comm or "a communicator")


def _call_text(state: RankState) -> str:
    """'comm.Send(dest=1, 8 MB) at line 3'."""
    call = out.describe_call(state.waiting, with_bytes=True) or "an MPI call"
    return call + (f" at line {state.line}" if state.line else "")


def _call_number(state: RankState) -> str:
    seq = (state.waiting or {}).get("seq")
    return f"call {seq} on {_comm_text(state)}" if seq is not None else f"on {_comm_text(state)}"


def _label(states: Mapping[int, RankState], ranks: Iterable[int]) -> str:
    """'ranks 0-3', or 'ranks 0-3 on n1, n2' when the states know their hosts."""
    ranks = sorted(ranks)
    hosts = list(dict.fromkeys(states[r].host for r in ranks if states[r].host))
    return rank_label(ranks) + (f" on {', '.join(hosts)}" if hosts else "")


def _waits(ranks: list[int]) -> str:
    return "waits" if len(ranks) == 1 else "wait"


def _others_text(states: Mapping[int, RankState], ranks: Iterable[int], verb: str,
                 mentioned: set[int]) -> list[str]:
    """What `ranks` (which did not join a call) did instead, grouped: 'ranks 1-3 finished the cell
    without calling it'. `verb` names the missing action: 'calling it', 'receiving it', ...
    The ranks are added to `mentioned` (they need no line of their own)."""
    parts: dict[str, list[int]] = {}
    mentioned.update(ranks)
    for r in sorted(ranks):
        s = states[r]
        if s.state == FINISHED:
            text = f"finished the cell without {verb}"
        elif s.state == FAILED:
            text = f"failed before {verb} (see its error above)"
        elif s.state == OUTSIDE:
            text = "did not run this cell (--ranks)"
        elif s.state == BLOCKED:
            text = f"is waiting in {_call_text(s)} instead"
        else:
            text = "is still computing"
        parts.setdefault(text, []).append(r)
    out_ = []
    for text, rs in parts.items():
        if len(rs) > 1:
            text = text.replace("is waiting", "are waiting").replace("is still", "are still")
        out_.append(f"{_label(states, rs)} {text}")
    return out_


def _explain_collectives(states, blocked, mentioned, hints=True) -> tuple[list[str], set[int]]:
    lines, covered = [], set()
    by_comm: dict[str, list[RankState]] = {}
    for s in blocked:
        if s.kind == "collective":
            by_comm.setdefault(s.comm, []).append(s)
    for comm, members in by_comm.items():
        groups: dict[tuple, list[RankState]] = {}
        for m in members:
            groups.setdefault((m.call, (m.waiting or {}).get("seq"), m.peer, m.line), []).append(m)
        said = [
            f"{_label(states, [m.rank for m in g])} {_waits(g)} in {_call_text(g[0])} ({_call_number(g[0])})"
            for g in groups.values()
        ]
        covered.update(m.rank for m in members)
        absent = [r for r in states if r not in covered] if comm in WORLD_NAMES else []
        calls = {(m.call, (m.waiting or {}).get("seq")) for m in members}
        text = " while ".join(said)
        if len(calls) > 1 and hints:
            text += ("; every rank must call the same collectives in the same order (the checking "
                     "mode, MPIKERNEL_CHECK_COLLECTIVES=1, reports such mismatches at once)")
        if absent:
            text += "; " + ", ".join(_others_text(states, absent, "calling it", mentioned))
            if hints:
                text += " - a collective must be called by every rank of the communicator"
        lines.append(text + ".")
    return lines, covered


def _cycles(blocked: dict[int, RankState]) -> list[list[int]]:
    """Cycles of point-to-point waits among blocked ranks (each rank waits for one peer)."""
    nxt = {r: s.peer for r, s in blocked.items()
           if s.kind in ("send", "recv", "sendrecv") and isinstance(s.peer, int) and s.peer in blocked
           and blocked[s.peer].kind in ("send", "recv", "sendrecv")}
    cycles, seen = [], set()
    for start in sorted(nxt):
        path, r = [], start
        while r in nxt and r not in seen and r not in path:
            path.append(r)
            r = nxt[r]
        if r in path:
            cycle = path[path.index(r):]
            cycles.append(cycle)
        seen.update(path)
    return cycles


_CYCLE_FIXES = {
    "send": (" Large messages are not buffered: use Sendrecv, or order the calls by rank (even ranks "
             "send first, odd ranks receive first)."),
    "recv": " One of them must send first (order the calls by rank), or use Sendrecv.",
}


def _explain_cycle(cycle: list[int], blocked: dict[int, RankState], hints: bool = True) -> str:
    parts = [f"{blocked[r].who} waits in {_call_text(blocked[r])}" for r in cycle]
    said = " and ".join(parts) if len(parts) == 2 else ", ".join(parts[:-1]) + ", and " + parts[-1]
    alike = {(blocked[r].waiting or {}).get("call") for r in cycle} | {blocked[r].line for r in cycle}
    if len(cycle) > 2 and len(alike) == 2:  # one call on one line: say it once, then the ring
        first = blocked[cycle[0]]
        ring = " -> ".join(str(r) for r in cycle + cycle[:1])
        size = (first.waiting or {}).get("bytes")
        what = f"{first.waiting.get('call')}" + (f" ({format_bytes(size)})" if size else "")
        said = (f"{_label(blocked, cycle)} each wait in {what}"
                + (f" at line {first.line}" if first.line else "") + f" in a ring {ring}")
    kinds = {blocked[r].kind for r in cycle}
    who = "the other" if len(cycle) == 2 else "the next"
    if kinds == {"send"}:
        return f"{said}; each waits for {who} to receive." + (_CYCLE_FIXES["send"] if hints else "")
    if kinds == {"recv"}:
        return f"{said}; each waits for {who} to send, so nobody sends." + (_CYCLE_FIXES["recv"] if hints else "")
    return f"{said}; each waits for {who}."


def _unexpected_text(state: RankState, hints: bool = True) -> str | None:
    """'a message from rank 0 with tag 1 is waiting to be received' from the binding's list."""
    msgs = (state.waiting or {}).get("unexpected") or []
    if not msgs:
        return None
    texts = []
    for m in msgs[:3]:
        src, tag = m[0], m[1]
        size = format_bytes(m[2]) if len(m) > 2 and m[2] else None
        texts.append(f"a message from rank {src} with tag {tag}" + (f" ({size})" if size else ""))
    more = f" (and {len(msgs) - 3} more)" if len(msgs) > 3 else ""
    verb = "is" if len(texts) == 1 and not more else "are"
    fix = " - check the source and tag (comm.probe(status=st) shows what arrived)" if hints else ""
    return f"{' and '.join(texts)}{more} {verb} waiting to be received{fix}"


def _explain_p2p(state: RankState, states: Mapping[int, RankState], mentioned: set[int],
                 hints: bool = True) -> str:
    text = f"{state.who} waits in {_call_text(state)}"
    peer = state.peer
    reasons = []
    unexpected = _unexpected_text(state, hints)
    if unexpected:  # the likeliest mistake: say it first
        reasons.append(unexpected)
    if isinstance(peer, int) and peer in states:
        other = states[peer]
        if state.kind in ("recv", "sendrecv"):
            if other.state == BLOCKED:
                reasons.append(f"{other.who} waits in {_call_text(other)}"
                               + (" - the tags differ" if other.kind == "send" and other.peer == state.rank else ""))
            else:
                reasons += _others_text(states, [peer], "sending a matching message", mentioned)
        else:
            if other.state == BLOCKED:
                reasons.append(f"{other.who} waits in {_call_text(other)}"
                               + (" - the tags differ" if other.kind == "recv" and other.peer == state.rank else ""))
            else:
                reasons += _others_text(states, [peer], "receiving it", mentioned)
                reasons[-1] += " (a large message waits for its receive)"
    elif state.kind == "recv" and not unexpected:
        reasons.append("no rank sends it a matching message")
    elif state.kind == "request":
        reasons.append("no other rank will complete what it waits for")
    return text + ("; " + "; ".join(reasons) if reasons else "") + "."


def explain(states: Mapping[int, RankState], hints: bool | None = None) -> list[str]:
    """The explanation of a stuck cell, one sentence per line, blocked ranks first; with the
    usual fix unless `hints` is False (None: hints_on())."""
    hints = hints_on() if hints is None else bool(hints)
    blocked = {r: s for r, s in states.items() if s.state == BLOCKED}
    mentioned: set[int] = set()
    lines, covered = _explain_collectives(states, list(blocked.values()), mentioned, hints)
    for cycle in _cycles({r: s for r, s in blocked.items() if r not in covered}):
        lines.append(_explain_cycle(cycle, blocked, hints))
        covered.update(cycle)
    for r, s in sorted(blocked.items()):
        if r not in covered:
            lines.append(_explain_p2p(s, states, mentioned, hints))
    idle = [r for r, s in states.items() if s.state == FINISHED and r not in mentioned]
    failed = [r for r, s in states.items() if s.state == FAILED and r not in mentioned]
    if idle:
        lines.append(f"{_label(states, idle)} finished the cell.")
    if failed:
        lines.append(f"{_label(states, failed)} failed (see above).")
    sources = {}
    for r, s in sorted(blocked.items()):
        if s.line and s.code:
            sources.setdefault((s.line, s.code), []).append(r)
    for (line, code), rs in sorted(sources.items()):
        lines.append(f"    line {line} ({rank_label(rs)}): {code}")
    return lines


def headline(states: Mapping[int, RankState], grace: float) -> str:
    """'deadlock: no rank could make progress for 2 s, so ranks 0-1 were interrupted'."""
    blocked = [r for r, s in states.items() if s.state == BLOCKED]
    return (f"deadlock: no rank could make progress for {grace:g} s, so "
            f"{rank_label(blocked)} {'was' if len(blocked) == 1 else 'were'} interrupted")
