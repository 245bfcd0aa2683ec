"""The rank view: while a cell runs longer than a second, one strip that says where every rank is.

The runner already asks the ranks' agents where they are every 0.5 s for its deadlock check
(mpikernel/cells/runner.py); it hands that same picture to `Screen.ranks`. This module turns it
into something to look at and keeps it in ONE place that is updated, never appended to:

- in a notebook (the magics in an IPython kernel, and the MPI kernel) one display id whose
  `text/html` is a row of small cells, one per rank, coloured by state (64 ranks fit one row),
  and whose `text/plain` is the one-line form; it is emptied when the merged output is shown;
- in a terminal IPython the one-line form, redrawn in place with a carriage return (only when
  stdout is a terminal: a pipe or a log file gets no view rather than a line per half second).

Off switch: ``MPIKERNEL_RANK_VIEW=off`` (or ``0``/``no``/``false``) in the environment, or
``%mpi_rank_view off`` (which sets it in this process); a number is the seconds a cell runs
before the view appears (default 1). Read at the start of every cell.
"""

from __future__ import annotations

import html
import os
import shutil
import sys
from dataclasses import dataclass

from mpikernel.cells import diagnose
from mpikernel.cells import merge as out
from mpikernel.cells.screen import Screen
from mpikernel.front.screens import NotebookScreen
from mpikernel.notation import rank_label

ENV = "MPIKERNEL_RANK_VIEW"
DEFAULT_AFTER = 1.0
_OFF = ("off", "0", "no", "false")
_ON = ("on", "yes", "true", "")


def view_after(env=None) -> float | None:
    """Seconds a cell runs before the rank view shows ($MPIKERNEL_RANK_VIEW), None when it is off.

    ValueError names the variable when its value is neither a switch word nor a positive number.
    """
    text = (os.environ if env is None else env).get(ENV, "").strip().lower()
    if text in _OFF:
        return None
    if text in _ON:
        return DEFAULT_AFTER
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise ValueError(f"{ENV}={text!r}: use off, on, or the seconds before the rank view shows (like 2)")
    return seconds


# ------------------------------------------------------------------------------ what to show


@dataclass(frozen=True)
class Place:
    """One rank in the view: its state, where it is, and the seconds in its MPI call."""

    state: str  # running, waiting, busy, finished, raised, dead, outside
    where: str  # "in comm.Recv(source=3) at line 4": without the seconds, so ranks group on it
    short: str  # what its small cell says: "L4" / "Recv" / "done"
    waited: float | None = None  # seconds in the MPI call (waiting ranks only)

    @property
    def text(self) -> str:
        """'in comm.Recv(source=3) since 2.1 s at line 4'."""
        if self.waited is None:
            return self.where
        call, at, line = self.where.partition(" at line ")
        return f"{call} since {self.waited:.1f} s" + (f" at line {line}" if at else "")

    @property
    def detail(self) -> str:
        return "" if self.waited is None else f"{self.waited:.1f} s"


def place(state: diagnose.RankState, dead: bool = False) -> Place:
    """The Place of one rank from the runner's RankState."""
    if dead:
        return Place("dead", "dead", "dead")
    if state.state == diagnose.FINISHED:
        return Place("finished", "finished", "done")
    if state.state == diagnose.FAILED:
        return Place("raised", "raised", "error")
    if state.state == diagnose.OUTSIDE:
        return Place("outside", "not in this cell", "-")
    at = f" at line {state.line}" if state.line else ""
    if state.state == diagnose.BLOCKED:
        call = out.describe_call(state.waiting) or "an MPI call"
        short = str((state.waiting or {}).get("call") or "MPI")
        return Place("waiting", f"in {call}{at}", short, state.waited)
    if state.line:
        return Place("running", f"running Python line {state.line}", f"L{state.line}")
    return Place("busy", "busy (not answering: a long call holds its interpreter)", "busy")


def places(states: dict, dead=()) -> dict[int, Place]:
    dead = set(dead)
    return {r: place(s, r in dead) for r, s in sorted(states.items())}


def summary(spots: dict[int, Place], elapsed: float) -> str:
    """'3 s: ranks 0-2 in comm.Recv(source=3) since 2.1 s; rank 3 running Python line 7'
    (ranks at the same place named together, with the longest wait among them)."""
    groups: dict[tuple, list[int]] = {}
    for r, p in spots.items():
        groups.setdefault((p.state, p.where), []).append(r)
    parts = []
    for ranks in groups.values():
        longest = max((spots[r] for r in ranks), key=lambda p: p.waited or 0.0)
        parts.append(f"{rank_label(ranks)} {longest.text}")
    return f"{elapsed:.1f} s: " + "; ".join(parts)


_COLOURS = {  # background, text: readable in light and dark themes alike
    "running": ("#2e7d32", "#fff"),
    "waiting": ("#ef6c00", "#fff"),
    "busy": ("#558b2f", "#fff"),
    "finished": ("#9e9e9e", "#fff"),
    "raised": ("#c62828", "#fff"),
    "dead": ("#212121", "#fff"),
    "outside": ("transparent", "#9e9e9e"),
    "idle": ("#e0e0e0", "#424242"),
}


def strip_html(spots: dict[int, Place], caption: str) -> str:
    """One row of small cells (rank number over its short state), `caption` under it."""
    cells = []
    for r, p in spots.items():
        bg, fg = _COLOURS[p.state]
        lines = f"{r}<br>{html.escape(p.short[:7])}" + (f"<br>{html.escape(p.detail)}" if p.detail else "")
        cells.append(
            f'<div title="rank {r}: {html.escape(p.text)}" data-rank="{r}" data-state="{p.state}" '
            f'style="flex:1 1 0;min-width:1.6em;max-width:5em;padding:1px 2px;background:{bg};color:{fg};'
            f'border:1px solid #7774;border-radius:3px;text-align:center;overflow:hidden">{lines}</div>'
        )
    row = '<div style="display:flex;gap:2px;font-size:10px;line-height:1.2;font-family:monospace">'
    text = html.escape(caption)
    return (f'<div class="mpikernel-rank-view">{row}{"".join(cells)}</div>'
            f'<div style="font-size:11px;opacity:0.8;margin-top:2px">{text}</div></div>')


