"""`python -m mpikernel`: start the MPI kernel, install kernel specs, describe the MPI in use.

    python -m mpikernel -f CONNECTION_FILE [--ranks N] [--hostfile F] [--launcher mpiexec|slurm]
    python -m mpikernel install [--ranks N] [--name NAME] [--user|--sys-prefix|--prefix P]
                                [--hostfile F] [--launcher mpiexec|slurm] [--env K=V ...] [--no-hints]
                                [--partition P] [--time T] [--account A] [--nodes N] [--extra="..."]
    python -m mpikernel info
    python -m mpikernel tour [NOTEBOOK] [--ranks N]
    python -m mpikernel export NOTEBOOK.ipynb [-o DIR] [--ranks N] [--launcher slurm --partition P ...]

The first form is what kernel specs run (Jupyter fills in the connection file); every option that
is not ours goes on to ipykernel's IPKernelApp unchanged, if IPKernelApp knows it. Every command
has --help, answers an unknown option with one sentence and its usage (exit status 2), and ends
quietly when the reader of its output leaves (`python -m mpikernel info | head -1`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

USAGE = __doc__.split("\n\n")[1]


def _ranks(text: str) -> int:
    from mpikernel.front.kernelspec import SpecError, check_ranks  # the one rank-count check

    try:
        return check_ranks(text)
    except SpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _kernel_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by the kernel launch and `install` (they end up in the spec's argv)."""
    from mpikernel.front.kernelspec import DEFAULT_RANKS
    from mpikernel.front.options import LAUNCHERS

    parser.add_argument("--ranks", type=_ranks, default=DEFAULT_RANKS, metavar="N",
                        help=f"number of MPI ranks (default {DEFAULT_RANKS})")
    parser.add_argument("--hostfile", metavar="FILE", help="hostfile handed to the launcher")
    parser.add_argument("--launcher", choices=LAUNCHERS, default="mpiexec",
                        help="how the ranks are started (default mpiexec)")


def kernel_app_argv(argv: list[str]) -> list[str]:
    """IPKernelApp's argv: our options as MPIKernel traitlets, every other option untouched."""
    # no abbreviations: IPKernelApp options (--hb=..., --log-level=...) must pass through as given
    parser = argparse.ArgumentParser(
        prog="python -m mpikernel", usage=USAGE, add_help=False, allow_abbrev=False
    )
    _kernel_options(parser)
    opts, rest = parser.parse_known_args(argv)
    rest += [f"--MPIKernel.ranks={opts.ranks}", f"--MPIKernel.launcher={opts.launcher}"]
    if opts.hostfile:
        rest.append(f"--MPIKernel.hostfile={opts.hostfile}")
    return rest


def unknown_kernel_option(argv: list[str]) -> str | None:
    """The first option that neither we nor IPKernelApp know (None: all known).

    IPKernelApp's own answer to `--bogus` is 40 lines of usage ending in "expected one argument";
    ours is one sentence. `--Class.trait=value` (traitlets config) always passes."""
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp()
    known = set(app.flags) | {k for key in app.aliases for k in (key if isinstance(key, tuple) else (key,))}
    for arg in argv:
        if not arg.startswith("-") or arg == "--":
            continue
        name = arg.lstrip("-").split("=", 1)[0]
        if "." not in name and name not in known and name not in ("help", "h", "help-all", "version"):
            return arg
    return None


def launch_kernel(argv: list[str]) -> int:
    """Start MPIKernel the way ipykernel starts its own kernel."""
    from ipykernel.kernelapp import IPKernelApp

    from mpikernel.front.kernel import MPIKernel

    rest = kernel_app_argv(argv)
    bad = unknown_kernel_option(rest)
    if bad is not None:
        print(f"error: {bad.split('=', 1)[0]} is not an option of python -m mpikernel (nor of ipykernel's "
              f"kernel)\nusage:\n{USAGE}", file=sys.stderr)
        return 2
    IPKernelApp.launch_instance(argv=rest, kernel_class=MPIKernel)
    return 0


def install_main(argv: list[str]) -> int:
    from mpikernel.front.kernelspec import install, parse_env
    from mpikernel.front.options import OptionError, slurm_options

    parser = argparse.ArgumentParser(
        prog="python -m mpikernel install",
        description='Install a Jupyter kernel spec "MPI (N ranks)" for this Python and this MPI.',
    )
    _kernel_options(parser)
    parser.add_argument("--name", help="kernel name (default mpikernel-N)")
    parser.add_argument("--display-name", dest="display", help='default "MPI (N ranks)"')
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="install for the current user")
    where.add_argument("--sys-prefix", action="store_true",
                       help=f"install into this environment ({sys.prefix})")
    where.add_argument("--prefix", metavar="P", help="install under prefix P")
    parser.add_argument("--no-hints", dest="hints", action="store_false",
                        help="deadlock reports without the suggested fix (MPIKERNEL_HINTS=0), for exercises")
    parser.add_argument("--env", nargs="+", action="extend", default=[], metavar="K=V",
                        help="environment variables for the kernel and its ranks")
    slurm = parser.add_argument_group("Slurm (with --launcher slurm)")
    for flag, text in (("--partition", "partition"), ("--time", "time limit, like 01:00:00"),
                       ("--account", "account charged"), ("--nodes", "node count, like 2 or 2-4"),
                       ("--extra", 'more sbatch/srun options: --extra="--qos=debug"')):
        slurm.add_argument(flag, help=text)
    opts = parser.parse_args(argv)
    try:
        env = parse_env(opts.env)
        dest = install(
            ranks=opts.ranks, name=opts.name, user=opts.user, sys_prefix=opts.sys_prefix,
            prefix=opts.prefix, hostfile=opts.hostfile, launcher=opts.launcher, env=env,
            display=opts.display, slurm=slurm_options(opts), hints=opts.hints,
        )
    except OptionError as exc:  # a SpecError too: a request that cannot be honoured
        parser.error(str(exc))
    except PermissionError as exc:
        print(f"error: {exc}\nTry --user or --sys-prefix.", file=sys.stderr)
        return 1
    print(f"Installed kernel spec {Path(dest).name} in {dest}")
    return 0


def info_main(argv: list[str]) -> int:
    from mpikernel.front.info import main  # imported late: the kernel launch does not need it

    return main(argv)


def tour_main(argv: list[str]) -> int:
    from mpikernel.front.tour import main

    return main(argv)


#: the subcommands: name -> main(argv) -> exit status
def export_main(argv: list[str]) -> int:
    from mpikernel.front.export import main  # late: a kernel launch needs none of it

    return main(argv)


COMMANDS = {"install": install_main, "info": info_main, "tour": tour_main, "export": export_main}


def main(argv: list[str] | None = None) -> int:
    try:
        status = _command(list(sys.argv[1:] if argv is None else argv))
        sys.stdout.flush()  # a reader that left shows here, not in the flush at exit
        return status
    except BrokenPipeError:
        # `python -m mpikernel info | head -3`: the reader left, which is not our error. Point
        # stdout at /dev/null so the flush at exit cannot raise again (Python's documented way).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _command(argv: list[str]) -> int:
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:]) or 0
    if argv[:1] in (["-h"], ["--help"]):
        print("usage:\n" + USAGE)
        return 0
    if argv and not argv[0].startswith("-"):
        print(f"error: unknown command {argv[0]!r}\nusage:\n{USAGE}", file=sys.stderr)
        return 2
    return launch_kernel(argv)


if __name__ == "__main__":
    sys.exit(main())
