"""Running one cell on the ranks: live output, deadlock grace rule, timeout, interrupt, merged result.

`run_cell(world, code, options, screen)` is the one implementation behind `%%px_mpi`, `%px_mpi`
and the MPI kernel. It never traces (`mpikernel.trace.run.run_traced` runs a traced cell on top of
it) and shows everything on the screen it is given (`mpikernel.cells.screen.Screen`, a terminal's,
by default; the notebook's live in `mpikernel.front.screens`). Each rank's part is its own
ipyparallel AsyncResult (one execute request per rank). While the ranks work it polls every 50 ms
(`_Watch`), woken early by every reply:

- output that arrived is shown live once the cell has run for `live_after` seconds (fast cells
  only show the merged result, so nothing is printed twice);
- if some ranks raised and others are still blocked in an MPI call `grace` seconds later, the
  blocked ones are interrupted and reported ("rank 2 was waiting in comm.recv(source=1) at
  line 4 when rank 1 failed"); ranks still computing are left alone;
- if no rank raised but every rank has finished or is blocked in MPI, one has waited longer than
  `grace` seconds and no blocked rank can serve another (mpikernel.cells.diagnose decides, from the
  same picture sampled twice), the blocked ones are interrupted and the deadlock is explained
  ("rank 0 waits in comm.Send(dest=1, 8 MB) at line 3 and rank 1 ..."); a rank still
  computing means the cell is never stuck;
- every 0.5 s, once the cell is older than the screen's `rank_view_after`, the screen is told
  every rank's state (`Screen.ranks`, the front end's rank view): the deadlock check's own sample
  when it took one, so the ranks are not asked twice;
- after `slow_notice` seconds (and every `slow_notice` seconds after) it says which ranks are
  still busy and where;
- after `timeout` seconds every rank still busy is interrupted;
- Ctrl-C (KeyboardInterrupt here) interrupts the busy ranks and waits for them to stop.

At the end, the merged output (mpikernel.cells.merge) is shown and, if any rank raised or was
interrupted, a `RanksError` named after the first failing rank's exception (or `RanksInterrupted`) is
raised. Both render as ONE labelled error
in IPython and ipykernel through `_render_traceback_`.
"""

from __future__ import annotations

import re
import threading
import time

from mpikernel.cells import diagnose
from mpikernel.cells import merge as out
from mpikernel.cells.screen import Screen
from mpikernel.cells.types import CellOptions, CellResult, RanksError, RanksInterrupted, ranks_error  # noqa: F401 (RanksError: re-exported)

POLL = 0.05
INTERRUPT_WAIT = 5.0  # seconds ranks get to stop after SIGINT before we call them unresponsive
STUCK_CHECK_EVERY = 0.5  # seconds between two looks for a deadlock (each asks the pending ranks)


def _with_header(code: str, header: str | None) -> str:
    """Put the typed header line(s) back above the code, commented out, so line numbers match."""
    if header is None:
        return code
    return "".join(f"# {line}\n" for line in header.splitlines() or [""]) + code


class _RankRun:
    """Book-keeping of one rank's part of a running cell: its own ipyparallel AsyncResult."""

    def __init__(self, rank, future):
        self.rank = rank
        self.future = future  # AsyncResult of this rank alone (a single result)
        # The live metadata dict ipyparallel fills in as output arrives, taken once now: its dates
        # are still empty, while every later `.metadata` read would parse them (1 ms a cell).
        self.md = future.metadata
        self.shown = 0  # characters of stdout already shown live
        self.displays_shown = 0  # entries of the rank's displays already shown live
        self.displays_seen = 0  # entries there were at the previous poll

    @property
    def replied(self):
        return self.future.done()

    @property
    def done(self):
        """The reply AND the output (iopub) are in: nothing more will come from this rank."""
        return self.future.done() and self.future.wait_for_output(0)

    @property
    def failed(self):
        """The exception this rank's cell ended with (ipyparallel delivers it as the result), or None."""
        if not self.future.done():
            return None
        exc = self.future.exception()
        if exc is None:
            res = self.future.result()
            exc = res if isinstance(res, BaseException) else None
        return exc

    def payload(self) -> list[dict]:
        """The execute_reply's payloads of a rank that finished well (%load's set_next_input)."""
        if not self.future.done() or self.future.exception() is not None:
            return []
        content = getattr(self.future.result(), "_content", None) or {}
        return list(content.get("payload") or [])

    def output(self) -> out.RankOutput:
        md = self.md
        exc = self.failed
        error = _rank_error(exc) if exc is not None else None
        return out.RankOutput(
            rank=self.rank,
            stdout=md.get("stdout") or "",
            stderr=md.get("stderr") or "",
            displays=list(md.get("outputs") or []),
            result=md.get("execute_result") or None,
            error=error,
            payload=self.payload() if error is None else [],
        )


