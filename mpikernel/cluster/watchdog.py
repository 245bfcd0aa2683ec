"""Die with the owner: every process a World starts watches the process that owns it.

The owner (a notebook kernel, an IPython session) may vanish without cleaning up — killed by
SIGKILL, by the OOM killer, by a kernel restart. The controller and the engines then must not
linger. Each of them runs `watch_owner(pid)`: a daemon thread that blocks on a pidfd of the
owner (Linux ≥ 5.3: readable the moment the owner exits, no polling, no pid-reuse race) and
falls back to polling the pid twice a second elsewhere. When the owner is gone it ends this
process at once with os._exit (no MPI_Finalize: the other ranks are going away too).
"""

import os
import select
import shutil
import threading
import time

from mpikernel.cluster import shm

EXIT_CODE = 75  # distinct, so logs show that the watchdog ended the process


def pid_alive(pid):
    """True while `pid` runs; a zombie waiting for its reaper counts as gone.

    The one liveness check of the project: the watchdog's fallback, the World and the tests use it.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        return True


def _wait_pidfd(pid):
    """Block until `pid` exits, via pidfd; False if pidfds are not available here."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return False
    try:
        fd = opener(pid)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    try:
        while True:
            ready, _, _ = select.select([fd], [], [])
            if ready:
                return True
    finally:
        os.close(fd)


def _wait_polling(pid, interval):
    while pid_alive(pid):
        time.sleep(interval)


def wait_for_exit(pid, interval=0.5):
    """Return when process `pid` no longer exists."""
    if not _wait_pidfd(pid):
        _wait_polling(pid, interval)


def remove_world_dir(tries=3, pause=0.2):
    """Remove the world's scratch directory named by $MPIKERNEL_WORLD_DIR (a killed owner cannot).

    Every rank tries (whoever is first wins); a retry covers a file the dying controller
    wrote meanwhile. Only a directory named like a world's, in the temp dir, is touched.
    """
    path = os.environ.get("MPIKERNEL_WORLD_DIR", "")
    name = os.path.basename(path.rstrip("/"))
    if not path or not name.startswith("mpikernel-world-"):
        return
    for _ in range(tries):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            return
        time.sleep(pause)


def watch_owner(pid, on_gone=None, interval=0.5):
    """Start the daemon thread; when the owner has exited, run `on_gone()`, remove the world's
    directory (see remove_world_dir) and the MPI segments this process maps (nobody else is left
    to: see shm.py), and end this process with os._exit."""

    def run():
        wait_for_exit(pid, interval)
        if on_gone is not None:
            on_gone()
        remove_world_dir()
        shm.remove_own()
        os._exit(EXIT_CODE)

    t = threading.Thread(target=run, name="mpikernel-owner-watchdog", daemon=True)
    t.start()
    return t
