"""Pictures and tables of a `mpikernel.trace.model.Trace`: what a traced cell shows.

- `figure(trace)`: the space-time diagram (matplotlib, no pyplot state): one line per rank, an
  arrow per message from the send's start to the matching receive's end, a band per collective,
  the time a call spent waiting hatched, pending calls (never returned: a deadlock) in red. With
  more than `MAX_RANKS` ranks or `MAX_ARROWS` messages the arrows would be a hairball, so the
  figure shows the timeline without them and a per-pair matrix (messages and bytes) beside it.
- `rank_rows` / `table_text` / `table_html`: per rank, time in MPI vs computing, messages and
  bytes sent/received, the longest wait and what it waited for.
- `chrome_trace(trace or records)`: the Chrome trace-event JSON (Perfetto, chrome://tracing), one
  process per rank, a flow arrow per message; `save(trace, "out.json" | ".png" | ".svg")`.
- `display_bundle(trace)`: the one display message a traced cell shows (HTML with the picture and
  the table, PNG, and plain text for terminals).
"""

from __future__ import annotations

import base64
import html
import io
import json

from dataclasses import dataclass

from mpikernel.notation import format_bytes
from mpikernel.trace.model import Trace

MAX_RANKS = 16
MAX_ARROWS = 400
MAX_TAG_LABELS = 24  # messages labelled with their tag when there are at most this many (and tags differ)

KIND_COLOURS = {
    "send": "#3b75af",  # blue: sending
    "recv": "#4e9a3f",  # green: receiving
    "sendrecv": "#2a9d8f",  # teal: both
    "coll": "#e08a1e",  # orange: collectives
    "wait": "#8e6bb8",  # purple: Wait/Test on requests
    "probe": "#9c9c9c",
    "other": "#9c9c9c",
}
PENDING = "#d62728"
ARROW = "#1f2f4f"
BOX_HALF_HEIGHT = 0.34  # of a call's box, in rows


# ==================================================================================== tables


def _ms(seconds: float) -> str:
    if seconds is None:
        return ""
    if seconds >= 0.9995:
        return f"{seconds:.2f} s"
    if seconds >= 0.9995e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def rank_rows(trace: Trace) -> list[dict]:
    """Trace.rank_stats() with the numbers as the tables print them."""
    rows = []
    for s in trace.rank_stats():
        share = (100 * s["mpi"] / s["span"]) if s["span"] > 0 else 0.0
        rows.append({
            "rank": str(s["rank"]),
            "in MPI": f"{_ms(s['mpi'])} ({share:.0f}%)",
            "computing": _ms(s["compute"]),
            "sent": f"{s['sent']} ({format_bytes(s['bytes_sent'])})",
            "received": f"{s['received']} ({format_bytes(s['bytes_received'])})",
            "longest wait": (f"{_ms(s['longest_wait'])} in {s['longest_wait_for']}"
                             if s["longest_wait_for"] else "-"),
            "pending": "; ".join(s["pending"]) or "-",
        })
    return rows


def _table(trace: Trace) -> tuple[list[dict], list[str]]:
    """The rows and the columns worth showing (no "pending" column when nothing is pending)."""
    rows = rank_rows(trace)
    cols = list(rows[0]) if rows else []
    if rows and all(r["pending"] == "-" for r in rows):
        cols.remove("pending")
    return rows, cols


def table_text(trace: Trace) -> str:
    rows, cols = _table(trace)
    if not rows:
        return "(no ranks reported events)"
    width = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
    line = lambda r: "  ".join(r[c].ljust(width[c]) for c in cols).rstrip()  # noqa: E731
    return "\n".join([line({c: c for c in cols})] + [line(r) for r in rows])


def table_html(trace: Trace) -> str:
    rows, cols = _table(trace)
    if not rows:
        return "<p>(no ranks reported events)</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        style = ' style="color:#d62728"' if r.get("pending", "-") != "-" else ""
        body.append(f"<tr{style}>" + "".join(f"<td>{html.escape(r[c])}</td>" for c in cols) + "</tr>")
    return f'<table class="mpikernel-trace"><tr>{head}</tr>{"".join(body)}</table>'


