"""The `mpiexec` that belongs to the MPI we were built with, and the flags it needs here.

Open MPI refuses to run as root without --allow-run-as-root and refuses more ranks than cores
without --oversubscribe; MPICH's hydra needs neither. Users should never meet those errors, so
every place that launches ranks (the world, the tests, the benchmarks) asks this module.
"""

import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from ._libmpi import build_config


class LauncherError(RuntimeError):
    pass


def find_mpiexec():
    """Absolute path of the mpiexec to use: $MPIKERNEL_MPIEXEC, else the one of our build's MPI."""
    override = os.environ.get("MPIKERNEL_MPIEXEC")
    if override:
        exe = shutil.which(override)
        if not exe:
            raise LauncherError(f"MPIKERNEL_MPIEXEC={override!r} is not an executable")
        return exe
    cfg = build_config()
    candidates = []
    if cfg.get("in_python_prefix", True):
        candidates.append(Path(sys.prefix) / "bin" / "mpiexec")
    name = cfg.get("mpiexec_name")
    if name:
        candidates.append(Path(name))
    for c in candidates:
        if c.is_absolute() and c.is_file() and os.access(c, os.X_OK):
            return str(c)
    exe = shutil.which(name or "mpiexec") or shutil.which("mpiexec")
    if not exe:
        looked = ", ".join(str(c) for c in candidates) or "PATH"
        raise LauncherError(
            f"no mpiexec found for {cfg.get('vendor', 'the MPI')} {cfg.get('version', '')} "
            f"(looked at {looked}); install the MPI's launcher or set MPIKERNEL_MPIEXEC."
        )
    return exe


@lru_cache(maxsize=None)
def mpiexec_vendor(mpiexec):
    """'Open MPI', 'MPICH' (hydra) or 'unknown', from `mpiexec --version`."""
    try:
        out = subprocess.run(
            [mpiexec, "--version"], capture_output=True, text=True, timeout=20
        )
        text = out.stdout + out.stderr
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if "Open MPI" in text or "OpenRTE" in text or "open-mpi" in text:
        return "Open MPI"
    if "HYDRA" in text or "MPICH" in text or "hydra" in text:
        return "MPICH"
    return "unknown"


def mpiexec_command(n, hostfile=None, mpiexec=None, extra=()):
    """argv prefix that starts n ranks of whatever follows."""
    if int(n) < 1:
        raise LauncherError(f"the number of ranks must be at least 1, not {n}")
    exe = mpiexec or find_mpiexec()
    cmd = [exe, "-n", str(int(n))]
    if mpiexec_vendor(exe) == "Open MPI":
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
        cmd.append("--oversubscribe")
    if hostfile:
        cmd += ["-f" if mpiexec_vendor(exe) == "MPICH" else "--hostfile", str(hostfile)]
    return cmd + list(extra)


def mpiexec_env(mpiexec=None):
    """Environment variables the launched ranks need (empty for MPICH)."""
    exe = mpiexec or find_mpiexec()
    if mpiexec_vendor(exe) == "Open MPI":
        env = {"OMPI_MCA_rmaps_base_oversubscribe": "1"}
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        return env
    return {}
