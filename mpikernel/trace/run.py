"""Tracing a cell: who sent what to whom, and when (`%%px_mpi --trace`, `%%trace` in the kernel).

The binding records the events (`MPI._trace_start/_trace_stop`, see docs/binding.md); this module
is everything between those records and the pictures in `mpikernel.trace.draw`:

- on the ranks (functions called through ipyparallel's apply, importable on every engine):
  `_engine_clock_offsets` measures each rank's `MPI.Wtime` offset against rank 0 with a few
  ping-pongs over MPI; `_engine_arm` makes the rank's NEXT cell run traced (IPython's
  pre/post_run_cell hooks start and stop the binding's recorder around exactly the user's code);
  `_engine_collect` hands the record back.
- in the owner: `run_traced` wraps the one cell runner (`mpikernel.cells.runner.run_cell`), and `Trace`
  turns the ranks' records into aligned calls, matched messages and grouped collectives.

Matching follows MPI's non-overtaking rule: on one communicator, the k-th message from A to B
with tag t is received by the k-th receive on B from A with tag t (receives in the order they
were posted). Collectives are grouped by (communicator, call number on it).

Clocks: `MPI.Wtime` on one host is one clock, but not across hosts, so every traced cell measures
offsets to rank 0 first; an offset smaller than its own measurement error is taken as 0 (on one
host the measured "offsets" are only noise).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace

DEFAULT_CAPACITY = 65536  # events per rank (the binding's ring buffer keeps the newest)
CLOCK_ROUNDS = 8  # ping-pongs per rank; the one with the shortest round trip counts
COLLECT_TIMEOUT = 10.0  # seconds to wait for the ranks' records after the cell

SEND_KINDS = ("send",)
RECV_KINDS = ("recv",)


# =============================================================================== on the ranks


def _binding():
    from mpikernel import MPI

    return MPI


def _engine_clock_offsets(rounds: int = CLOCK_ROUNDS):
    """Collective on COMM_WORLD: {rank: (offset, error)} on rank 0 (None elsewhere).

    offset = this rank's Wtime minus rank 0's at the same instant, within +-error seconds (half the
    shortest round trip). Runs on a private dup of COMM_WORLD so no user message can match it.
    """
    MPI = _binding()
    comm = MPI.COMM_WORLD.Dup()
    try:
        rank, size = comm.Get_rank(), comm.Get_size()
        if rank != 0:
            for _ in range(rounds):
                comm.recv(source=0, tag=7)
                comm.send(MPI.Wtime(), dest=0, tag=7)
            return None
        found = {0: (0.0, 0.0)}
        for r in range(1, size):
            best = None
            for k in range(rounds):
                ta = MPI.Wtime()
                comm.send(k, dest=r, tag=7)
                tr = comm.recv(source=r, tag=7)
                tb = MPI.Wtime()
                est = (tr - (ta + tb) / 2, (tb - ta) / 2)
                if best is None or est[1] < best[1]:
                    best = est
            found[r] = best
        return found
    finally:
        comm.Free()


def _engine_can_record() -> bool:
    """Whether this rank's binding has the recorder (builds before it do not)."""
    return hasattr(_binding(), "_trace_start")


_STATE: dict | None = None  # this rank's traced cell, from _engine_arm to _engine_collect


def _engine_arm(capacity: int = DEFAULT_CAPACITY) -> bool:
    """Trace this rank's next cell: start the recorder when it begins, stop it when it ends."""
    global _STATE
    MPI = _binding()
    if not hasattr(MPI, "_trace_start"):
        raise RuntimeError("this build of mpikernel.MPI cannot record MPI calls (no MPI._trace_start)")
    from IPython import get_ipython

    _engine_collect()  # a previous arm that was never collected
    state = {"capacity": int(capacity), "start": None, "end": None, "record": None}

    def begin(*_):
        state["start"] = MPI.Wtime()
        MPI._trace_start(state["capacity"])

    def end(*_):
        try:
            state["record"] = MPI._trace_stop()
        finally:
            state["end"] = MPI.Wtime()
            _unhook(state)

    state["hooks"] = (get_ipython().events, begin, end)
    state["hooks"][0].register("pre_run_cell", begin)
    state["hooks"][0].register("post_run_cell", end)
    _STATE = state
    return True