def summary_line(trace: Trace) -> str:
    """'4 ranks, 4 messages, 1 collective, 2.1 ms' (+ pending calls)."""
    n = len(trace.messages)
    c = len(trace.collectives)
    parts = [f"{len(trace.ranks)} rank{'s' * (len(trace.ranks) != 1)}",
             f"{n} message{'s' * (n != 1)}", f"{c} collective{'s' * (c != 1)}", _ms(trace.duration)]
    if trace.pending:
        parts.append(f"{len(trace.pending)} call{'s' * (len(trace.pending) != 1)} pending")
    return ", ".join(parts)


# =================================================================================== picture


def _time_unit(duration: float) -> tuple[float, str]:
    if duration >= 2:
        return 1.0, "s"
    if duration >= 2e-3:
        return 1e3, "ms"
    return 1e6, "µs"


@dataclass
class _Timeline:
    """The axes of the space-time diagram and how a trace maps onto them (one row per rank)."""

    trace: Trace
    ax: object
    scale: float  # seconds to the axis unit
    row: dict[int, int]  # rank -> its row
    big: bool  # too many ranks or messages for arrows: the pair matrix stands in for them

    @property
    def end(self) -> float:
        return self.trace.duration * self.scale


def figure(trace: Trace, width: float = 11.0):
    """The space-time diagram as a matplotlib Figure (with the pair matrix for large traces)."""
    from matplotlib.figure import Figure

    big = len(trace.ranks) > MAX_RANKS or len(trace.messages) > MAX_ARROWS
    height = max(2.6, 1.5 + 0.5 * min(len(trace.ranks), 24))
    fig = Figure(figsize=(width + (4.5 if big else 0), height), dpi=100)
    if big:
        grid = fig.add_gridspec(1, 2, width_ratios=[width, 4.5])
        ax = fig.add_subplot(grid[0, 0])
        _pair_matrix(fig.add_subplot(grid[0, 1]), trace)
    else:
        ax = fig.add_subplot(1, 1, 1)
    scale, unit = _time_unit(trace.duration)
    tl = _Timeline(trace, ax, scale, {r: i for i, r in enumerate(trace.ranks)}, big)
    _draw_axes(tl, unit)
    _draw_spans(tl)
    _draw_collectives(tl)
    _draw_waits_for(tl, _draw_calls(tl))
    handles = _legend_handles(tl, labelled=False if big else _draw_messages(tl))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=9, frameon=False)
    ax.set_title("MPI trace: " + summary_line(trace) + (" (arrows left out: see the matrix)" if big else ""),
                 fontsize=11, loc="left")
    fw = fig.get_figwidth()  # fixed margins in inches (tight_layout would cost another full draw)
    fig.subplots_adjust(left=0.75 / fw, right=1 - (0.9 if big else 0.25) / fw, top=1 - 0.45 / height,
                        bottom=0.9 / height, wspace=0.25)
    return fig


def _draw_axes(tl: _Timeline, unit: str):
    """Rank labels down the side, time along the bottom, no box."""
    ax, n = tl.ax, len(tl.trace.ranks)
    small = n <= 8
    ax.set_ylim(n - 0.4, -0.9 if small else -0.6)
    ax.set_yticks(range(n), [f"rank {r}" for r in tl.trace.ranks], fontsize=10 if small else 8)
    ax.set_xlabel(f"time since the cell started ({unit})", fontsize=10)
    ax.tick_params(axis="x", labelsize=9)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.set_xlim(-0.01 * tl.end, tl.end * 1.02 if tl.end > 0 else 1)


def _draw_spans(tl: _Timeline):
    """Each rank's own time: computing unless a call's box covers it; a tick where its cell ended."""
    for r in tl.trace.ranks:
        s, e = tl.trace.spans[r]
        tl.ax.plot([s * tl.scale, e * tl.scale], [tl.row[r], tl.row[r]], color="#b0b0b0", lw=1.2, zorder=1,
                   solid_capstyle="butt")
        tl.ax.plot([e * tl.scale], [tl.row[r]], marker="|", color="#808080", ms=10, zorder=2)


def _draw_collectives(tl: _Timeline):
    """One band per collective over the ranks taking part, named when there is room."""
    from matplotlib.patches import Rectangle

    trace, scale = tl.trace, tl.scale
    for g in trace.collectives:
        ys = [tl.row[r] for r in g.ranks if r in tl.row]
        if not ys:
            continue
        tl.ax.add_patch(Rectangle((g.start * scale, min(ys) - 0.45), (g.end - g.start) * scale,
                                  max(ys) - min(ys) + 0.9, facecolor=KIND_COLOURS["coll"], alpha=0.16,
                                  edgecolor=KIND_COLOURS["coll"], lw=0.8, zorder=0))
        if len(trace.collectives) <= 8 or (g.end - g.start) >= 0.06 * max(trace.duration, 1e-12):
            tl.ax.text((g.start + g.end) / 2 * scale, min(ys) - 0.47, g.name, ha="center", va="bottom",
                       fontsize=8, color="#8a4f00", zorder=6, clip_on=True)


