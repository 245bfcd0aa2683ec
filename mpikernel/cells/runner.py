"""Running one cell on the ranks: live output, deadlock grace rule, timeout, interrupt, merged result.

`run_cell(world, code, options, screen)` is the one implementation behind `%%px_mpi`, `%px_mpi`
and the MPI kernel. While the ranks work it polls every 50 ms:

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
- after `slow_notice` seconds (and every `slow_notice` seconds after) it says which ranks are
  still busy and where;
- after `timeout` seconds every rank still busy is interrupted;
- Ctrl-C (KeyboardInterrupt here) interrupts the busy ranks and waits for them to stop.

At the end, the merged output (mpikernel.cells.merge) is shown and, if any rank raised or was
interrupted, `RanksError` (or `RanksInterrupted`) is raised. Both render as ONE labelled error
in IPython and ipykernel through `_render_traceback_`.
"""

from __future__ import annotations

import re
import sys
import threading
import time

from mpikernel.cells import diagnose
from mpikernel.cells import merge as out
from mpikernel.cells.types import CellOptions, CellResult, RanksError, RanksInterrupted

POLL = 0.05
INTERRUPT_WAIT = 5.0  # seconds ranks get to stop after SIGINT before we call them unresponsive
STUCK_CHECK_EVERY = 0.5  # seconds between two looks for a deadlock (each asks the pending ranks)


class Screen:
    """Where a running cell shows things. This base prints to stdout/stderr (a terminal)."""

    def live(self, rank: int, text: str):
        for line in text.splitlines(keepends=True):
            sys.stdout.write(f"[rank {rank}] {line}" + ("" if line.endswith("\n") else "\n"))
        sys.stdout.flush()

    def notice(self, text: str):
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def end_live(self):
        pass

    def show(self, blocks: list[out.Block]):
        """The merged output: streams as text under their headers, rich outputs after a header line."""
        for b in blocks:
            if b.kind == "stdout":
                sys.stdout.write(out.render_stream(b))
            elif b.kind == "stderr":
                sys.stdout.flush()
                sys.stderr.write(out.render_stream(b))
                sys.stderr.flush()
            else:
                sys.stdout.write(b.header + "\n")
                sys.stdout.flush()
                self.rich(b.payload)
        sys.stdout.flush()

    def rich(self, content: dict):
        from IPython.display import publish_display_data

        publish_display_data(content["data"], content.get("metadata") or {})


class NotebookScreen(Screen):
    """In a Jupyter kernel: live output in ONE display area, updated at most 5 times a second and
    emptied when the merged output is shown."""

    MAX_LINES = 40
    MIN_INTERVAL = 0.2

    def __init__(self):
        self.lines: list[str] = []
        self.status = ""
        self.handle = None
        self.dirty = False
        self._last = 0.0

    def live(self, rank, text):
        self.lines.extend(f"[rank {rank}] {line}" for line in text.splitlines())
        del self.lines[: -self.MAX_LINES]
        self.dirty = True

    def notice(self, text):
        self.status = text
        self.dirty = True
        self.flush(force=True)

    def flush(self, force=False):
        """Show what changed since the last update (called by the runner after each poll)."""
        now = time.monotonic()
        if not self.dirty or (not force and now - self._last < self.MIN_INTERVAL):
            return
        from IPython.display import display

        self._last, self.dirty = now, False
        bundle = {"text/plain": "\n".join(self.lines + ([self.status] if self.status else []))}
        if self.handle is None:
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)

    def end_live(self):
        if self.handle is not None:
            self.handle.update({"text/plain": ""}, raw=True)
            self.handle = None

    def show(self, blocks: list[out.Block]):
        """The merged output as labelled rich displays (text/plain stays what Screen prints)."""
        from mpikernel.front.display import show_blocks

        show_blocks(blocks)


