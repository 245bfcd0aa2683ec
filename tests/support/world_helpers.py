"""Helpers shared by the world/magics/kernel tests: process checks that never go by name."""

import os
import time

from mpikernel.cluster.watchdog import pid_alive as alive  # a zombie counts as gone


SHARE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "share", "jupyter")


def use_shipped_kernel_specs():
    """Put this checkout's share/jupyter (the kernel specs it ships) first on JUPYTER_PATH;
    returns the function that puts JUPYTER_PATH back."""
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = SHARE + (os.pathsep + old if old else "")

    def restore():
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old

    return restore


def wait_all_gone(pids, timeout):
    """The pids still alive after waiting up to `timeout` seconds (empty list: all gone)."""
    until = time.monotonic() + timeout
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < until:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    return left


def kill_all(pids):
    import signal

    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def processes_owned_by(owner_pid):
    """Pids of live processes a World of `owner_pid` started (they carry the owner's pid in argv)."""
    import psutil

    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = p.info["cmdline"] or []
        text = " ".join(cmd)
        owner_arg = cmd[cmd.index("--owner") + 1] if "--owner" in cmd[:-1] else None
        ours = ("mpikernel.cluster.engine" in text and owner_arg == str(owner_pid)) or (
            "mpikernel.cluster.controller" in text and str(owner_pid) in cmd
        )
        if ours and alive(p.info["pid"]):
            found.append(p.info["pid"])
    return found
