"""A rank's `clear_output` and `update_display_data`, carried to the owner as display_data.

ipyparallel's client keeps what an engine publishes per request (`metadata["outputs"]`), but only
`display_data`: a rank's `clear_output(wait=True)` and `handle.update(...)` were dropped on the
way, so progress loops piled up in the notebook. Each rank therefore turns those two messages into
`display_data` whose `transient` says what they were (transient data is never saved in a notebook):

    {"mpikernel": {"op": "update"}}                         + the display_id, as ipykernel sends it
    {"mpikernel": {"op": "clear", "wait": W, "stdout": N, "stderr": M}}

`N`/`M` are the characters this rank had written to stdout/stderr in the cell when it cleared
(streams are flushed first), so the owner knows which part of the text the clear removed
(mpikernel/cells/merge.py `settle`). `RankOutStream` counts them; the engine uses it as its
out_stream_factory.
"""

from __future__ import annotations

import sys

from mpikernel.cluster.limits import LimitedOutStream

KEY = "mpikernel"  # the transient key (the same name as the owner's display metadata key)


class RankOutStream(LimitedOutStream):
    """LimitedOutStream that also counts the characters written in the current cell."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._count_cell = None
        self.written_in_cell = 0

    def write(self, string):
        cell = self._cell_id()
        if cell != self._count_cell:
            self._count_cell, self.written_in_cell = cell, 0
        if isinstance(string, str):
            self.written_in_cell += len(string)
        return super().write(string)

    def written(self) -> int:
        """Characters written in the current cell (0 before the first write of a cell)."""
        return self.written_in_cell if self._cell_id() == self._count_cell else 0


def _written(stream) -> int:
    counter = getattr(stream, "written", None)
    return counter() if callable(counter) else 0


def as_display_data(msg: dict) -> dict:
    """The display publisher's hook: update_display_data and clear_output become marked display_data."""
    kind = msg["header"]["msg_type"]
    if kind == "update_display_data":
        msg["content"].setdefault("transient", {})[KEY] = {"op": "update"}
    elif kind == "clear_output":
        wait = bool(msg["content"].get("wait"))
        op = {"op": "clear", "wait": wait, "stdout": _written(sys.stdout), "stderr": _written(sys.stderr)}
        msg["content"] = {"data": {}, "metadata": {}, "transient": {KEY: op}}
    else:
        return msg
    msg["header"]["msg_type"] = msg["msg_type"] = "display_data"
    return msg


def install(shell) -> None:
    """Mark this rank's display updates and clears from now on.

    ipykernel keeps the publisher's hooks per thread, so the hook is (re)registered before every
    cell, on the thread that runs it (once per thread)."""
    pub = shell.display_pub
    if not hasattr(pub, "register_hook"):
        return

    def ensure_hook(*_args):
        if as_display_data not in pub._hooks:
            pub.register_hook(as_display_data)

    ensure_hook()
    shell.events.register("pre_execute", ensure_hook)