def _draw_calls(tl: _Timeline) -> list[tuple[int, int]]:
    """A box per call, its waiting part hatched, pending calls in red; returns the (row, row it
    waits for) of pending point-to-point calls."""
    ax, scale, row = tl.ax, tl.scale, tl.row
    tiny = 0.002 * (tl.end if tl.end > 0 else 1)  # the narrowest box drawn, so short calls stay visible
    waits_for = []
    for r in tl.trace.ranks:
        y = row[r]
        busy_parts: dict[str, list] = {}  # colour -> [(x, width)]: one collection each (fast)
        wait_parts: dict[str, list] = {}
        for c in tl.trace.calls[r]:
            x0, x1 = c.start * scale, max(c.end * scale, c.start * scale + tiny)
            colour = PENDING if c.pending else KIND_COLOURS.get(c.kind, KIND_COLOURS["other"])
            waited = min(c.wait, c.end - c.start) if not c.pending else c.end - c.start
            waited = min(waited * scale, x1 - x0)
            busy = x1 - x0 - waited
            if busy > 0:
                busy_parts.setdefault(colour, []).append((x0, busy))
            if waited > 0:
                wait_parts.setdefault(colour, []).append((x0 + busy, waited))
            if c.pending:
                ax.plot([x1], [y], marker="X", color=PENDING, ms=9, zorder=7)
                if c.kind in ("recv", "send") and c.peer in row and c.peer != r:  # who it waits for
                    waits_for.append((y, row[c.peer]))
                ax.text(x1, y + BOX_HALF_HEIGHT + 0.05, f"pending: {c.describe()}", ha="right", va="top",
                        fontsize=8, color=PENDING, zorder=7, fontweight="bold")
        box = (y - BOX_HALF_HEIGHT, 2 * BOX_HALF_HEIGHT)
        for colour, parts in busy_parts.items():
            ax.broken_barh(parts, box, facecolors=colour, edgecolors="none", zorder=3)
        for colour, parts in wait_parts.items():
            ax.broken_barh(parts, box, facecolors="white", edgecolors=colour, hatch="////",
                           linewidth=1.2 if colour == PENDING else 0.6, zorder=3)
    return waits_for


def _draw_waits_for(tl: _Timeline, waits_for: list[tuple[int, int]]):
    """Right of the timeline, one column per pending call, an arrow to the rank it waits for:
    a cycle is a deadlock."""
    if not waits_for:
        return
    ax, end = tl.ax, tl.end
    step = 0.025 * (end if end > 0 else 1)
    for i, (y0, y1) in enumerate(waits_for):
        x = end * 1.02 + (i + 1) * step
        ax.annotate("", xy=(x, y1), xytext=(x, y0), zorder=6,
                    arrowprops=dict(arrowstyle="-|>", color=PENDING, lw=1.3, ls=(0, (4, 2)),
                                    shrinkA=3, shrinkB=3, mutation_scale=12))
    ax.set_xlim(right=end * 1.02 + (len(waits_for) + 1) * step)
    ax.set_xticks([t for t in ax.get_xticks() if 0 <= t <= end])  # no time axis over the column
    ax.axvline(end * 1.02, color="#dddddd", lw=0.8, zorder=0)
    ax.text(end * 1.02 + 0.5 * (len(waits_for) + 1) * step, -0.5, "waits for", ha="center",
            va="bottom", fontsize=8, color=PENDING)


def _labels_tags(trace: Trace) -> bool:
    """Whether each message arrow gets a 'tag N' label (few messages, and tags that differ)."""
    tags = {m.tag for m in trace.messages}
    return len(trace.messages) <= MAX_TAG_LABELS and len(tags) > 1 or len(trace.messages) <= 6


