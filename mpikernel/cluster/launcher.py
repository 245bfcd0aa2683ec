"""The `mpiexec` that belongs to the MPI we were built with, and the flags it needs here.

Which launcher: ``$MPIKERNEL_MPIEXEC`` (kernel specs record it), else the one setup.py found next
to the build's mpicc (Debian: ``mpiexec.openmpi`` / ``mpiexec.mpich``, never whatever the
``/usr/bin/mpiexec`` alternative points to), else ``<prefix>/bin/mpiexec`` for an MPI wheel, else
PATH. Every choice is checked with ``mpiexec --version``: a launcher of another MPI makes every
rank "rank 0 of 1", so it is refused here with one sentence instead of failing later.

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

from mpikernel._libmpi import build_config

OVERRIDE_VAR = "MPIKERNEL_MPIEXEC"


class LauncherError(RuntimeError):
    pass


def built_family(cfg=None):
    """The launcher family our build needs: 'MPICH' (hydra/PMI), 'Open MPI' or 'unknown'."""
    vendor = (cfg if cfg is not None else build_config()).get("vendor", "unknown")
    return "MPICH" if vendor in ("MPICH", "Intel MPI") else vendor


def _built(cfg):
    return f"{cfg.get('vendor', 'an unknown MPI')} {cfg.get('version', '')}".strip()


def mismatch_error(exe, vendor, cfg=None, how=""):
    """The one sentence for 'this mpiexec belongs to another MPI', with the fix."""
    cfg = cfg if cfg is not None else build_config()
    return LauncherError(
        f"mpikernel.MPI was built against {_built(cfg)} but {exe}{how} is {vendor}'s mpiexec, "
        f"which would start every rank as rank 0 of 1; use the mpiexec of {_built(cfg)} "
        f"(unset {OVERRIDE_VAR} or point it there) or rebuild mpikernel against {vendor}: "
        "`MPICC=/path/to/mpicc pip install --no-cache-dir --force-reinstall mpikernel`."
    )


def _executable(path):
    p = Path(path)
    return p.is_absolute() and p.is_file() and os.access(p, os.X_OK)


def candidates(cfg=None):
    """Where our mpiexec may be, best first: (path, why)."""
    cfg = cfg if cfg is not None else build_config()
    out = []
    if cfg.get("in_python_prefix", True):
        out.append((str(Path(sys.prefix) / "bin" / "mpiexec"), "this environment's MPI wheel"))
    if cfg.get("mpiexec"):
        out.append((cfg["mpiexec"], "recorded at build time"))
    if cfg.get("mpiexec_name"):  # records written before the launcher was resolved at build time
        out.append((cfg["mpiexec_name"], "recorded at build time"))
    return out


def find_mpiexec():
    """Absolute path of the mpiexec to use; LauncherError if it is missing or another MPI's."""
    cfg = build_config()
    family = built_family(cfg)
    override = os.environ.get(OVERRIDE_VAR)
    if override:
        exe = shutil.which(override)
        if not exe:
            raise LauncherError(f"{OVERRIDE_VAR}={override!r} is not an executable")
        vendor = mpiexec_vendor(exe)
        if family != "unknown" and vendor not in ("unknown", family):
            raise mismatch_error(exe, vendor, cfg, f" (from {OVERRIDE_VAR})")
        return exe
    looked, wrong = [], []
    for path, why in candidates(cfg):
        if not _executable(path):
            looked.append(path)
            continue
        vendor = mpiexec_vendor(path)
        if family == "unknown" or vendor in ("unknown", family):
            return path
        wrong.append((path, vendor, why))
    if wrong:
        path, vendor, why = wrong[0]
        raise mismatch_error(path, vendor, cfg, f" ({why})")
    # last resort: PATH, but only a launcher of our MPI (Debian: mpiexec.mpich, mpiexec.openmpi)
    names = {"MPICH": ("mpiexec.mpich", "mpiexec.hydra"), "Open MPI": ("mpiexec.openmpi",)}
    for name in names.get(family, ()) + ("mpiexec", "mpirun"):
        exe = shutil.which(name)
        if exe:
            vendor = mpiexec_vendor(exe)
            if family == "unknown" or vendor in ("unknown", family):
                return exe
            wrong.append((exe, vendor, "on PATH"))
    if wrong:
        path, vendor, why = wrong[0]
        raise mismatch_error(path, vendor, cfg, f" ({why})")
    where = ", ".join(looked + ["PATH"])
    raise LauncherError(
        f"no mpiexec found for {_built(cfg)} (looked at {where}); install the launcher of that MPI "
        f"or set {OVERRIDE_VAR} to it."
    )