def _rank_error(exc) -> out.RankError:
    ename = getattr(exc, "ename", None) or type(exc).__name__
    evalue = getattr(exc, "evalue", None)
    if evalue is None:
        evalue = str(exc)
    tb = getattr(exc, "traceback", None)
    lines = tb.split("\n") if isinstance(tb, str) else list(tb or [])
    return out.RankError(ename, evalue, lines)


def run_cell(world, code: str, options: CellOptions | None = None, screen: Screen | None = None) -> CellResult:
    """Run `code` on the chosen ranks; show live and merged output; raise RanksError on failures.

    Never traces: a traced cell is `mpikernel.trace.run.run_traced`, which calls this one.
    """
    opts = options or CellOptions()
    screen = screen or Screen()
    world.require_running()
    ranks = list(range(world.n)) if opts.ranks is None else sorted(opts.ranks)
    world.reset_if_needed()
    t0 = time.monotonic()
    runs = _submit(world, ranks, _with_header(code, opts.header), opts.silent)
    watch = _Watch(world, runs, opts, screen, t0)
    watch.until_done()
    result = _finish(world, runs, watch)
    _forget(world, runs)
    screen.show(out.merge_outputs(result.outputs, collapse=opts.collapse))
    _raise_for(result, opts)
    return result


def _submit(world, ranks, code, silent=False) -> dict[int, _RankRun]:
    """Send the cell to every rank: one execute request, and one AsyncResult, per rank."""
    view = world.view(ranks)
    return {r: _RankRun(r, view.execute(code, targets=r, block=False, silent=silent)) for r in ranks}