# ------------------------------------------------------------------------------- where to show


class NotebookDrawer:
    """One display id, updated in place; emptied at the end (the merged output replaces it)."""

    def __init__(self):
        self.handle = None
        self.last = None

    def draw(self, spots, elapsed):
        from IPython.display import display

        text = summary(spots, elapsed)
        bundle = {"text/plain": "ranks: " + text, "text/html": strip_html(spots, text)}
        if bundle == self.last:
            return
        self.last = bundle
        if self.handle is None:
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)

    def hide(self):
        """Take the line away before other output is printed (a terminal's need, not a notebook's)."""

    def close(self):
        if self.handle is not None:
            self.handle.update({"text/plain": ""}, raw=True)
            self.handle = None


class TerminalDrawer:
    """The one-line form, rewritten in place with a carriage return, cut to the terminal's width."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.shown = ""

    def draw(self, spots, elapsed):
        width = shutil.get_terminal_size((100, 24)).columns - 1
        line = "ranks: " + summary(spots, elapsed)
        line = line if len(line) <= width else line[: width - 3] + "..."
        self.stream.write("\r" + line.ljust(len(self.shown)))
        self.stream.flush()
        self.shown = line

    def hide(self):
        if self.shown:
            self.stream.write("\r" + " " * len(self.shown) + "\r")
            self.stream.flush()
            self.shown = ""

    close = hide


class RankViewScreen(Screen):
    """A front end's screen with the rank view on top: everything else goes to the screen it wraps.

    It overrides every method of Screen (tests/front/test_rankview.py checks), since a method it
    inherited would silently do the base's thing instead of the wrapped screen's."""

    def __init__(self, inner: Screen, after: float, drawer):
        self.inner, self.rank_view_after, self.drawer = inner, after, drawer
        self.last = None  # the last picture, redrawn after live output in a terminal

    def ranks(self, states, elapsed, dead=()):
        self.last = (places(states, dead), elapsed)
        self.drawer.draw(*self.last)

    def live(self, rank, text):
        self.drawer.hide()
        self.inner.live(rank, text)

    def live_display(self, rank, content):
        self.inner.live_display(rank, content)

    def notice(self, text):
        self.drawer.hide()
        self.inner.notice(text)

    def flush(self, force=False):
        self.inner.flush(force)
        if self.last is not None and isinstance(self.drawer, TerminalDrawer) and not self.drawer.shown:
            self.drawer.draw(*self.last)

    def end_live(self):
        self.drawer.close()
        self.last = None
        self.inner.end_live()

    def show(self, blocks):
        self.inner.show(blocks)

    def rich(self, content):
        self.inner.rich(content)


def with_rank_view(screen: Screen, stream=None) -> Screen:
    """`screen` with the rank view when it is on and there is somewhere to draw it, else `screen`."""
    after = view_after()
    if after is None or screen.rank_view_after is not None:
        return screen
    if isinstance(screen, NotebookScreen):
        return RankViewScreen(screen, after, NotebookDrawer())
    stream = stream or sys.stdout
    if getattr(stream, "isatty", lambda: False)():
        return RankViewScreen(screen, after, TerminalDrawer(stream))
    return screen


def with_rank_view_checked(screen: Screen) -> Screen:
    """with_rank_view, a wrong $MPIKERNEL_RANK_VIEW told as a UsageError (a sentence, no traceback)."""
    from IPython.core.error import UsageError

    try:
        return with_rank_view(screen)
    except ValueError as e:
        raise UsageError(str(e)) from None


# ----------------------------------------------------------------------------------- %px_where


@dataclass
class RankPlaces:
    """What `%px_where` found: every rank's Place, the agents' answers, the line of code."""

    spots: dict[int, Place]
    statuses: dict[int, dict | None]

    def line(self, rank: int) -> int | None:
        return (self.statuses.get(rank) or {}).get("line")

    def call(self, rank: int) -> str | None:
        """'comm.Recv(source=3)' while the rank waits in MPI, else None."""
        return out.describe_call((self.statuses.get(rank) or {}).get("waiting"))

    def __repr__(self) -> str:
        rows = []
        for r, p in self.spots.items():
            code = (self.statuses.get(r) or {}).get("code")
            rows.append(f"rank {r:>3}  {p.text}" + (f":  {code}" if code and p.state in ("running", "waiting") else ""))
        return "\n".join(rows)

    def _repr_html_(self) -> str:
        return strip_html(self.spots, "") + f"<pre>{html.escape(repr(self))}</pre>"


def where_now(world) -> RankPlaces:
    """Every rank's line and MPI call right now, from the agents (the deadlock check's source);
    nothing is interrupted, and a rank running no cell says 'idle'."""
    statuses = world.where(None, timeout=1.0)
    states = diagnose.rank_states(range(world.n), world.n, [], [], statuses)
    dead = set(world.dead_ranks() or ())
    spots = {}
    for r, s in sorted(states.items()):
        st = statuses.get(r)
        if r not in dead and st is not None and not st.get("busy") and not st.get("waiting"):
            spots[r] = Place("idle", "idle", "idle")
        else:
            spots[r] = place(s, r in dead)
    return RankPlaces(spots, statuses)
