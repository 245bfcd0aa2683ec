"""The screens a cell shows itself on inside a notebook (the runner's plain `Screen` is the terminal's).

They publish through IPython's display machinery and `mpikernel.front.display`, so they belong to
the front end, not to the runner: the front end picks one and hands it to `run_cell`.
"""

from __future__ import annotations

import time

from mpikernel.cells import merge as out
from mpikernel.cells.screen import Screen
from mpikernel.front.display import META_KEY


class NotebookScreen(Screen):
    """In a Jupyter kernel: live output in ONE display area, updated at most 5 times a second and
    emptied when the merged output is shown; the ranks' own displays live beside it (`LiveDisplays`)."""

    MAX_LINES = 40
    MIN_INTERVAL = 0.2

    def __init__(self):
        self.lines: list[tuple[int, str]] = []  # (rank, line) shown live
        self.status = ""
        self.handle = None
        self.dirty = False
        self._last = 0.0
        self.displays = LiveDisplays()

    def live(self, rank, text):
        self.lines.extend((rank, line) for line in text.splitlines())
        del self.lines[: -self.MAX_LINES]
        self.dirty = True

    def live_display(self, rank, content):
        if self.displays.show(rank, content):  # a clear: that rank's live lines go too
            self.lines = [(r, line) for r, line in self.lines if r != rank]
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
        text = [f"[rank {r}] {line}" for r, line in self.lines] + ([self.status] if self.status else [])
        bundle = {"text/plain": "\n".join(text)}
        if self.handle is None:
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)

    def end_live(self):
        if self.handle is not None:
            self.handle.update({"text/plain": ""}, raw=True)
            self.handle = None
        self.displays.end()

    def show(self, blocks: list[out.Block]):
        """The merged output as labelled rich displays (text/plain stays what Screen prints)."""
        from mpikernel.front.display import show_blocks

        show_blocks(blocks)


class LiveDisplays:
    """The ranks' displays while a cell runs: ONE live output per rank display, as in ipykernel.

    A rank's `handle.update(...)` updates its live output in place, and after a rank's
    `clear_output(wait=True)` its next display reuses its first live output, so a progress loop
    on rank 0 is one live output, not one per step. Each live output has a display id of ours
    (the ranks' ids are per rank and would collide); at the end they are emptied, and the merged
    output (cells/merge.py) shows the cell's settled displays, labelled."""

    def __init__(self):
        self.slots: dict[int, list] = {}  # rank -> its live outputs (DisplayHandles), in order
        self.by_id: dict[tuple[int, str], object] = {}  # (rank, its display_id) -> handle
        self.next_slot: dict[int, int] = {}  # rank -> the slot its next display fills
        self.stale: set[int] = set()  # ranks whose clear(wait=True) waits for their next display

    def show(self, rank: int, content: dict) -> bool:
        """Show one live display message of `rank`; True when it was a clear."""
        transient = content.get("transient") or {}
        op = (transient.get(out.OP_KEY) or {}).get("op")
        if op == "clear":
            self.next_slot[rank] = 0
            if (transient.get(out.OP_KEY) or {}).get("wait"):
                self.stale.add(rank)
            else:
                for handle in self.slots.get(rank, []):
                    _blank(handle)
            return True
        data, metadata = content.get("data", {}), content.get("metadata") or {}
        handle = self.by_id.get((rank, transient.get("display_id")))
        if op == "update":
            if handle is not None:
                handle.update(data, metadata=metadata, raw=True)
            return False
        slots = self.slots.setdefault(rank, [])
        at = self.next_slot.get(rank, len(slots))
        if at < len(slots):
            handle = slots[at]
            handle.update(data, metadata=metadata, raw=True)
        else:
            from IPython.display import display

            live_md = {**metadata, META_KEY: {"kind": "live", "rank": rank}}  # ours, for notebook readers
            handle = display(data, metadata=live_md, raw=True, display_id=True)
            slots.append(handle)
        self.next_slot[rank] = at + 1
        if rank in self.stale:  # the clear that waited happens now: the rest of the old ones go
            self.stale.discard(rank)
            for old in slots[at + 1:]:
                _blank(old)
        if transient.get("display_id") is not None:
            self.by_id[(rank, transient["display_id"])] = handle
        return False

    def end(self):
        for handles in self.slots.values():
            for handle in handles:
                _blank(handle)
        self.slots.clear()
        self.by_id.clear()
        self.next_slot.clear()
        self.stale.clear()


def _blank(handle) -> None:
    handle.update({"text/plain": ""}, raw=True)


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
