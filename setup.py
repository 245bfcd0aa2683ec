"""Build `mpikernel.MPI` from `_mpi/` against an MPI found in this order:

1. the ``MPICC`` environment variable (a system or cluster MPI chosen on purpose),
2. an ``mpicc`` on ``PATH`` that is not the `mpich` wheel's,
3. the `mpich` wheel from PyPI (a build requirement, and then also a run-time requirement).

What was used is written beside the extension as ``_build_config.json``; ``mpikernel._libmpi``
reads it at import to load that libmpi before the extension (so a build made in pip's temporary
build environment still finds its library after install), and ``python -m mpikernel info`` shows it.
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
]


class BuildError(Exception):
    """A build problem explained in one message: what was tried and how to fix it."""


def _wheel_prefix():
    """The prefix the `mpich` wheel installed into (bin/, include/, lib/), or None."""
    try:
        from importlib.metadata import distribution

        dist = distribution("mpich")
    except Exception:
        return None
    for f in dist.files or ():
        if str(f).replace("\\", "/").endswith("bin/mpicc"):
            return Path(dist.locate_file(f)).resolve().parent.parent
    return None


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
    wheel = _wheel_prefix()
    wheel_mpicc = (wheel / "bin" / "mpicc").resolve() if wheel else None
    for d in os.environ.get("PATH", "").split(os.pathsep):
        cand = Path(d or ".") / "mpicc"
        if cand.is_file() and os.access(cand, os.X_OK):
            if wheel_mpicc is not None and cand.resolve() == wheel_mpicc:
                continue
            return str(cand), "PATH", tried
    tried.append("mpicc on PATH (none besides the mpich wheel's)")
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


def find_libmpi(library_dirs, libraries):
    """The shared library file the linker will pick for -lmpi: (dir, soname-ish file name)."""
    name = "mpi" if "mpi" in libraries else (libraries[0] if libraries else "mpi")
    for d in library_dirs:
        p = Path(d)
        versioned = sorted(p.glob(f"lib{name}.so.*"), key=lambda x: len(x.name))
        if versioned:
            return str(p.resolve()), versioned[0].name
        if (p / f"lib{name}.so").exists():
            return str(p.resolve()), f"lib{name}.so"
    return "", f"lib{name}.so"


def _in_a_python_prefix(path):
    """True when path lies in a Python environment (a venv, or pip's temporary build env)."""
    p = Path(path)
    return any((q / "pyvenv.cfg").exists() or (q / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}").is_dir() for q in [p, *p.parents][:4])


def mpi_config():
    mpicc, how, _ = find_mpicc()
    flags = parse_flags(mpicc_flags(mpicc))
    vendor, version, header = mpi_header_facts(flags["include_dirs"])
    libdir, libname = find_libmpi(flags["library_dirs"], flags["libraries"])
    # An MPI that lives inside a Python prefix (the mpich wheel, maybe in pip's temporary build
    # environment) is found at run time by _libmpi.py, relative to the prefix we are installed in;
    # an absolute rpath into a build environment would dangle. A system MPI keeps its rpath.
    in_prefix = how == "mpich-wheel" or (libdir and _in_a_python_prefix(libdir))
    rpaths = ["$ORIGIN/../../.."] if in_prefix else [r for r in flags["rpaths"] or [libdir] if r]
    # Debian names its wrappers mpicc.openmpi / mpicc.mpich: the launcher has the same suffix.
    suffix = Path(mpicc).name[len("mpicc"):] if Path(mpicc).name.startswith("mpicc") else ""
    mpiexec = Path(mpicc).parent / ("mpiexec" + suffix)
    return dict(
        mpicc=mpicc,
        found_by=how,
        vendor=vendor,
        version=version,
        header=header,
        libmpi=libname,
        libdir=libdir,
        in_python_prefix=bool(in_prefix),
        mpiexec_name="mpiexec" if in_prefix else (str(mpiexec) if mpiexec.exists() else "mpiexec"),
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
    """`mpich` is needed at run time only when we are built against the wheel."""
    try:
        _, how, _ = find_mpicc()
    except BuildError:
        how = "mpich-wheel"
    return RUNTIME_DEPS + (["mpich>=4.1"] if how == "mpich-wheel" else [])


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


setup(
    ext_modules=cython_extensions(),
    cmdclass={"build_ext": BuildMPI, "editable_wheel": EditableWheelWithData},
    install_requires=runtime_deps(),
    data_files=kernelspec_data_files(),
    zip_safe=False,
)