def default_screen():
    """NotebookScreen inside a Jupyter kernel, the plain Screen in a terminal."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except Exception:
        shell = None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        return NotebookScreen()
    return Screen()


def _with_header(code: str, header: str | None) -> str:
    """Put the typed header line(s) back above the code, commented out, so line numbers match."""
    if header is None:
        return code
    return "".join(f"# {line}\n" for line in header.splitlines() or [""]) + code


class _RankRun:
    """Book-keeping of one rank's part of a running cell."""

    def __init__(self, rank, future):
        self.rank = rank
        self.future = future
        self.shown = 0  # characters of stdout already shown live

    @property
    def md(self):
        return self.future.output.metadata

    @property
    def done(self):
        return self.future.done() and self.future.output.done()

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
    """Run `code` on the chosen ranks; show live and merged output; raise RanksError on failures."""
    opts = options or CellOptions()
    screen = screen or default_screen()
    if opts.trace:  # the same run, wrapped by the recorder (mpikernel/trace/run.py)
        from mpikernel.trace.run import run_traced

        return run_traced(world, code, opts, screen, run_cell)
    world.require_running()
    ranks = list(range(world.n)) if opts.ranks is None else sorted(opts.ranks)
    world.reset_if_needed()
    t0 = time.monotonic()
    ar = world.view(ranks).execute(_with_header(code, opts.header), block=False, silent=False)
    runs = {r: _RankRun(r, f) for r, f in zip(ar._targets, ar._children)}
    wake = threading.Event()  # set when any rank's reply or output completes: no polling latency
    for run in runs.values():
        run.future.add_done_callback(lambda _f: wake.set())
        run.future.output.add_done_callback(lambda _f: wake.set())
    result = CellResult(outputs=[])
    failed_at = None
    next_notice = t0 + opts.slow_notice
    next_grace_check = 0.0
    next_stuck_check = t0 + min(STUCK_CHECK_EVERY, opts.grace)
    last_picture = None  # the previous deadlock sample: act only when two agree
    stopped: set[int] = set()  # ranks we interrupted
    live = False
    try:
        while True:
            wake.clear()
            pending = [r for r, run in runs.items() if not run.done]
            now = time.monotonic()
            if not live and now - t0 >= opts.live_after:
                live = True
            if live:
                _show_live(runs, screen)
            if not pending:
                break
            if world.lost():  # a rank died and took the MPI job with it: nobody will answer
                _note_deaths(world, runs, result)
                break
            failed = [r for r, run in runs.items() if run.done and run.failed is not None]
            if failed and failed_at is None:
                failed_at = now
            if failed_at is not None and now - failed_at >= opts.grace and now >= next_grace_check:
                next_grace_check = now + 0.5
                _stop_blocked(world, pending, failed, stopped, result)
            if not failed and not stopped and now >= next_stuck_check:
                next_stuck_check = now + STUCK_CHECK_EVERY
                last_picture = _stop_if_stuck(world, runs, pending, opts, stopped, result, last_picture)
            if opts.timeout is not None and now - t0 >= opts.timeout and result.reason != "timeout":
                result.reason = "timeout"
                _stop_all(world, pending, stopped, result,
                          lambda r, where: f"rank {r} was {where} when the cell timed out after {opts.timeout:g} s")
                break
            if now >= next_notice and not world.lost():
                next_notice = now + opts.slow_notice
                where = world.where(pending, timeout=0.5)
                live = True
                screen.notice(f"still running after {now - t0:.0f} s: {out.busy_summary(where)}")
            wake.wait(POLL)
    except KeyboardInterrupt:
        result.reason = "interrupted"
        pending = [r for r, run in runs.items() if not run.done]
        _stop_all(world, pending, stopped, result, lambda r, where: f"rank {r} was {where} when interrupted")
    if result.reason in ("timeout", "interrupted"):
        _wait_stopped(runs, result)
    result.elapsed = time.monotonic() - t0
    if live:
        _show_live(runs, screen)
    screen.end_live()
    result.outputs = [runs[r].output() for r in sorted(runs)]
    if any(o.error is not None and o.error.ename == "KeyboardInterrupt" for o in result.outputs):
        world.needs_reset = True  # however it came, an interrupt may have left MPI calls pending
    for o in result.outputs:
        o.note = result.notes.get(o.rank)
        if o.note is None and result.explanation and o.rank in stopped:
            o.note = ""  # the explanation covers it: no KeyboardInterrupt traceback
    if result.reason != "died" and world.lost():  # died after ipyparallel reported its engines gone
        _note_deaths(world, runs, result)
    _forget(world, ar)
    screen.show(out.merge_outputs(result.outputs, collapse=opts.collapse))
    _raise_for(result, opts)
    return result


