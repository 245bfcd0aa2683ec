"""Kernel specs for the MPI kernel: "MPI (N ranks)".

Small pure layers, each tested on its own (the shape of ipykernel's kernelspec.py):

    make_argv(...)  ->  get_kernel_dict(...)  ->  write_kernel_spec(path, ...)  ->  install(...)

The spec that ships with the package (``share/jupyter/kernels/mpikernel-4``, installed by pip as
data files) is ``get_kernel_dict(tutorial=True)``: ``"python"`` as the executable (Jupyter
replaces that by its own interpreter, as for ipykernel's shipped ``python3`` spec) and no
machine-specific path. Specs written by ``install()`` are for this machine: they name this
interpreter and record the mpiexec found now (``MPIKERNEL_MPIEXEC`` in the spec's env), so a
later change of PATH cannot switch the kernel to another MPI.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from mpikernel.cells.diagnose import HINTS_ENV
from mpikernel.front.options import ENV_NAME, LAUNCHERS, OptionError, check_ranks_count
from mpikernel.front.options import parse_env as _parse_env

DEFAULT_RANKS = 4
SHIPPED_NAME = f"mpikernel-{DEFAULT_RANKS}"
LOGO_FILES = ("logo-32x32.png", "logo-64x64.png", "logo-svg.svg")
# jupyter_client accepts kernel names made of these characters only.
_KERNEL_NAME = re.compile(r"^[a-z0-9._-]+$", re.IGNORECASE)
# The shipped spec is the tutorial one: collective checking on, so a student's mismatched
# collectives raise a clear error instead of hanging (docs/diagnostics.md). Off elsewhere (speed).
TUTORIAL_ENV = {"MPIKERNEL_CHECK_COLLECTIVES": "1"}


class SpecError(OptionError):
    """A kernel spec request that cannot be honoured, explained in one sentence."""


def kernel_name(ranks: int = DEFAULT_RANKS, launcher: str = "mpiexec") -> str:
    return f"mpikernel-{'slurm-' if launcher == 'slurm' else ''}{int(ranks)}"


def display_name(ranks: int = DEFAULT_RANKS, launcher: str = "mpiexec") -> str:
    on = ", Slurm" if launcher == "slurm" else ""
    return f"MPI ({int(ranks)} rank{'s' if int(ranks) != 1 else ''}{on})"


def check_ranks(ranks: Any) -> int:
    """The spec's --ranks, checked as %mpi_start checks -n (the spec may start on another machine,
    so only the absolute limit applies)."""
    return _as_spec_error(check_ranks_count, ranks, local=False, option="--ranks")


def _as_spec_error(check, *args, **kwargs):
    try:
        return check(*args, **kwargs)
    except OptionError as exc:
        raise SpecError(str(exc)) from None


def check_launcher(launcher: str) -> str:
    if launcher not in LAUNCHERS:
        raise SpecError(f"the launcher must be one of {', '.join(LAUNCHERS)}, not {launcher!r}")
    return launcher


def check_env(env: Mapping[str, str] | None) -> dict[str, str]:
    out = {}
    for key, value in (env or {}).items():
        if not ENV_NAME.fullmatch(str(key)):
            raise SpecError(f"{key!r} is not a valid environment variable name")
        out[str(key)] = str(value)
    return out


def parse_env(items: Sequence[str]) -> dict[str, str]:
    """['K=V', ...] -> {'K': 'V'}, checked as %mpi_start's --env (a SpecError when wrong)."""
    return _as_spec_error(_parse_env, items)


def make_argv(
    ranks: int = DEFAULT_RANKS,
    executable: str = "python",
    hostfile: str | None = None,
    launcher: str = "mpiexec",
) -> list[str]:
    """The command Jupyter runs to start the kernel; options the default needs are left out."""
    argv = [executable, "-m", "mpikernel", "-f", "{connection_file}", "--ranks", str(check_ranks(ranks))]
    if check_launcher(launcher) != "mpiexec":
        argv += ["--launcher", launcher]
    if hostfile:
        argv += ["--hostfile", str(hostfile)]
    return argv


def get_kernel_dict(
    ranks: int = DEFAULT_RANKS,
    executable: str = "python",
    hostfile: str | None = None,
    launcher: str = "mpiexec",
    env: Mapping[str, str] | None = None,
    display: str | None = None,
    tutorial: bool = False,
) -> dict[str, Any]:
    """The content of kernel.json. With the defaults and tutorial=True: the spec shipped in the
    package (TUTORIAL_ENV added under the given env)."""
    spec: dict[str, Any] = {
        "argv": make_argv(ranks, executable, hostfile, launcher),
        "display_name": display or display_name(ranks, launcher),
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {"debugger": True},  # the visual debugger runs on the ranks (debugger.py)
    }
    env = check_env({**TUTORIAL_ENV, **(env or {})} if tutorial else env)
    if env:
        spec["env"] = env
    return spec


