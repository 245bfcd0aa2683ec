"""Where a running cell shows things: the plain terminal screen the runner uses by default.

The runner only calls these methods; a front end passes a richer screen (the notebook's ones
live in `mpikernel.front.screens`, beside the display code they publish with).
"""

from __future__ import annotations

import sys

from mpikernel.cells import merge as out


class Screen:
    """Where a running cell shows things. This base prints to stdout/stderr (a terminal)."""

    #: seconds into a cell after which the runner calls `ranks` (every 0.5 s); None: never.
    #: The front end's rank view (mpikernel/front/rankview.py) sets it; this base shows none.
    rank_view_after: float | None = None

    def ranks(self, states: dict, elapsed: float, dead: set):
        """Where every rank is: {rank: diagnose.RankState}, `dead` the ranks that died."""

    def live(self, rank: int, text: str):
        for line in text.splitlines(keepends=True):
            sys.stdout.write(f"[rank {rank}] {line}" + ("" if line.endswith("\n") else "\n"))
        sys.stdout.flush()

    def live_display(self, rank: int, content: dict):
        """A display (or a clear / display update, see cluster/displayops.py) a rank published while
        the cell runs. A terminal shows displays with the merged output only."""

    def notice(self, text: str):
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def flush(self, force: bool = False):
        """Called after each poll: a screen that batches live output shows it here (this one never batches)."""

    def end_live(self):
        pass

    def show(self, blocks: list[out.Block]):
        """The merged output: streams as text under their headers, rich outputs after a header line."""
        for b in blocks:
            if b.kind == "clear":  # a terminal keeps what it printed
                continue
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