def _draw_messages(tl: _Timeline) -> bool:
    """An arrow per message from its send to its receive, and half a dashed one per send nobody
    received; returns whether the arrows carry tag labels."""
    ax, scale, row = tl.ax, tl.scale, tl.row
    label = _labels_tags(tl.trace)
    drawn = [m for m in tl.trace.messages if m.src in row and m.dst in row]
    if drawn:  # one quiver: every arrow from its send to its receive, in data coordinates
        x0s = [m.sent * scale for m in drawn]
        y0s = [row[m.src] for m in drawn]
        ax.quiver(x0s, y0s, [m.received * scale - x for m, x in zip(drawn, x0s)],
                  [row[m.dst] - y for m, y in zip(drawn, y0s)], angles="xy", scale_units="xy", scale=1,
                  color=ARROW, width=0.0018, headwidth=5, headlength=6, headaxislength=5.5, zorder=5,
                  gid="messages")
    for m in drawn if label else ():
        x0, y0, x1, y1 = m.sent * scale, row[m.src], m.received * scale, row[m.dst]
        ax.text(x0 + 0.5 * (x1 - x0), y0 + 0.5 * (y1 - y0), f"tag {m.tag}", fontsize=7,
                color=ARROW, ha="center", va="center", zorder=6,
                bbox=dict(boxstyle="round,pad=0.12", fc="white", ec="none", alpha=0.85))
    for c in tl.trace.unmatched:  # a send nobody received (yet): half an arrow, dashed
        if c.kind == "send" and c.peer in row:
            ax.annotate("", xy=(c.end * scale, row[c.rank] + 0.5 * (row[c.peer] - row[c.rank])),
                        xytext=(c.start * scale, row[c.rank]), zorder=5,
                        arrowprops=dict(arrowstyle="-|>", color=PENDING, lw=1, ls="--"))
    return label


def _legend_handles(tl: _Timeline, labelled: bool) -> list:
    """The legend's entries: only the kinds of call the trace holds."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    trace = tl.trace
    handles = [Patch(color=KIND_COLOURS["send"], label="send"),
               Patch(color=KIND_COLOURS["recv"], label="receive"),
               Patch(color=KIND_COLOURS["sendrecv"], label="sendrecv"),
               Patch(color=KIND_COLOURS["wait"], label="wait/test"),
               Patch(facecolor=KIND_COLOURS["coll"], alpha=0.35, label="collective"),
               Patch(facecolor="white", edgecolor="#555555", hatch="////", label="waiting"),
               Line2D([], [], color="#b0b0b0", lw=1.2, label="computing")]
    if not tl.big and trace.messages:
        tags = {m.tag for m in trace.messages}
        same = f" (tag {next(iter(tags))})" if len(tags) == 1 and not labelled else ""
        handles.append(Line2D([], [], color=ARROW, marker=">", markersize=5, lw=1.1, label="message" + same))
    if trace.pending:
        handles.append(Line2D([], [], color=PENDING, marker="X", lw=0, markersize=8, label="pending (never returned)"))
        if any(c.kind in ("recv", "send") and c.peer in tl.row for c in trace.pending):
            handles.append(Line2D([], [], color=PENDING, lw=1, ls=(0, (3, 2)), label="waits for (pending call → rank)"))
    kinds = {c.kind for r in trace.ranks for c in trace.calls[r] if not c.pending}
    keep = {"send": "send" in kinds, "receive": "recv" in kinds, "sendrecv": "sendrecv" in kinds,
            "wait/test": "wait" in kinds, "collective": bool(trace.collectives)}
    return [hd for hd in handles if keep.get(hd.get_label(), True)]


def _pair_matrix(ax, trace: Trace):
    """Messages per (sender, receiver) as a heat map; too many to draw one by one."""
    import numpy as np

    ranks = trace.ranks
    idx = {r: i for i, r in enumerate(ranks)}
    counts = np.zeros((len(ranks), len(ranks)))
    for (s, d), p in trace.pair_summary().items():
        if s in idx and d in idx:
            counts[idx[s], idx[d]] = p["count"]
    im = ax.imshow(counts, cmap="Blues", aspect="auto")
    ax.set_title("messages per pair", fontsize=10)
    ax.set_xlabel("to rank", fontsize=9)
    ax.set_ylabel("from rank", fontsize=9)
    step = max(1, len(ranks) // 16)
    ticks = list(range(0, len(ranks), step))
    ax.set_xticks(ticks, [str(ranks[i]) for i in ticks], fontsize=7)
    ax.set_yticks(ticks, [str(ranks[i]) for i in ticks], fontsize=7)
    ax.figure.colorbar(im, ax=ax, fraction=0.08, pad=0.04).set_label("messages", fontsize=8)


def png_bytes(trace: Trace, fig=None) -> bytes:
    """The diagram as PNG (drawing `fig` if given, so a saved and a shown picture cost one figure)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = fig if fig is not None else figure(trace)
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def preload():
    """Import matplotlib's pieces in a background thread (seconds on a busy machine), so they are
    ready when the traced cell ends."""
    import threading

    def load():
        import importlib

        try:
            for name in ("matplotlib.figure", "matplotlib.backends.backend_agg"):
                importlib.import_module(name)
        except ImportError:
            pass

    threading.Thread(target=load, name="mpikernel-trace-preload", daemon=True).start()