def logo_dir() -> Path | None:
    """Where the shipped logos are: the source tree (editable installs), else the data files."""
    here = Path(__file__).resolve().parent
    candidates = [here.parent / "share" / "jupyter" / "kernels" / SHIPPED_NAME]
    candidates.append(Path(sys.prefix) / "share" / "jupyter" / "kernels" / SHIPPED_NAME)
    try:
        from jupyter_core.paths import jupyter_path

        candidates += [Path(p) for p in jupyter_path("kernels", SHIPPED_NAME)]
    except ImportError:
        pass
    for c in candidates:
        if all((c / f).is_file() for f in LOGO_FILES):
            return c
    return None


def write_kernel_spec(path: str | Path | None = None, **spec_options: Any) -> str:
    """Write kernel.json (+ logos, when found) into `path` (a new temporary directory if None)."""
    kernel_dict = get_kernel_dict(**spec_options)
    if path is None:
        ranks = spec_options.get("ranks", DEFAULT_RANKS)
        path = Path(tempfile.mkdtemp(suffix="_kernels")) / kernel_name(ranks)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    logos = logo_dir()
    if logos is not None and logos.resolve() != path.resolve():
        for f in LOGO_FILES:
            shutil.copyfile(logos / f, path / f)
    (path / "kernel.json").write_text(json.dumps(kernel_dict, indent=1) + "\n")
    return str(path)


def record_launcher(launcher: str, env: dict[str, str]) -> dict[str, str]:
    """The spec's env plus the mpiexec of this build (``MPIKERNEL_MPIEXEC``), found now.

    Recorded by absolute path (Debian: /usr/bin/mpiexec.openmpi, not the /usr/bin/mpiexec
    alternative), so a later change of PATH or of the alternatives cannot switch the kernel to
    another MPI. No launcher of this build (or one of another MPI) is a SpecError, at install time.
    """
    if launcher != "mpiexec" or "MPIKERNEL_MPIEXEC" in env:
        return env
    from mpikernel.cluster.launcher import LauncherError, find_mpiexec

    try:
        return {"MPIKERNEL_MPIEXEC": find_mpiexec(), **env}
    except LauncherError as exc:
        raise SpecError(str(exc)) from None


def _spec_env(launcher: str, env: Mapping[str, str] | None, slurm: Any, hints: bool) -> dict[str, str]:
    """An installed spec's env: the given one, the mpiexec found now, Slurm's defaults, hints off."""
    env = record_launcher(launcher, check_env(env))
    if not hints:
        env = {HINTS_ENV: "0", **env}
    if slurm is not None and slurm.to_line():
        from mpikernel.cluster.slurm import ENV_VAR

        env = {ENV_VAR: slurm.to_line(), **env}
    return env


def install(
    ranks: int = DEFAULT_RANKS,
    name: str | None = None,
    user: bool = False,
    sys_prefix: bool = False,
    prefix: str | None = None,
    hostfile: str | None = None,
    launcher: str = "mpiexec",
    env: Mapping[str, str] | None = None,
    display: str | None = None,
    executable: str | None = None,
    kernel_spec_manager: Any = None,
    slurm: Any = None,
    hints: bool = True,
) -> str:
    """Install a spec for this machine; return the directory it went to.

    The spec names this interpreter and, for the mpiexec launcher, the mpiexec found now; for
    the slurm launcher, `slurm` (a mpikernel.cluster.slurm.SlurmOptions) goes into the spec's env.
    hints=False (`install --no-hints`): the kernel's deadlock reports leave out the fix
    (MPIKERNEL_HINTS=0 in the spec's env, unless `env` sets it).
    """
    ranks = check_ranks(ranks)
    check_launcher(launcher)
    if slurm is not None and launcher != "slurm":
        raise SpecError("--partition, --time, --account, --nodes and --extra need --launcher slurm")
    name = name or kernel_name(ranks, launcher)
    if not _KERNEL_NAME.match(name):
        raise SpecError(
            f"kernel name {name!r} may only contain letters, digits, '.', '_' and '-'"
        )
    if sum(bool(x) for x in (user, sys_prefix, prefix)) > 1:
        raise SpecError("choose at most one of --user, --sys-prefix and --prefix")
    if sys_prefix:
        prefix = sys.prefix
    if hostfile:
        hf = Path(hostfile).expanduser()
        if not hf.is_file():
            raise SpecError(f"hostfile {hostfile!r} does not exist")
        hostfile = str(hf.resolve())
    env = _spec_env(launcher, env, slurm, hints)
    if kernel_spec_manager is None:
        from jupyter_client.kernelspec import KernelSpecManager

        kernel_spec_manager = KernelSpecManager()
    with tempfile.TemporaryDirectory(suffix="_kernels") as tmp:
        src = write_kernel_spec(
            Path(tmp) / name,
            ranks=ranks,
            executable=executable or sys.executable,
            hostfile=hostfile,
            launcher=launcher,
            env=env,
            display=display,
        )
        return kernel_spec_manager.install_kernel_spec(
            src, kernel_name=name, user=user, prefix=prefix
        )