HISTORY_KEPT = 1000  # message ids ipyparallel's client keeps in .history (it never drops any)


def _forget(world, ar):
    """Drop the cell's outputs from ipyparallel's caches (they would pile up over a long session)."""
    try:
        if all(f.done() for f in ar._children):
            world.client.purge_local_results(jobs=list(ar.msg_ids))
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
        text = run.md.get("stdout") or ""
        if len(text) > run.shown:
            new = text[run.shown:]
            cut = new.rfind("\n") + 1  # show whole lines only; the rest comes with the next line
            if cut:
                screen.live(r, new[:cut])
                run.shown += cut
    flush = getattr(screen, "flush", None)
    if flush is not None:
        flush()


def _stop_blocked(world, pending, failed, stopped, result):
    """The grace rule: interrupt pending ranks that sit in a blocking MPI call after others failed."""
    candidates = [r for r in pending if r not in stopped]
    if not candidates or world.lost():
        return
    where = world.where(candidates, timeout=0.5)
    blocked = [r for r in candidates if where.get(r) and where[r].get("waiting")]
    for r in blocked:
        result.notes[r] = out.deadlock_note(r, where[r], failed)
        result.waiting[r] = where[r]["waiting"]
    if blocked:
        result.reason = result.reason or "failed"
        stopped.update(blocked)
        world.interrupt(blocked)


def _stop_if_stuck(world, runs, pending, opts, stopped, result, last_picture):
    """The deadlock rule (see mpikernel.cells.diagnose): returns this sample for the next call."""
    if world.lost():
        return None
    where = world.where(pending, timeout=0.5)
    done = [r for r, run in runs.items() if run.done]
    states = diagnose.rank_states(runs, world.n, done, [], where)
    if not (diagnose.stuck(states, opts.grace) and diagnose.same_picture(last_picture, states)
            and diagnose.stuck(last_picture, opts.grace)):
        return states
    blocked = [r for r, s in states.items() if s.state == diagnose.BLOCKED]
    for r in blocked:
        result.waiting[r] = states[r].waiting
    result.explanation = [diagnose.headline(states, opts.grace)] + diagnose.explain(states)
    result.reason = result.reason or "failed"
    stopped.update(blocked)
    world.interrupt(blocked)
    return states


def _stop_all(world, pending, stopped, result, note):
    candidates = [r for r in pending if r not in stopped]
    if not candidates or world.lost():
        return
    where = world.where(candidates, timeout=0.5)
    for r in candidates:
        result.notes[r] = note(r, out.describe_where(where.get(r)))
        if where.get(r) and where[r].get("waiting"):
            result.waiting[r] = where[r]["waiting"]
    stopped.update(candidates)
    world.interrupt(candidates)


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
    groups = out.group_errors(result.outputs, collapse=opts.collapse)
    if not groups and not result.notes and not result.explanation and result.reason is None:
        return
    notes = {r: n for r, n in result.notes.items() if n}
    lines = out.render_errors(groups, notes, cell_label=opts.cell_label)
    if result.explanation:
        lines = lines + ([""] if lines else []) + result.explanation
    if result.reason == "interrupted":
        raise RanksInterrupted(result, lines + ["KeyboardInterrupt"])
    if result.reason == "died":
        summary = "; ".join(n for _, n in sorted(result.notes.items()) if re.match(r"rank \d+ died \(", n))
        summary = summary or "the MPI job ended"
        lines = lines + ["", f"RankDied: {summary.split('; ')[0]}; this MPI world is gone: "
                         "%mpi_restart (or restarting the kernel) starts a new one"]
    elif result.reason == "timeout":
        summary = f"the cell timed out after {opts.timeout:g} s"
        lines = lines + [f"TimeoutError: {summary}"]
    else:
        summary = out.error_summary(groups) or (result.explanation or ["ranks were stopped"])[0]
    if not groups and not result.notes and not result.explanation:
        return
    raise RanksError(result, lines, summary)
