"""Release an idle world: `%mpi_start --idle-timeout 30m` stops the ranks after 30 idle minutes.

On a cluster an allocation that nobody uses still burns core-hours; a notebook left open over
the weekend should give its nodes back. A daemon thread checks twice a minute (or more often
for short limits) and stops the world when no cell has run on the ranks for the limit; a cell
that runs holds the world in use (`in_use()`), however long it takes. What happened is kept
as a note (`note()`) for the next cell and for %mpi_status, since a background thread cannot
print into the cell the person will look at.

Kernel specs can set the limit for every world with MPIKERNEL_IDLE_TIMEOUT (like 30m).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time

ENV_VAR = "MPIKERNEL_IDLE_TIMEOUT"
_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600}


def parse_duration(text) -> float | None:
    """'30m' / '90s' / '2h' / '45' (seconds) -> seconds; None or '' -> None; ValueError if unreadable."""
    if text is None or str(text).strip() == "":
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|)\s*", str(text))
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"--idle-timeout needs a positive duration like 30m, 90s or 2h (got {text!r})")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _human(seconds):
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


class IdleWatch:
    """Stops `stop()` after `limit` seconds without a cell; one per running world."""

    def __init__(self, limit: float, stop, clock=time.monotonic):
        self.limit, self._stop, self._clock = limit, stop, clock
        self._lock = threading.Lock()
        self._busy = 0
        self._last = clock()
        self._cancelled = threading.Event()
        self.released = None  # the note, once the world was released
        self._thread = threading.Thread(target=self._run, name="mpikernel-idle", daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def in_use(self):
        with self._lock:
            self._busy += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1
                self._last = self._clock()

    def check(self) -> bool:
        """Release the world if it has been idle for the limit; True if it was released now."""
        with self._lock:
            if self._cancelled.is_set() or self._busy or self._clock() - self._last < self.limit:
                return False
            self._cancelled.set()
            self.released = (f"the MPI world was stopped after {_human(self.limit)} without a cell "
                             f"(--idle-timeout), at {time.strftime('%H:%M')}, to give its cores back")
        self._stop()
        return True

    def _run(self):
        period = min(30.0, max(0.2, self.limit / 10))
        while not self._cancelled.wait(period):
            self.check()

    def cancel(self):
        self._cancelled.set()
