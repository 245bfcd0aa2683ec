"""Compile the C anchors (benchmarks/c/*.c) with the mpicc of the MPI mpikernel was built with.

The binaries are never committed: they are built at benchmark time into a cache directory keyed by
the source text and `mpicc -show`, so a different MPI or an edited source gets a fresh build.
"""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from mpikernel._libmpi import build_config

C_DIR = Path(__file__).resolve().parent / "c"


class BuildError(RuntimeError):
    pass


def find_mpicc():
    """The build's recorded mpicc if it still exists, else this environment's, else PATH's.

    A build against the mpich wheel recorded an mpicc inside pip's temporary build environment,
    gone after the install; the same wheel's mpicc is then in ``sys.prefix/bin``.
    """
    override = os.environ.get("MPIKERNEL_BENCH_MPICC")
    candidates = [override, build_config().get("mpicc"), str(Path(sys.prefix) / "bin" / "mpicc")]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    found = shutil.which("mpicc")
    if found:
        return found
    raise BuildError(
        "no mpicc found for the C anchors (looked at the build's recorded mpicc, "
        f"{Path(sys.prefix) / 'bin' / 'mpicc'} and PATH); set MPIKERNEL_BENCH_MPICC."
    )


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mpikernel-bench"


def compile_program(name, mpicc=None, directory=None, shared=False):
    """Path of the executable (or, with shared=True, the .so) built from benchmarks/c/<name>.c."""
    mpicc = mpicc or find_mpicc()
    source = C_DIR / f"{name}.c"
    show = subprocess.run([mpicc, "-show"], capture_output=True, text=True, timeout=30).stdout
    key = hashlib.sha256(source.read_bytes() + mpicc.encode() + show.encode()).hexdigest()[:16]
    out_dir = Path(directory) if directory else cache_dir() / key
    exe = out_dir / (f"lib{name}.so" if shared else name)
    if exe.is_file():
        return exe
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{name}.{os.getpid()}"
    flags = ["-shared", "-fPIC"] if shared else []
    proc = subprocess.run(
        [mpicc, "-O2", *flags, "-o", str(tmp), str(source)], capture_output=True, text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise BuildError(f"{mpicc} failed on {source}:\n{proc.stderr.strip()}")
    tmp.replace(exe)  # atomic: a concurrent run never sees a half-written binary
    return exe
