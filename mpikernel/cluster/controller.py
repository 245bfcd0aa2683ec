"""`python -m mpikernel.cluster.controller OWNER_PID [ipcontroller options]`: the world's controller.

ipyparallel's controller by default forks one process per scheduler (9 processes here). We run it
as ONE process: the schedulers in threads (`--usethreads`) and the heart monitor, which ipyparallel
always forks with multiprocessing, in a thread too (a forked child would not see our watchdog and
outlived a killed owner). That is plenty for the handful of engines of an interactive world.
"""

import json
import sys
import threading
from pathlib import Path

from mpikernel.cluster.watchdog import watch_owner


class _HeartMonitorThread(threading.Thread):
    """Stands in for multiprocessing.Process where the controller starts its heart monitor."""

    def __init__(self, target=None, kwargs=None, daemon=True):
        super().__init__(target=target, kwargs=kwargs or {}, daemon=True, name="heartmonitor")

    def terminate(self):  # the thread ends with the process
        pass


def connection_file_complete(path) -> bool:
    """True once `path` holds a whole JSON document: the controller writes its connection files
    in place, not atomically, so a reader racing it can see half of one."""
    try:
        json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    return True


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or not argv[0].isdigit():
        sys.exit("usage: python -m mpikernel.cluster.controller OWNER_PID [ipcontroller options]")
    watch_owner(int(argv.pop(0)))
    import ipyparallel.controller.app as app

    app.Process = _HeartMonitorThread
    IPController = app.IPController
    IPController.launch_instance(["--usethreads", *argv])


if __name__ == "__main__":
    main()