def _unhook(state):
    events, begin, end = state["hooks"]
    for name, fn in (("pre_run_cell", begin), ("post_run_cell", end)):
        try:
            events.unregister(name, fn)
        except ValueError:
            pass  # already gone


def _engine_collect() -> dict:
    """This rank's record of the traced cell (stopping the recorder if the cell never ended it)."""
    import socket

    global _STATE
    state, _STATE = _STATE, None
    if state is None:
        return {"record": None, "start": None, "end": None, "host": socket.gethostname()}
    _unhook(state)
    if state["record"] is None and state["start"] is not None:  # the end hook never ran
        MPI = _binding()
        state["end"] = MPI.Wtime()
        state["record"] = MPI._trace_stop()
    return {"record": state["record"], "start": state["start"], "end": state["end"],
            "host": socket.gethostname()}


# ============================================================================ the trace itself


@dataclass
class Call:
    """One MPI call on one rank; times in seconds since the trace's origin, on rank 0's clock."""

    rank: int
    name: str
    kind: str
    comm: str
    start: float
    end: float  # return time; for a pending call, when the rank stopped (its cell ended)
    peer: int | None = None
    tag: int | None = None
    nbytes: int = 0
    root: int | None = None
    seq: int | None = None
    done: float | None = None  # completion time of a nonblocking operation
    wait: float = 0.0  # seconds spent in the wait loop
    req: object = None
    pending: bool = False
    raw: dict = field(default_factory=dict, repr=False)

    def describe(self) -> str:
        """'recv from rank 1, tag 0' — how the tables name a call."""
        if self.kind in ("send",):
            return f"{self.name} to rank {self.peer}, tag {self.tag}"
        if self.kind in ("recv", "probe"):
            src = f"rank {self.peer}" if _known(self.peer) else "any rank"
            tag = self.tag if _known(self.tag) else "any"
            return f"{self.name} from {src}, tag {tag}"
        if self.kind == "sendrecv":
            parts = [f"{word} rank {p}" for word, p in (("to", self.raw.get("dest")), ("from", self.raw.get("source")))
                     if _known(p)]
            return f"{self.name} {' / '.join(parts)}".rstrip() if parts else f"{self.name} with PROC_NULL"
        if self.kind == "coll":
            where = "" if self.comm in ("COMM_WORLD", None) else f" on {self.comm}"
            root = f" (root {self.root})" if _known(self.root) else ""
            return f"{self.name}{root}{where}"
        return self.name


@dataclass
class Message:
    """A point-to-point message: from the send's start on src to the receive's completion on dst."""

    src: int
    dst: int
    tag: int
    comm: str
    nbytes: int
    sent: float  # when the send was posted
    received: float  # when the receive completed
    send_call: Call
    recv_call: Call


@dataclass
class Collective:
    """One collective operation: the calls with the same (comm, seq) on every participating rank."""

    comm: str
    seq: int
    name: str
    root: int | None
    calls: dict[int, Call]

    @property
    def start(self) -> float:
        return min(c.start for c in self.calls.values())

    @property
    def end(self) -> float:  # a nonblocking collective (Ibcast) ends when its Wait completed it
        return max(max(c.end, c.done or c.end) for c in self.calls.values())

    @property
    def ranks(self) -> list[int]:
        return sorted(self.calls)


def _known(x) -> bool:
    """False for None and the negative wildcards (ANY_SOURCE, ANY_TAG, PROC_NULL, no root)."""
    return x is not None and not (isinstance(x, int) and x < 0)


