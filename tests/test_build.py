"""The build record, the libmpi preload, the launcher and `python -m mpikernel info`."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mpikernel import _libmpi, info, launcher

ROOT = Path(__file__).resolve().parents[1]


def test_build_record_names_the_mpi():
    cfg = _libmpi.build_config()
    assert cfg["vendor"] in ("MPICH", "Open MPI", "Intel MPI")
    assert cfg["version"]
    assert cfg["libmpi"].startswith("libmpi")
    assert cfg["found_by"] in ("MPICC", "PATH", "mpich-wheel")


def test_missing_libmpi_is_a_clear_import_error(monkeypatch, tmp_path):
    monkeypatch.setattr(_libmpi, "build_config", lambda: {
        "vendor": "MPICH", "version": "9.9", "libmpi": "libmpi.so.999",
        "libdir": str(tmp_path), "in_python_prefix": True,
    })
    with pytest.raises(ImportError) as exc:
        _libmpi.preload()
    msg = str(exc.value)
    assert "libmpi.so.999" in msg
    assert str(tmp_path) in msg and str(Path(sys.prefix) / "lib") in msg
    assert "pip install" in msg and "MPICC" in msg


def test_launcher_finds_our_mpiexec():
    exe = launcher.find_mpiexec()
    assert os.access(exe, os.X_OK)
    cmd = launcher.mpiexec_command(3)
    assert cmd[:3] == [exe, "-n", "3"]


def test_launcher_adds_open_mpi_flags_for_root_and_oversubscription(monkeypatch):
    monkeypatch.setattr(launcher, "mpiexec_vendor", lambda exe: "Open MPI")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    cmd = launcher.mpiexec_command(8, mpiexec="/opt/ompi/bin/mpiexec")
    assert "--allow-run-as-root" in cmd and "--oversubscribe" in cmd
    env = launcher.mpiexec_env(mpiexec="/opt/ompi/bin/mpiexec")
    assert env["OMPI_ALLOW_RUN_AS_ROOT"] == "1" and env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] == "1"


def test_launcher_rejects_zero_ranks():
    with pytest.raises(launcher.LauncherError, match="at least 1"):
        launcher.mpiexec_command(0)


def test_info_reports_build_library_and_launcher(tmp_path):
    # cwd elsewhere: `-m` would otherwise import the source tree, not the installed package
    out = subprocess.run(
        [sys.executable, "-m", "mpikernel", "info"], capture_output=True, text=True, timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    cfg = _libmpi.build_config()
    assert f"built against : {cfg['vendor']} {cfg['version']}" in text
    assert "loaded library: " in text and "NOT LOADED" not in text
    assert launcher.find_mpiexec() in text
    assert "WARNING" not in text


def test_info_names_a_launcher_mismatch_and_the_fix():
    facts = dict(
        built_vendor="MPICH", built_version="5.0.2", built_mpicc="mpicc", built_found_by="PATH",
        libmpi="libmpi.so.12", library="MPICH Version: 5.0.2", library_error=None,
        mpiexec="/usr/bin/mpiexec.openmpi", mpiexec_vendor="Open MPI", mpiexec_error=None,
    )
    (problem,) = info.problems(facts)
    assert "built against MPICH" in problem and "Open MPI" in problem
    assert "rank 0 of 1" in problem and "--force-reinstall" in problem


def test_info_names_a_library_mismatch():
    facts = dict(
        built_vendor="Open MPI", built_version="4.1.4", built_mpicc="mpicc", built_found_by="PATH",
        libmpi="libmpi.so.40", library="MPICH Version: 5.0.2", library_error=None,
        mpiexec="/usr/bin/mpiexec", mpiexec_vendor="Open MPI", mpiexec_error=None,
    )
    (problem,) = info.problems(facts)
    assert "built against Open MPI but MPICH is loaded" in problem


@pytest.mark.timeout(300)
def test_broken_mpicc_fails_the_build_with_one_clear_message(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "_mpi", src / "_mpi", ignore=shutil.ignore_patterns("*.c"))
    shutil.copytree(ROOT / "mpikernel", src / "mpikernel",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__", "_build_config.json"))
    env = dict(os.environ, MPICC="/nonexistent/mpicc")
    out = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"], cwd=src, env=env,
        capture_output=True, text=True, timeout=280,
    )
    assert out.returncode != 0
    assert "mpikernel build failed: MPICC='/nonexistent/mpicc' is not an executable" in out.stderr
    assert "unset it to use the mpich wheel" in out.stderr


def test_started_by_another_mpis_launcher_is_a_clear_error(tmp_path):
    """Built against one MPI, started by the other's mpiexec: one sentence, no hang."""
    vendor = _libmpi.build_config()["vendor"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI", "OMPI_", "PMIX"))}
    if vendor == "MPICH":   # what Open MPI's mpiexec (PMIx) sets
        env.update(OMPI_COMM_WORLD_SIZE="4", PMIX_RANK="0", PMIX_SIZE="4")
    else:                   # what MPICH's hydra would set, minus its PMI socket
        env.update(PMI_SIZE="4", PMI_RANK="0")
    out = subprocess.run(
        [sys.executable, "-c", "from mpikernel import MPI"], env=env,
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert f"built against {vendor}" in last
    assert "--force-reinstall" in last and "mpikernel info" in last


def test_the_kernel_spec_is_installed_with_the_package():
    """`pip install` (editable too) puts mpikernel-4 where Jupyter looks: <prefix>/share/jupyter."""
    spec = Path(sys.prefix) / "share" / "jupyter" / "kernels" / "mpikernel-4" / "kernel.json"
    assert spec.is_file(), f"{spec} missing: reinstall with `python -m pip install -e .`"
    shipped = ROOT / "share" / "jupyter" / "kernels" / "mpikernel-4" / "kernel.json"
    assert spec.read_text() == shipped.read_text()