# ================================================================================ Chrome trace


def chrome_trace(trace, offsets=None) -> dict:
    """Chrome trace-event JSON (a dict; json.dump it) of a Trace or of the ranks' raw records.

    One process per rank, a complete ("X") event per call in µs, a flow arrow per message,
    pending calls named "... (pending)". Opens in https://ui.perfetto.dev and chrome://tracing.
    """
    tr = trace if isinstance(trace, Trace) else Trace.from_records(trace, offsets=offsets)
    us = lambda t: round(t * 1e6, 3)  # noqa: E731
    events = []
    for r in tr.ranks:
        events.append({"ph": "M", "name": "process_name", "pid": r, "tid": 0, "args": {"name": f"rank {r}"}})
        events.append({"ph": "M", "name": "process_sort_index", "pid": r, "tid": 0, "args": {"sort_index": r}})
        for c in tr.calls[r]:
            args = {k: v for k, v in (("comm", c.comm), ("peer", c.peer), ("tag", c.tag), ("bytes", c.nbytes),
                                      ("root", c.root), ("seq", c.seq), ("wait_us", us(c.wait)))
                    if v is not None and v != ""}
            if c.pending:
                args["pending"] = True
            events.append({"ph": "X", "name": c.name + (" (pending)" if c.pending else ""),
                           "cat": "pending" if c.pending else c.kind, "pid": r, "tid": 0,
                           "ts": us(c.start), "dur": us(max(c.end - c.start, 0.0)), "args": args})
    for i, m in enumerate(tr.messages):
        events.append({"ph": "s", "id": i, "name": "message", "cat": "message", "pid": m.src, "tid": 0,
                       "ts": us(m.send_call.start)})
        inside = max(m.recv_call.start, min(m.received, m.recv_call.end))
        events.append({"ph": "f", "bp": "e", "id": i, "name": "message", "cat": "message", "pid": m.dst,
                       "tid": 0, "ts": us(inside)})
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"source": "mpikernel", "notes": list(tr.notes),
                          "clock_offsets_s": {str(r): o for r, o in tr.offsets.items()}}}


SAVE_SUFFIXES = (".json", ".png", ".svg")


def check_save_path(path: str):
    """ValueError unless `save` can write `path` (asked before a traced cell runs, not after)."""
    if not str(path).lower().endswith(SAVE_SUFFIXES):
        raise ValueError(f"cannot save a trace as {path}: use .json, .png or .svg")


def save(trace: Trace, path: str, fig=None) -> str:
    """Write `path`: .json the Chrome trace, .png/.svg the diagram (`fig` if already drawn)."""
    check_save_path(path)
    lower = str(path).lower()
    if lower.endswith(".json"):
        with open(path, "w") as f:
            json.dump(chrome_trace(trace), f)
    else:  # .png or .svg
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        fig = fig if fig is not None else figure(trace)
        FigureCanvasAgg(fig)
        fig.savefig(path)
    return str(path)


# ============================================================================ in the notebook


def display_bundle(trace: Trace, fig=None) -> dict:
    """{"data": {...}, "metadata": {}} for the traced cell's one display message."""
    text = ["MPI trace: " + summary_line(trace), table_text(trace)] + [f"note: {n}" for n in trace.notes]
    data = {"text/plain": "\n".join(text)}
    try:
        png = base64.b64encode(png_bytes(trace, fig)).decode("ascii")
    except ImportError:  # no matplotlib: the table still says the essentials
        data["text/plain"] += "\nnote: install matplotlib to see the diagram"
        png = None
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in trace.notes)
    img = f'<img src="data:image/png;base64,{png}" style="max-width:100%"/>' if png else ""
    data["text/html"] = (f'<div class="mpikernel-trace">{img}{table_html(trace)}'
                         + (f"<ul>{notes}</ul>" if notes else "") + "</div>")
    if png:
        data["image/png"] = png
    return {"data": data, "metadata": {}}
