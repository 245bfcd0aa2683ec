"""What a cell run takes and gives back: options in, a result or a ranks' error out.

Shared by the runner, the tracer and both front ends, so they live apart from any of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mpikernel.cells import merge as out


def default_grace() -> float:
    """Seconds a deadlock may last before it is stopped and explained: $MPIKERNEL_GRACE or 2."""
    import os

    try:
        value = float(os.environ.get("MPIKERNEL_GRACE", "2"))
    except ValueError:
        return 2.0
    return value if value >= 0 else 2.0


@dataclass
class CellOptions:
    """How to run a cell; every magic option maps to one field."""

    ranks: list[int] | None = None  # None: all ranks
    timeout: float | None = None
    collapse: bool = True
    grace: float = field(default_factory=lambda: default_grace())
    slow_notice: float = 10.0
    live_after: float = 1.0
    header: str | None = None  # what the person typed above `code` (the %%px_mpi line): sent as a
    # comment line so the ranks' line numbers and traceback context match the cell as typed
    cell_label: str | None = None  # the owner's execution count, shown in tracebacks as In[...]
    trace: bool | str = False  # record the MPI calls and show them (a file name also saves them)
    trace_capacity: int = 65536  # events kept per rank while tracing
    silent: bool = False  # Jupyter's silent=True: the ranks run it silent (no result, no history)


@dataclass
class CellResult:
    outputs: list[out.RankOutput]
    notes: dict[int, str] = field(default_factory=dict)
    reason: str | None = None  # None, "failed", "timeout", "interrupted", "died"
    elapsed: float = 0.0
    unresponsive: list[int] = field(default_factory=list)
    explanation: list[str] = field(default_factory=list)  # why a stuck cell was stopped (diagnose)
    waiting: dict[int, dict] = field(default_factory=dict)  # MPI call a rank was stopped in
    trace: object = None  # a traced cell's mpikernel.trace.model.Trace (set by run_traced); None untraced

    @property
    def errors(self) -> list[out.ErrorGroup]:
        return out.group_errors(self.outputs)


class RanksError(Exception):
    """Some ranks raised (or had to be stopped). Shown as the merged, labelled tracebacks.

    `ename` / `evalue` are the first failing rank's own exception (in rank order), and so is
    str(err): ipykernel puts type(err).__name__ and str(err) in the `error` message, where tools
    (nbclient's allow_errors, `raises-exception` tags) look for the name. `ranks_error(...)` makes
    the instance of a subclass named after that exception; when the name is a builtin exception
    the subclass also derives from it, so `except ZeroDivisionError:` catches a rank's division by
    zero. `summary` is the one line over all ranks ("rank 1 raised ZeroDivisionError: ...").
    """

    ename = "RanksError"

    def __init__(self, result: CellResult, lines: list[str], summary: str, evalue: str | None = None):
        super().__init__(summary if evalue is None else evalue)
        self.result = result
        self.lines = lines
        self.summary = summary
        self.evalue = summary if evalue is None else evalue

    def __str__(self):
        return self.evalue

    def _render_traceback_(self):
        return list(self.lines)


_NAMED: dict[str, type] = {}  # ename -> its RanksError subclass (made once, so classes compare equal)


def ranks_error_class(ename: str) -> type:
    """The RanksError subclass named `ename` (also a subclass of the builtin of that name, if any)."""
    import builtins

    if ename == RanksError.ename or not ename.isidentifier():
        return RanksError
    if ename not in _NAMED:
        base = getattr(builtins, ename, None)
        bases = (RanksError,)
        # only plain Exception subclasses whose constructor takes one message: KeyboardInterrupt
        # and SystemExit are not errors of a cell, UnicodeError's subclasses need five arguments
        if isinstance(base, type) and issubclass(base, Exception) and not issubclass(base, UnicodeError):
            bases = (RanksError, base)
        try:
            cls = type(ename, bases, {"ename": ename, "__module__": "mpikernel.ranks"})
        except TypeError:  # a builtin whose layout cannot be mixed in
            cls = type(ename, (RanksError,), {"ename": ename, "__module__": "mpikernel.ranks"})
        _NAMED[ename] = cls
    return _NAMED[ename]


def ranks_error(result: CellResult, lines: list[str], summary: str,
                ename: str | None = None, evalue: str | None = None) -> RanksError:
    """The RanksError to raise for `result`: named after `ename` (the first failing rank's), if given."""
    return ranks_error_class(ename or RanksError.ename)(result, lines, summary, evalue)


class RanksInterrupted(KeyboardInterrupt):
    """The person interrupted the cell; ranks were stopped. Renders where each rank was."""

    def __init__(self, result: CellResult, lines: list[str]):
        super().__init__("interrupted")
        self.result = result
        self.lines = lines

    def _render_traceback_(self):
        return list(self.lines)