class _Watch:
    """The running cell, polled every POLL seconds: the rules of this module's docstring.

    What it decided (notes, reason, explanation, waiting calls) accumulates in `result`.
    """

    def __init__(self, world, runs: dict[int, _RankRun], opts: CellOptions, screen: Screen, t0: float):
        self.world, self.runs, self.opts, self.screen, self.t0 = world, runs, opts, screen, t0
        self.result = CellResult(outputs=[])
        self.failed_at = None
        self.next_notice = t0 + opts.slow_notice
        self.next_grace_check = 0.0
        self.next_stuck_check = t0 + min(STUCK_CHECK_EVERY, opts.grace)
        self.last_picture = None  # the previous deadlock sample: act only when two agree
        self.stopped: set[int] = set()  # ranks we interrupted
        self.live = False
        self.wake = threading.Event()  # set when any rank's reply arrives: no polling latency
        for run in runs.values():
            run.future.add_done_callback(lambda _f: self.wake.set())

    def pending(self) -> list[int]:
        return [r for r, run in self.runs.items() if not run.done]

    def until_done(self):
        """Poll until every rank is done or stopped; Ctrl-C here stops the busy ranks."""
        try:
            while self.step():
                self.sleep()
        except KeyboardInterrupt:
            self.result.reason = "interrupted"
            self.stop_all(self.pending(), lambda r, where: f"rank {r} was {where} when interrupted")
        if self.result.reason in ("timeout", "interrupted"):
            _wait_stopped(self.runs, self.result)
        self.result.elapsed = time.monotonic() - self.t0
        if self.live:
            _show_live(self.runs, self.screen)
        self.screen.end_live()

    def step(self) -> bool:
        """One look at the ranks, acting on what it sees; False when the cell is over."""
        self.wake.clear()
        pending = self.pending()
        now = time.monotonic()
        if not self.live and now - self.t0 >= self.opts.live_after:
            self.live = True
        if self.live:
            _show_live(self.runs, self.screen)
        if not pending:
            return False
        if self.world.lost():  # a rank died and took the MPI job with it: nobody will answer
            self.show_ranks(now, {}, dead=pending)
            _note_deaths(self.world, self.runs, self.result)
            return False
        failed = [r for r, run in self.runs.items() if run.done and run.failed is not None]
        if failed and self.failed_at is None:
            self.failed_at = now
        if self.failed_at is not None and now - self.failed_at >= self.opts.grace and now >= self.next_grace_check:
            self.next_grace_check = now + 0.5
            self.stop_blocked(pending, failed)
        if now >= self.next_stuck_check:
            self.next_stuck_check = now + STUCK_CHECK_EVERY
            picture = None  # the deadlock check's sample, when it took one, is the rank view's too
            if not failed and not self.stopped:
                picture = self.last_picture = self.stop_if_stuck(pending)
            self.show_ranks(now, picture=picture)
        if self.opts.timeout is not None and now - self.t0 >= self.opts.timeout and self.result.reason != "timeout":
            self.result.reason = "timeout"
            timeout = self.opts.timeout
            self.stop_all(pending, lambda r, where: f"rank {r} was {where} when the cell timed out after {timeout:g} s")
            return False
        if now >= self.next_notice and not self.world.lost():
            self.next_notice = now + self.opts.slow_notice
            where = self.world.where(pending, timeout=0.5)
            self.live = True
            self.screen.notice(f"still running after {now - self.t0:.0f} s: {out.busy_summary(where)}")
        return True

    def sleep(self):
        """Until a rank's reply arrives or POLL passes. A rank whose reply is in but whose output is
        still on its way is waited for directly (ipyparallel has no public callback for the output)."""
        for run in self.runs.values():
            if run.replied and not run.done:
                run.future.wait_for_output(POLL)
                return
        if self.pending():  # only ranks whose reply is still to come: it sets `wake`
            self.wake.wait(POLL)

    def show_ranks(self, now, where=None, picture=None, dead=()):
        """The rank view (Screen.ranks): every rank's state, from the deadlock check's sample when
        it just took one (`picture`), else from one look at the agents (or `where`, when given)."""
        after = self.screen.rank_view_after
        if after is None or now - self.t0 < after:
            return
        if picture is None:
            if where is None:
                where = self.world.where(self.pending(), timeout=0.5)
            done = [r for r, run in self.runs.items() if run.done]
            failed = [r for r in done if self.runs[r].failed is not None]
            picture = diagnose.rank_states(self.runs, self.world.n, done, failed, where)
        dead = set(dead) | {r for r, run in self.runs.items() if type(run.failed).__name__ == "EngineError"}
        self.screen.ranks(picture, now - self.t0, dead)

    def stop_blocked(self, pending, failed):
        """The grace rule: interrupt pending ranks that sit in a blocking MPI call after others failed."""
        candidates = [r for r in pending if r not in self.stopped]
        if not candidates or self.world.lost():
            return
        where = self.world.where(candidates, timeout=0.5)
        blocked = [r for r in candidates if where.get(r) and where[r].get("waiting")]
        for r in blocked:
            self.result.notes[r] = out.deadlock_note(r, where[r], failed)
            self.result.waiting[r] = where[r]["waiting"]
        if blocked:
            self.result.reason = self.result.reason or "failed"
            self.stopped.update(blocked)
            self.world.interrupt(blocked)

    def stop_if_stuck(self, pending):
        """The deadlock rule (see mpikernel.cells.diagnose): returns this sample for the next call."""
        if self.world.lost():
            return None
        where = self.world.where(pending, timeout=0.5)
        done = [r for r, run in self.runs.items() if run.done]
        states = diagnose.rank_states(self.runs, self.world.n, done, [], where, self.world.hosts())
        grace, last = self.opts.grace, self.last_picture
        if not (diagnose.stuck(states, grace) and diagnose.same_picture(last, states) and diagnose.stuck(last, grace)):
            return states
        blocked = [r for r, s in states.items() if s.state == diagnose.BLOCKED]
        for r in blocked:
            self.result.waiting[r] = states[r].waiting
        self.result.explanation = [diagnose.headline(states, grace)] + diagnose.explain(states)
        self.result.reason = self.result.reason or "failed"
        self.stopped.update(blocked)
        self.world.interrupt(blocked)
        return states

    def stop_all(self, pending, note):
        """Interrupt every pending rank not stopped yet, noting where each was (`note(rank, where)`)."""
        candidates = [r for r in pending if r not in self.stopped]
        if not candidates or self.world.lost():
            return
        where = self.world.where(candidates, timeout=0.5)
        for r in candidates:
            self.result.notes[r] = note(r, out.describe_where(where.get(r)))
            if where.get(r) and where[r].get("waiting"):
                self.result.waiting[r] = where[r]["waiting"]
        self.stopped.update(candidates)
        self.world.interrupt(candidates)


