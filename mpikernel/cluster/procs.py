"""The processes a world starts, from birth to reaping: run a module of THIS mpikernel, kill a
process or its whole group, wait until pids are gone, list a process's descendants, and sweep
the scratch directories that killed owners left behind.

Shared by the World and every launcher (mpiexec, Slurm); imports none of them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mpikernel.cluster.watchdog import pid_alive

WORLD_DIR_PREFIX = "mpikernel-world-"  # the world's scratch directory in the temp dir: log, profile, keys


def run_module(module):
    """argv that runs `module` of THIS mpikernel, like `python -m module`.

    `python -m` would put the working directory first on sys.path, so a notebook opened in a
    source tree (or next to any folder named mpikernel) would start ranks with another build
    than the owner's. The ranks keep the working directory on their path for the user's modules.
    """
    home = str(Path(__file__).resolve().parents[2])  # the folder that holds this mpikernel package
    boot = (f"import sys, runpy; sys.path.insert(0, {home!r}); "
            f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")
    return [sys.executable, "-c", boot]


def kill_group(pid, sig=signal.SIGKILL):
    """Signal the process group led by `pid` (every process we start leads its own session)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill(pid, sig=signal.SIGKILL):
    """Signal one process; one that is already gone is not an error."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def end_group(proc: subprocess.Popen | None, timeout=5.0):
    """SIGKILL the group `proc` leads and reap `proc` (waiting at most `timeout` seconds)."""
    if proc is None:
        return
    kill_group(proc.pid)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass


def wait_gone(pids, timeout):
    """Wait until none of `pids` is alive (zombies of reparented ranks count as gone)."""
    until = time.monotonic() + timeout
    while any(pid_alive(p) for p in pids) and time.monotonic() < until:
        time.sleep(0.02)


def descendants(pid):
    """Pids of every process below `pid` ([] when it is gone or None)."""
    if pid is None:
        return []
    try:
        import psutil

        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except Exception:
        return []


def sweep_stale_world_dirs(min_age=60.0):
    """Remove this user's world directories that no running process uses (left by killed owners).

    A directory is in use while some process names it on its command line (the controller's
    --profile-dir); a fresh one (younger than `min_age` seconds) may belong to a world starting
    right now in another process, so it is left alone. Returns the directories removed.
    """
    tmp = Path(tempfile.gettempdir())
    candidates = [d for d in tmp.glob(WORLD_DIR_PREFIX + "*")
                  if d.is_dir() and not d.is_symlink() and _owned_and_old(d, min_age)]
    if not candidates:
        return []
    try:
        import psutil

        in_use = " ".join(" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"]))
    except Exception:
        return []
    removed = []
    for d in candidates:
        if str(d) not in in_use:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def _owned_and_old(path, min_age):
    try:
        st = path.stat()
    except OSError:
        return False
    return st.st_uid == os.getuid() and time.time() - st.st_mtime > min_age