@dataclass
class Trace:
    """The aligned, matched trace of one cell on some ranks."""

    ranks: list[int]
    calls: dict[int, list[Call]]
    spans: dict[int, tuple[float, float]]  # per rank: (cell start, cell end), aligned
    offsets: dict[int, float] = field(default_factory=dict)  # Wtime offset subtracted per rank
    offset_errors: dict[int, float] = field(default_factory=dict)
    dropped: dict[int, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    collectives: list[Collective] = field(default_factory=list)
    unmatched: list[Call] = field(default_factory=list)  # completed sends/receives with no partner

    # ------------------------------------------------------------------ building

    @classmethod
    def from_records(cls, records, offsets=None, spans=None, waiting=None, notes=None) -> "Trace":
        """Build from the ranks' records (the binding's dicts, or {rank: record}).

        offsets: {rank: seconds} or {rank: (seconds, error)} to subtract from that rank's Wtime
        (default 0). spans: {rank: (start, end)} Wtime of the cell on that rank (default: its
        first and last event). waiting: {rank: MPI._waiting() dict} of ranks that were stopped in a
        blocking call — used to mark the pending call when the record does not hold it.
        """
        if isinstance(records, dict):
            records = [dict(rec, rank=rec.get("rank", r)) for r, rec in records.items() if rec is not None]
        records = [r for r in records if r is not None]
        off, err = {}, {}
        for r, v in (offsets or {}).items():
            off[int(r)], err[int(r)] = (v if isinstance(v, tuple) else (v, 0.0))
        raw_spans = {int(k): v for k, v in (spans or {}).items()}
        calls: dict[int, list[Call]] = {}
        starts = {}
        dropped = {}
        for rec in records:
            r = int(rec["rank"])
            events = list(rec.get("events") or [])
            if rec.get("dropped"):
                dropped[r] = int(rec["dropped"])
            s = raw_spans.get(r, (None, None))
            first = min((e["t0"] for e in events if e.get("t0") is not None), default=None)
            last = max((_last_time(e) for e in events), default=None)
            start = s[0] if s[0] is not None else first
            end = s[1] if s[1] is not None else last
            if start is None:
                start = end = 0.0
            starts[r] = (start, max(end if end is not None else start, last if last is not None else start))
            calls[r] = [_call(r, e, starts[r][1]) for e in events]
        for r, w in (waiting or {}).items():
            r = int(r)
            if w and r in calls and not any(c.pending for c in calls[r]):
                calls[r].append(_pending_from_waiting(r, w, starts[r][1]))
        origin = min((starts[r][0] - off.get(r, 0.0) for r in starts), default=0.0)
        aligned_spans = {}
        for r in calls:
            shift = off.get(r, 0.0) + origin
            for c in calls[r]:
                c.start -= shift
                c.end -= shift
                if c.done is not None:
                    c.done -= shift
            calls[r].sort(key=lambda c: (c.start, c.end))
            aligned_spans[r] = (starts[r][0] - shift, starts[r][1] - shift)
        tr = cls(ranks=sorted(calls), calls=calls, spans=aligned_spans, offsets=off,
                 offset_errors=err, dropped=dropped, notes=list(notes or []))
        for r, n in sorted(dropped.items()):
            tr.notes.append(f"rank {r}: {n} older events were dropped (the buffer holds the newest; "
                            "raise the capacity with --trace-capacity)")
        tr._match()
        return tr

    def _match(self):
        """Pair sends with receives (non-overtaking rule) and group collectives by (comm, seq)."""
        sends: dict[tuple, list] = {}
        recvs: dict[tuple, list] = {}
        for r, calls in self.calls.items():
            for c in calls:
                for half in _halves(c):
                    side, peer, tag, nbytes, posted, completed = half
                    if side == "send" and _known(peer):
                        sends.setdefault((c.comm, r, peer), []).append((posted, tag, nbytes, c))
                    elif side == "recv" and _known(peer) and not c.pending:
                        recvs.setdefault((c.comm, peer, r), []).append((posted, tag, nbytes, completed, c))
        for key, rlist in recvs.items():
            slist = sorted(sends.get(key, []), key=lambda s: s[0])
            used = [False] * len(slist)
            for posted, tag, nbytes, completed, rc in sorted(rlist, key=lambda x: x[0]):
                for i, (sposted, stag, sbytes, sc) in enumerate(slist):
                    if not used[i] and (stag == tag or not _known(tag)):
                        used[i] = True
                        comm, src, dst = key
                        self.messages.append(Message(src, dst, stag, comm, sbytes or nbytes,
                                                     sposted, completed, sc, rc))
                        break
                else:
                    self.unmatched.append(rc)
            sends[key] = [s for s, u in zip(slist, used) if not u]
        for rest in sends.values():
            self.unmatched.extend(s[3] for s in rest if not s[3].pending)
        self.messages.sort(key=lambda m: (m.sent, m.src))
        groups: dict[tuple, Collective] = {}
        for r, calls in self.calls.items():
            for c in calls:
                if c.kind == "coll":
                    key = (c.comm, c.seq if c.seq is not None else id(c))
                    g = groups.get(key)
                    if g is None:
                        g = groups[key] = Collective(c.comm, c.seq, c.name, c.root, {})
                    g.calls[r] = c
        self.collectives = sorted(groups.values(), key=lambda g: g.start)

    # ------------------------------------------------------------------ questions

    @property
    def pending(self) -> list[Call]:
        return [c for r in self.ranks for c in self.calls[r] if c.pending]

    @property
    def duration(self) -> float:
        return max((e for _, e in self.spans.values()), default=0.0)

    def pair_summary(self) -> dict[tuple[int, int], dict]:
        """{(src, dst): {"count", "bytes", "tags"}} over all matched messages."""
        out: dict[tuple[int, int], dict] = {}
        for m in self.messages:
            p = out.setdefault((m.src, m.dst), {"count": 0, "bytes": 0, "tags": set()})
            p["count"] += 1
            p["bytes"] += m.nbytes or 0
            p["tags"].add(m.tag)
        return out

    def rank_stats(self) -> list[dict]:
        """Per rank: time in MPI vs computing, messages/bytes sent/received, the longest wait."""
        rows = []
        for r in self.ranks:
            start, end = self.spans[r]
            span = max(end - start, 0.0)
            in_mpi = _union_length([(c.start, c.end) for c in self.calls[r]])
            halves = [h for c in self.calls[r] if not c.pending  # a pending call moved nothing yet
                      for h in _halves(c) if _known(h[1])]  # PROC_NULL: no message
            sent = [h for h in halves if h[0] == "send"]
            recv = [h for h in halves if h[0] == "recv"]
            longest = max(self.calls[r], key=_waited, default=None)
            rows.append({
                "rank": r,
                "span": span,
                "mpi": min(in_mpi, span) if span else in_mpi,
                "compute": max(span - in_mpi, 0.0),
                "calls": len(self.calls[r]),
                "sent": len(sent),
                "bytes_sent": sum(h[3] or 0 for h in sent),
                "received": len(recv),
                "bytes_received": sum(h[3] or 0 for h in recv),
                "longest_wait": _waited(longest) if longest else 0.0,
                "longest_wait_for": (longest.describe() + (" (pending)" if longest.pending else ""))
                if longest and _waited(longest) > 0 else "",
                "pending": [c.describe() for c in self.calls[r] if c.pending],
            })
        return rows


def _waited(c: Call) -> float:
    if c.pending:
        return max(c.end - c.start, 0.0)
    return c.wait if c.wait else max(c.end - c.start, 0.0)


def _last_time(e: dict) -> float:
    return max(t for t in (e.get("t0"), e.get("t1"), e.get("done")) if t is not None)


def _call(rank: int, e: dict, rank_end: float) -> Call:
    pending = bool(e.get("pending"))
    t0 = float(e["t0"])
    t1 = e.get("t1")
    t1 = float(rank_end if (t1 is None or pending) and rank_end is not None else (t1 if t1 is not None else t0))
    return Call(
        rank=rank, name=str(e.get("call", "?")), kind=str(e.get("kind", "other")),
        comm=str(e["comm"]) if e.get("comm") is not None else "",  # None: Wait/Test calls
        start=t0, end=max(t1, t0),
        peer=e.get("peer"), tag=e.get("tag"), nbytes=int(e.get("bytes") or 0), root=e.get("root"),
        seq=e.get("seq"), done=e.get("done"), wait=float(e.get("wait") or 0.0), req=e.get("req"),
        pending=pending, raw=dict(e),
    )


_CALL_KINDS = {"send": "send", "ssend": "send", "isend": "send", "issend": "send",
               "recv": "recv", "irecv": "recv", "sendrecv": "sendrecv", "probe": "probe",
               "iprobe": "probe", "wait": "wait", "waitall": "wait", "test": "wait"}


def _pending_from_waiting(rank: int, w: dict, rank_end: float) -> Call:
    """A pending Call from the agent's MPI._waiting() answer (when the record lacks it)."""
    name = str(w.get("call", "?"))
    kind = w.get("kind") or _CALL_KINDS.get(name.lower(), "coll" if name.lower() not in ("", "?") else "other")
    peer = w.get("peer")
    tag = w.get("tag")
    since = w.get("since")
    return Call(rank=rank, name=name, kind=kind, comm=str(w.get("comm") or "COMM_WORLD").replace("MPI_", ""),
                start=float(since if since is not None else rank_end), end=float(rank_end),
                peer=peer if isinstance(peer, int) else None, tag=tag if isinstance(tag, int) else None,
                nbytes=int(w.get("bytes") or 0), pending=True, raw=dict(w))


def _halves(c: Call):
    """(side, peer, tag, bytes, posted, completed) for each message end this call is."""
    completed = c.done if c.done is not None else c.end
    if c.kind in SEND_KINDS:
        yield ("send", c.peer, c.tag, c.nbytes, c.start, completed)
    elif c.kind in RECV_KINDS:
        yield ("recv", c.peer, c.tag, c.nbytes, c.start, completed)
    elif c.kind == "sendrecv":
        r = c.raw
        yield ("send", r.get("dest"), r.get("sendtag"), int(r.get("sendbytes") or 0), c.start, c.end)
        yield ("recv", r.get("source"), r.get("recvtag"), int(r.get("recvbytes") or 0), c.start, c.end)


def _union_length(intervals) -> float:
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_s
    return total


# ============================================================================ in the owner


def measure_clock_offsets(world, rounds: int = CLOCK_ROUNDS, timeout: float = 10.0) -> dict[int, tuple]:
    """{rank: (offset, error)} of every rank's Wtime against rank 0's (all ranks take part)."""
    ar = world.view().apply_async(_engine_clock_offsets, rounds)
    results = ar.get(timeout=timeout)
    return {int(r): tuple(v) for r, v in results[0].items()}


def effective_offsets(measured: dict[int, tuple]) -> dict[int, tuple]:
    """Offsets smaller than their error are noise (one host shares one clock): taken as 0."""
    return {r: ((o, e) if abs(o) > e else (0.0, e)) for r, (o, e) in measured.items()}


def parse_trace_option(value) -> str | None:
    """--trace's value: True/'' (show only) -> None; a file name ending .json, .png or .svg."""
    if value in (True, None, ""):
        return None
    path = str(value)
    if not path.lower().endswith((".json", ".png", ".svg")):
        raise ValueError(f"--trace={path}: the file name must end in .json (Chrome trace for Perfetto), "
                         ".png or .svg (the diagram)")
    return path


def run_traced(world, code, options, screen, run_cell):
    """Run the cell through `run_cell` with the recorder on, then show (and save) its trace.

    The trace is shown even when the cell failed, timed out or was interrupted (the picture of a
    deadlock), and the cell's error is raised after it.
    """
    from mpikernel.cells.runner import RanksError, RanksInterrupted

    from mpikernel.trace import draw as tracedraw

    save_to = parse_trace_option(options.trace)
    tracedraw.preload()
    plain = replace(options, trace=False)
    ranks = list(range(world.n)) if options.ranks is None else sorted(options.ranks)
    world.require_running()
    world.reset_if_needed()
    try:
        measured = measure_clock_offsets(world)
    except Exception as e:  # not fatal: the ranks share a clock when on one host
        measured, clock_note = {}, f"clock offsets could not be measured ({e}); assuming one clock"
    else:
        clock_note = None
    if not all(world.view(ranks).apply_sync(_engine_can_record)):
        from IPython.core.error import UsageError

        raise UsageError("--trace needs a binding that records MPI calls, and this build of "
                         "mpikernel.MPI has no recorder (MPI._trace_start): rebuild it from this source")
    world.view(ranks).apply_sync(_engine_arm, options.trace_capacity)
    error = None
    result = None
    try:
        result = run_cell(world, code, plain, screen)
    except (RanksError, RanksInterrupted) as e:
        error, result = e, e.result
    except BaseException:
        _collect(world, ranks, [], timeout=2.0)  # disarm; the error is what matters
        raise
    unresponsive = list(result.unresponsive) if result is not None else []
    got, notes = _collect(world, ranks, unresponsive)
    if clock_note:
        notes.append(clock_note)
    tr = Trace.from_records(
        {r: g["record"] for r, g in got.items()},
        offsets=effective_offsets(measured),
        spans={r: (g["start"], g["end"]) for r, g in got.items()},
        waiting=getattr(result, "waiting", None),
        notes=notes,
    )
    try:
        fig = tracedraw.figure(tr)
    except ImportError:
        fig = None  # no matplotlib: display_bundle says so, the table still shows
    if save_to:
        try:
            tracedraw.save(tr, save_to, fig)
        except (OSError, ImportError) as e:
            tr.notes.append(f"the trace could not be saved to {save_to}: {e}")
        else:
            tr.notes.append(f"trace saved to {save_to}")
    screen.rich(tracedraw.display_bundle(tr, fig))
    _LAST[0] = tr
    if error is not None:
        raise error
    return result


_LAST: list = [None]


def last_trace() -> Trace | None:
    """The Trace of the last traced cell in this process (for tracedraw, chrome_trace, ...)."""
    return _LAST[0]


def _collect(world, ranks, skip, timeout: float = COLLECT_TIMEOUT):
    """({rank: collected dict}, notes) from every rank that can still answer."""
    notes = []
    asked = [r for r in ranks if r not in skip]
    for r in skip:
        notes.append(f"rank {r} did not stop, so its events are missing")
    got = {}
    if not asked or world.lost():
        return got, notes
    ar = world.view(asked).apply_async(_engine_collect)
    until = time.monotonic() + timeout
    while not ar.ready() and time.monotonic() < until:
        time.sleep(0.02)
    for r, child in zip(asked, ar._children):
        if not child.done():
            notes.append(f"rank {r} did not hand over its events in {timeout:g} s")
            continue
        try:
            got[r] = child.result()
        except Exception as e:
            notes.append(f"rank {r}: its events could not be read ({type(e).__name__}: {e})")
    return got, notes


# ==================================================================== the kernel's %%trace line

TRACE_LINE = "%%trace"


def split_trace_cell(code: str):
    """For the MPI kernel: a cell whose first line is `%%trace [FILE] [options]` runs traced.

    Returns (option line for %%px_mpi, the typed header lines, the body), or None for other cells.
    `%%trace out.json --ranks 0-1` gives ('--trace=out.json --ranks 0-1', '%%trace out.json ...', body).
    """
    lines = code.splitlines(keepends=True)
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        return None
    m = re.fullmatch(r"\s*%%trace(?:\s+(.*?))?\s*", lines[first].rstrip("\r\n"))
    if not m:
        return None
    rest = (m.group(1) or "").strip()
    if rest and not rest.startswith("-"):
        file, _, more = rest.partition(" ")
        option = f"--trace={file} {more.strip()}".strip()
    else:
        option = f"--trace {rest}".strip()
    header = "".join(lines[: first + 1]).rstrip("\r\n")
    return option, header, "".join(lines[first + 1 :])
