"""Running a traced cell (`%%px_mpi --trace`, `%%trace` in the kernel): arm, run, collect, show.

The binding records the events (`MPI._trace_start/_trace_stop`, see docs/binding.md); this module
brings those records from the ranks to a `mpikernel.trace.model.Trace` and the pictures of
`mpikernel.trace.draw`:

- on the ranks (functions called through ipyparallel's apply, importable on every engine, each
  importing the binding itself): `_engine_clock_offsets` measures each rank's `MPI.Wtime` offset
  against rank 0 with a few ping-pongs over MPI; `_engine_arm` makes the rank's NEXT cell run
  traced (IPython's pre/post_run_cell hooks start and stop the binding's recorder around exactly
  the user's code); `_engine_collect` hands the record back.
- in the owner: `run_traced` runs the cell through the one cell runner
  (`mpikernel.cells.runner.run_cell`, which never traces) between arming and collecting, and
  hands back its CellResult with the Trace in `result.trace` (also on the ranks' errors' `.result`).

Clocks: `MPI.Wtime` on one host is one clock, but not across hosts, so every traced cell measures
offsets to rank 0 first; an offset smaller than its own measurement error is taken as 0 (on one
host the measured "offsets" are only noise).
"""

from __future__ import annotations

import time
from dataclasses import replace

from mpikernel.cells.runner import run_cell
from mpikernel.cells.screen import Screen
from mpikernel.cells.types import CellOptions, CellResult, RanksError, RanksInterrupted
from mpikernel.trace import draw
from mpikernel.trace.model import Trace

DEFAULT_CAPACITY = 65536  # events per rank (the binding's ring buffer keeps the newest)
CLOCK_ROUNDS = 8  # ping-pongs per rank; the one with the shortest round trip counts
COLLECT_TIMEOUT = 10.0  # seconds to wait for the ranks' records after the cell


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


# ============================================================================ in the owner


def measure_clock_offsets(world, rounds: int = CLOCK_ROUNDS, timeout: float = 10.0) -> dict[int, tuple]:
    """{rank: (offset, error)} of every rank's Wtime against rank 0's (all ranks take part)."""
    ar = world.view().apply_async(_engine_clock_offsets, rounds)
    results = ar.get(timeout=timeout)
    return {int(r): tuple(v) for r, v in results[0].items()}


def effective_offsets(measured: dict[int, tuple]) -> dict[int, tuple]:
    """Offsets smaller than their error are noise (one host shares one clock): taken as 0."""
    return {r: ((o, e) if abs(o) > e else (0.0, e)) for r, (o, e) in measured.items()}


def run_traced(world, code: str, options: CellOptions, screen: Screen | None = None) -> CellResult:
    """Run the cell with the recorder on, then show (and save) its trace; the result holds it.

    The trace is shown even when the cell failed, timed out or was interrupted (the picture of a
    deadlock), and the cell's error is raised after it, its `.result.trace` set.
    """
    screen = screen or Screen()
    save_to = options.trace if isinstance(options.trace, str) and options.trace else None
    if save_to:
        draw.check_save_path(save_to)  # before the cell runs, not after
    draw.preload()
    ranks = list(range(world.n)) if options.ranks is None else sorted(options.ranks)
    measured, clock_note = _prepare(world, ranks, options.trace_capacity)
    error = None
    try:
        result = run_cell(world, code, replace(options, trace=False), screen)
    except (RanksError, RanksInterrupted) as e:
        error, result = e, e.result
    except BaseException:
        _collect(world, ranks, [], timeout=2.0)  # disarm; the error is what matters
        raise
    got, notes = _collect(world, ranks, list(result.unresponsive))
    result.trace = Trace.from_records(
        {r: g["record"] for r, g in got.items()},
        offsets=effective_offsets(measured),
        spans={r: (g["start"], g["end"]) for r, g in got.items()},
        waiting=result.waiting,
        notes=notes + ([clock_note] if clock_note else []),
    )
    _show(result.trace, save_to, screen)
    if error is not None:
        raise error
    return result


def _prepare(world, ranks, capacity) -> tuple[dict, str | None]:
    """Measure the clocks and arm the ranks' recorders: (measured offsets, a note if they could not be)."""
    world.require_running()
    world.reset_if_needed()
    try:
        measured, clock_note = measure_clock_offsets(world), None
    except Exception as e:  # not fatal: the ranks share a clock when on one host
        measured, clock_note = {}, f"clock offsets could not be measured ({e}); assuming one clock"
    if not all(world.view(ranks).apply_sync(_engine_can_record)):
        from IPython.core.error import UsageError

        raise UsageError("--trace needs a binding that records MPI calls, and this build of "
                         "mpikernel.MPI has no recorder (MPI._trace_start): rebuild it from this source")
    world.view(ranks).apply_sync(_engine_arm, capacity)
    return measured, clock_note


def _show(trace: Trace, save_to: str | None, screen: Screen):
    """Draw the trace, save it if asked (a failure to save is a note, not an error), display it."""
    try:
        fig = draw.figure(trace)
    except ImportError:
        fig = None  # no matplotlib: display_bundle says so, the table still shows
    if save_to:
        try:
            draw.save(trace, save_to, fig)
        except (OSError, ImportError) as e:
            trace.notes.append(f"the trace could not be saved to {save_to}: {e}")
        else:
            trace.notes.append(f"trace saved to {save_to}")
    screen.rich(draw.display_bundle(trace, fig))


def _collect(world, ranks, skip, timeout: float = COLLECT_TIMEOUT):
    """({rank: collected dict}, notes) from every rank that can still answer (one request per rank)."""
    notes = [f"rank {r} did not stop, so its events are missing" for r in skip]
    asked = [r for r in ranks if r not in skip]
    got = {}
    if not asked or world.lost():
        return got, notes
    world.require_running()
    futures = {r: world.client[r].apply_async(_engine_collect) for r in asked}  # one AsyncResult each
    until = time.monotonic() + timeout
    while not all(f.done() for f in futures.values()) and time.monotonic() < until:
        time.sleep(0.02)
    for r, future in futures.items():
        if not future.done():
            notes.append(f"rank {r} did not hand over its events in {timeout:g} s")
            continue
        try:
            got[r] = future.result()
        except Exception as e:
            notes.append(f"rank {r}: its events could not be read ({type(e).__name__}: {e})")
    return got, notes