def _finish(world, runs, watch: _Watch) -> CellResult:
    """The ranks' outputs with the watch's notes attached: the result to merge, show and raise for."""
    result = watch.result
    result.outputs = [runs[r].output() for r in sorted(runs)]
    if any(o.error is not None and o.error.ename == "KeyboardInterrupt" for o in result.outputs):
        world.needs_reset = True  # however it came, an interrupt may have left MPI calls pending
    for o in result.outputs:
        o.note = result.notes.get(o.rank)
        if o.note is None and result.explanation and o.rank in watch.stopped:
            o.note = ""  # the explanation covers it: no KeyboardInterrupt traceback
    if result.reason != "died" and world.lost():  # died after ipyparallel reported its engines gone
        _note_deaths(world, runs, result)
    return result


HISTORY_KEPT = 1000  # message ids ipyparallel's client keeps in .history (it never drops any)


def _forget(world, runs):
    """Drop the cell's outputs from ipyparallel's caches (they would pile up over a long session)."""
    try:
        if all(run.future.done() for run in runs.values()):
            world.client.purge_local_results(jobs=[m for run in runs.values() for m in run.future.msg_ids])
        del world.client.history[:-HISTORY_KEPT]
    except Exception:
        pass  # still outstanding (an unresponsive rank): keep them


def _note_deaths(world, runs, result):
    """A rank died: say which and why on it, and that the launcher ended the others (mpikernel.cluster.deaths)."""
    result.reason = "died"
    report = world.deaths()
    notes = report.notes()
    for r, run in runs.items():
        if not run.done or type(run.failed).__name__ == "EngineError" or r in report.causes:
            result.notes[r] = notes.get(r, f"rank {r} was lost")


def _show_live(runs, screen):
    for r in sorted(runs):
        run = runs[r]
        # A display goes live one poll after it arrived, if the rank is still running then: the
        # figures inline matplotlib flushes as a cell ends come with the merged output only.
        # Displays before the text: a clear among them precedes the text that came after it.
        displays = run.md.get("outputs") or []
        if not run.replied:
            for content in displays[run.displays_shown:run.displays_seen]:
                screen.live_display(r, content)
            run.displays_shown = max(run.displays_shown, run.displays_seen)
        run.displays_seen = len(displays)
        text = run.md.get("stdout") or ""
        if len(text) > run.shown:
            new = text[run.shown:]
            cut = new.rfind("\n") + 1  # show whole lines only; the rest comes with the next line
            if cut:
                screen.live(r, new[:cut])
                run.shown += cut
    screen.flush()


def _wait_stopped(runs, result):
    until = time.monotonic() + INTERRUPT_WAIT
    while time.monotonic() < until:
        if all(run.done for run in runs.values()):
            return
        try:
            time.sleep(POLL)
        except KeyboardInterrupt:
            break
    late = [r for r, run in runs.items() if not run.done]
    result.unresponsive = late
    for r in late:
        result.notes[r] = (result.notes.get(r, f"rank {r} was busy")
                           + "; it did not stop when interrupted (use %mpi_restart if it stays stuck)")


def _raise_for(result: CellResult, opts: CellOptions):
    """Raise what the person sees for a failed cell: RanksInterrupted, or a RanksError named after
    the first failing rank's exception (TimeoutError for a timeout, RankDied for a lost world)."""
    groups = out.group_errors(result.outputs, collapse=opts.collapse)
    if not groups and not result.notes and not result.explanation and result.reason is None:
        return
    notes = {r: n for r, n in result.notes.items() if n}
    lines = out.render_errors(groups, notes, cell_label=opts.cell_label)
    if result.explanation:
        lines = lines + ([""] if lines else []) + result.explanation
    if result.reason == "interrupted":
        raise RanksInterrupted(result, lines + ["KeyboardInterrupt"])
    ename = evalue = None
    if result.reason == "died":
        summary = "; ".join(n for _, n in sorted(result.notes.items()) if re.match(r"rank \d+ died \(", n))
        summary = summary or "the MPI job ended"
        ename, evalue = "RankDied", f"{summary.split('; ')[0]}; this MPI world is gone: " \
            "%mpi_restart (or restarting the kernel) starts a new one"
        lines = lines + ["", f"{ename}: {evalue}"]
    elif result.reason == "timeout":
        summary = f"the cell timed out after {opts.timeout:g} s"
        ename, evalue = "TimeoutError", summary
        lines = lines + [f"TimeoutError: {summary}"]
    else:
        summary = out.error_summary(groups) or (result.explanation or ["ranks were stopped"])[0]
        if groups:
            ename, evalue = groups[0].error.ename, groups[0].error.evalue
            lines = lines + out.other_errors_lines(groups)
    if not groups and not result.notes and not result.explanation:
        return
    raise ranks_error(result, lines, summary, ename, evalue)
