"""The screens a cell shows itself on inside a notebook (the runner's plain `Screen` is the terminal's).

They publish through IPython's display machinery and `mpikernel.front.display`, so they belong to
the front end, not to the runner: the front end picks one and hands it to `run_cell`.
"""

from __future__ import annotations

import time

from mpikernel.cells import merge as out
from mpikernel.cells.screen import Screen


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


def default_screen() -> Screen:
    """NotebookScreen inside a Jupyter kernel, the plain Screen in a terminal."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except Exception:
        shell = None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        return NotebookScreen()
    return Screen()


class KernelScreen(NotebookScreen):
    """How a cell of the MPI kernel reaches the notebook: as %%px_mpi shows it, except that the
    ranks' results are the cell's result (execute_result, "Out[n]"), each under its rank header."""

    def __init__(self, publish_result):
        super().__init__()
        self.publish_result = publish_result  # MPIKernel.publish_result: one execute_result

    def show(self, blocks):
        from mpikernel.front.display import show_blocks

        show_blocks(blocks, publish_result=self.publish_result)


class SilentScreen(Screen):
    """A silent execute_request's screen: the cell runs, nothing is published (as ipykernel)."""

    def live(self, rank, text):
        pass

    def notice(self, text):
        pass

    def show(self, blocks):
        pass