@lru_cache(maxsize=None)
def mpiexec_vendor(mpiexec):
    """'Open MPI', 'MPICH' (hydra, Intel MPI) or 'unknown', from `mpiexec --version`."""
    try:
        out = subprocess.run(
            [mpiexec, "--version"], capture_output=True, text=True, timeout=20
        )
        text = out.stdout + out.stderr
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if "Open MPI" in text or "OpenRTE" in text or "open-mpi" in text:
        return "Open MPI"
    if "HYDRA" in text or "MPICH" in text or "hydra" in text or "Intel(R) MPI" in text:
        return "MPICH"
    return "unknown"


def _is_root():
    return hasattr(os, "geteuid") and os.geteuid() == 0


def mpiexec_command(n, hostfile=None, mpiexec=None, extra=()):
    """argv prefix that starts n ranks of whatever follows."""
    if int(n) < 1:
        raise LauncherError(f"the number of ranks must be at least 1, not {n}")
    exe = mpiexec or find_mpiexec()
    cmd = [exe, "-n", str(int(n))]
    if mpiexec_vendor(exe) == "Open MPI":
        if _is_root():
            cmd.append("--allow-run-as-root")
        cmd.append("--oversubscribe")
    if hostfile:
        cmd += ["-f" if mpiexec_vendor(exe) == "MPICH" else "--hostfile", str(hostfile)]
    return cmd + list(extra)


def forking_launcher(exe):
    """MPICH's fork-only `mpiexec.gforker` beside hydra's `exe`, or None (not MPICH, or absent).

    Hydra's PMI port listens on every interface whatever -iface, -launcher fork or HYDRA_IFACE
    say (measured: docs/reliability.md); gforker forks the ranks on this host and speaks PMI
    over pipes they inherit, so it opens no port at all. For ranks on this host only.
    """
    if mpiexec_vendor(exe) != "MPICH":
        return None
    for folder in dict.fromkeys((Path(exe).parent, Path(exe).resolve().parent)):
        if _executable(folder / "mpiexec.gforker"):
            return str(folder / "mpiexec.gforker")
    return None


def forking_command(gforker, n):
    """argv prefix that forks n ranks with `gforker`, every rank's exit status reported at the end
    (`-exitinfo`: see mpikernel.cluster.deaths); each rank then runs mpikernel.cluster.forked."""
    if int(n) < 1:
        raise LauncherError(f"the number of ranks must be at least 1, not {n}")
    return [gforker, "-n", str(int(n)), "-exitinfo"]


# What a launcher - or Open MPI's singleton start-up, in a process that imported mpikernel.MPI -
# puts into the environment to describe *this* process's MPI job. An mpiexec that inherits it
# believes it runs inside that job: Debian's Open MPI 4.1 exits with code 1 without a word.
JOB_VARIABLE_PREFIXES = (
    "PMIX_", "PMI_", "ORTE_", "PRTE_", "HYDRA_", "HYDI_", "MPI_LOCALNRANKS", "MPI_LOCALRANKID",
    "OMPI_COMM_WORLD_", "OMPI_APP_CTX_", "OMPI_NUM_APP_CTX", "OMPI_FIRST_RANKS", "OMPI_UNIVERSE_SIZE",
    "OMPI_FILE_LOCATION", "OMPI_ARGV", "OMPI_COMMAND", "OMPI_MCA_ess", "OMPI_MCA_orte_", "OMPI_MCA_pmix",
)


def without_job_variables(environ):
    """`environ` without the variables of the MPI job this process belongs to (user settings stay)."""
    return {k: v for k, v in environ.items() if not k.startswith(JOB_VARIABLE_PREFIXES)}


def launch_environ(base=None, mpiexec=None):
    """The whole environment for an mpiexec: `base` (os.environ) without this process's own MPI
    job, plus what our launcher needs (mpiexec_env)."""
    env = without_job_variables(os.environ if base is None else base)
    env.update(mpiexec_env(mpiexec))
    return env


# Known transient failures of a launcher itself, before any rank started: worth one more try.
START_FAILURES = (
    "PMIx server's listener thread failed to start",  # Open MPI (4.1's mpirun, 5's prterun)
)


def failed_to_start(output):
    """True if a launcher's output shows a known transient failure before any rank started."""
    return any(text in output for text in START_FAILURES)


def mpiexec_env(mpiexec=None):
    """Environment variables the launched ranks need (empty for MPICH)."""
    exe = mpiexec or find_mpiexec()
    if mpiexec_vendor(exe) == "Open MPI":
        env = {"OMPI_MCA_rmaps_base_oversubscribe": "1"}
        if _is_root():
            env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        return env
    return {}
