"""`python -m mpikernel`: install, help, strict argument errors (no kernel is started here)."""

import json
import os
import subprocess
import sys

import pytest


def run(*args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "mpikernel", *args], capture_output=True, text=True, timeout=timeout
    )


def test_help():
    r = run("--help")
    assert r.returncode == 0
    assert "install" in r.stdout and "info" in r.stdout


def test_install_prefix(tmp_path):
    r = run("install", "--ranks", "8", "--prefix", str(tmp_path), "--env", "A=1", "B=x=y")
    assert r.returncode == 0, r.stderr
    spec = tmp_path / "share" / "jupyter" / "kernels" / "mpikernel-8" / "kernel.json"
    d = json.loads(spec.read_text())
    assert d["display_name"] == "MPI (8 ranks)"
    assert d["env"]["A"] == "1" and d["env"]["B"] == "x=y"
    assert "MPIKERNEL_MPIEXEC" in d["env"]
    assert str(spec.parent) in r.stdout
    assert (spec.parent / "logo-64x64.png").is_file()


def test_install_name(tmp_path):
    r = run("install", "--name", "mpi2", "--ranks", "2", "--prefix", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "share/jupyter/kernels/mpi2/kernel.json").is_file()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--ranks", "0"], "at least 1"),
        (["--ranks", "four"], "whole number"),
        (["--env", "NOEQUALS"], "NAME=VALUE"),
        (["--env", "1X=2"], "not a valid environment variable name"),
        (["--launcher", "ssh"], "invalid choice"),
        (["--user", "--sys-prefix"], "not allowed with"),
        (["--name", "a b"], "kernel name"),
    ],
)
def test_install_errors(tmp_path, args, message):
    r = run("install", "--prefix", str(tmp_path), *args) if "--user" not in args else run("install", *args)
    assert r.returncode == 2
    assert message in r.stderr
    assert not (tmp_path / "share").exists()


def test_unknown_command():
    r = run("instal")
    assert r.returncode == 2
    assert "unknown command 'instal'" in r.stderr


def test_kernel_app_argv():
    from mpikernel.__main__ import kernel_app_argv

    argv = kernel_app_argv(["-f", "c.json", "--ranks", "8", "--hb=5", "--hostfile", "/h"])
    assert argv == ["-f", "c.json", "--hb=5", "--MPIKernel.ranks=8",
                    "--MPIKernel.launcher=mpiexec", "--MPIKernel.hostfile=/h"]
    assert kernel_app_argv(["-f", "c.json"])[-2:] == ["--MPIKernel.ranks=4", "--MPIKernel.launcher=mpiexec"]
    assert "--h=1" in kernel_app_argv(["--h=1"])  # never taken for --hostfile


def test_kernel_launch_rejects_bad_ranks():
    r = run("-f", "/nonexistent.json", "--ranks", "0")
    assert r.returncode == 2 and "at least 1" in r.stderr


def test_info_into_a_closed_pipe_is_quiet():
    """`python -m mpikernel info | head -1`: the reader leaves early; no BrokenPipeError traceback.

    The pipe's read end is closed before the command writes, so every run meets the case."""
    read, write = os.pipe()
    os.close(read)
    try:
        r = subprocess.run([sys.executable, "-m", "mpikernel", "info"], stdout=write,
                           stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert "Traceback" not in r.stderr and "BrokenPipeError" not in r.stderr, r.stderr
    assert r.returncode == 1


def test_install_no_hints(tmp_path):
    r = run("install", "--ranks", "2", "--prefix", str(tmp_path), "--no-hints")
    assert r.returncode == 0, r.stderr
    spec = json.loads((tmp_path / "share" / "jupyter" / "kernels" / "mpikernel-2" / "kernel.json").read_text())
    assert spec["env"]["MPIKERNEL_HINTS"] == "0"


@pytest.mark.parametrize("command", [["install"], ["info"], ["tour"], ["export", "nb.ipynb"]])
def test_every_command_has_help_and_refuses_unknown_options(command):
    r = run(*command, "--help")
    assert r.returncode == 0 and r.stdout.startswith(f"usage: python -m mpikernel {command[0]}"), r.stdout
    r = run(*command, "--bogus")
    assert r.returncode == 2
    assert r.stderr.startswith(f"usage: python -m mpikernel {command[0]}")
    assert r.stderr.rstrip().endswith("error: unrecognized arguments: --bogus")


def test_kernel_launch_refuses_an_option_nobody_knows():
    """Not ipykernel's 40 lines of usage ending in 'expected one argument': one sentence and ours."""
    r = run("-f", "/nonexistent.json", "--bogus")
    assert r.returncode == 2
    first, *rest = r.stderr.splitlines()
    assert first == "error: --bogus is not an option of python -m mpikernel (nor of ipykernel's kernel)"
    assert rest[0] == "usage:" and "python -m mpikernel install" in r.stderr


def test_kernel_launch_passes_ipykernel_options_through():
    from mpikernel.__main__ import kernel_app_argv, unknown_kernel_option

    assert unknown_kernel_option(kernel_app_argv(["-f", "c.json", "--hb=5", "--debug",
                                                  "--IPKernelApp.log_level=10", "--ranks", "2"])) is None
    assert unknown_kernel_option(["--nope=1"]) == "--nope=1"


@pytest.mark.parametrize("command", [["--help"], ["install", "--help"], ["info", "--help"], ["tour", "--help"], ["export", "--help"]])
def test_help_into_a_closed_pipe_is_quiet(command):
    read, write = os.pipe()
    os.close(read)
    try:
        r = subprocess.run([sys.executable, "-m", "mpikernel", *command], stdout=write,
                           stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert "Traceback" not in r.stderr and "BrokenPipeError" not in r.stderr and r.stderr == "", r.stderr
