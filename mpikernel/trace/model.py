"""What a traced cell recorded, as data: calls per rank, matched messages, grouped collectives.

Pure: no MPI, no world, no ipyparallel. `Trace.from_records` takes the ranks' records in the
binding's shape (docs/binding.md, "Tracing") and aligns them on rank 0's clock; `mpikernel.trace.run`
produces those records from a running cell and `mpikernel.trace.draw` draws the result.

Matching follows MPI's non-overtaking rule: on one communicator, the k-th message from A to B
with tag t is received by the k-th receive on B from A with tag t (receives in the order they
were posted). Collectives are grouped by (communicator, call number on it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SEND_KINDS = ("send",)
RECV_KINDS = ("recv",)


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
