"""The kernel spec layers: argv -> kernel dict -> written directory -> installed spec."""

import json
import sys
from pathlib import Path

import pytest

from mpikernel.front import kernelspec as ks

SHIPPED = Path(__file__).resolve().parents[2] / "share" / "jupyter" / "kernels" / "mpikernel-4"


def test_make_argv_default_is_machine_independent():
    argv = ks.make_argv()
    assert argv == ["python", "-m", "mpikernel", "-f", "{connection_file}", "--ranks", "4"]


def test_make_argv_options():
    argv = ks.make_argv(8, executable="/opt/py", hostfile="/h", launcher="slurm")
    assert argv[0] == "/opt/py"
    assert argv[argv.index("--ranks") + 1] == "8"
    assert argv[argv.index("--launcher") + 1] == "slurm"
    assert argv[argv.index("--hostfile") + 1] == "/h"


@pytest.mark.parametrize("bad", [0, -1, "x", "2.5", "", None, True])
def test_bad_ranks(bad):
    with pytest.raises(ks.SpecError, match="ranks"):
        ks.make_argv(bad)


def test_bad_launcher():
    with pytest.raises(ks.SpecError, match="launcher"):
        ks.make_argv(4, launcher="ssh")


def test_kernel_dict():
    d = ks.get_kernel_dict(8, env={"OMP_NUM_THREADS": "1"})
    assert d["display_name"] == "MPI (8 ranks)"
    assert d["language"] == "python"
    assert d["env"] == {"OMP_NUM_THREADS": "1"}
    assert ks.get_kernel_dict(1)["display_name"] == "MPI (1 rank)"
    assert "env" not in ks.get_kernel_dict()


def test_shipped_spec_equals_generated_default():
    shipped = json.loads((SHIPPED / "kernel.json").read_text())
    assert shipped == ks.get_kernel_dict(tutorial=True)
    assert shipped["env"] == {"MPIKERNEL_CHECK_COLLECTIVES": "1"}  # the tutorial spec checks collectives
    for logo in ks.LOGO_FILES:
        assert (SHIPPED / logo).stat().st_size > 100


def test_shipped_logos_are_what_they_claim():
    for size in (32, 64):
        head = (SHIPPED / f"logo-{size}x{size}.png").read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        assert int.from_bytes(head[16:20], "big") == size
        assert int.from_bytes(head[20:24], "big") == size
    assert "<svg" in (SHIPPED / "logo-svg.svg").read_text()


def test_write_kernel_spec(tmp_path):
    path = ks.write_kernel_spec(tmp_path / "k", ranks=2)
    d = json.loads((Path(path) / "kernel.json").read_text())
    assert d == ks.get_kernel_dict(2)
    assert sorted(p.name for p in Path(path).iterdir()) == sorted(("kernel.json",) + ks.LOGO_FILES)


@pytest.mark.parametrize(
    "items,expected",
    [([], {}), (["A=1"], {"A": "1"}), (["A=x=y", "B="], {"A": "x=y", "B": ""})],
)
def test_parse_env(items, expected):
    assert ks.parse_env(items) == expected


@pytest.mark.parametrize("bad", ["A", "=1", "1A=2", "A B=3"])
def test_parse_env_strict(bad):
    with pytest.raises(ks.SpecError):
        ks.parse_env([bad])


def test_install_records_interpreter_and_mpiexec(tmp_path):
    from jupyter_client.kernelspec import KernelSpecManager

    from mpikernel.cluster.launcher import find_mpiexec

    dest = ks.install(ranks=8, prefix=str(tmp_path), env={"X": "1"})
    assert Path(dest) == tmp_path / "share" / "jupyter" / "kernels" / "mpikernel-8"
    ksm = KernelSpecManager(kernel_dirs=[str(tmp_path / "share" / "jupyter" / "kernels")])
    spec = ksm.get_kernel_spec("mpikernel-8")
    assert spec.display_name == "MPI (8 ranks)"
    assert spec.argv[0] == sys.executable
    assert spec.env == {"MPIKERNEL_MPIEXEC": find_mpiexec(), "X": "1"}


def test_install_errors(tmp_path):
    with pytest.raises(ks.SpecError, match="kernel name"):
        ks.install(name="bad name", prefix=str(tmp_path))
    with pytest.raises(ks.SpecError, match="hostfile"):
        ks.install(hostfile=str(tmp_path / "missing"), prefix=str(tmp_path))
    with pytest.raises(ks.SpecError, match="at most one"):
        ks.install(user=True, prefix=str(tmp_path))


def test_install_hostfile_made_absolute(tmp_path, monkeypatch):
    (tmp_path / "hosts").write_text("localhost:4\n")
    monkeypatch.chdir(tmp_path)
    dest = ks.install(ranks=2, name="h2", hostfile="hosts", launcher="slurm", prefix=str(tmp_path))
    argv = json.loads((Path(dest) / "kernel.json").read_text())["argv"]
    assert argv[argv.index("--hostfile") + 1] == str(tmp_path / "hosts")
    assert "env" not in json.loads((Path(dest) / "kernel.json").read_text())  # slurm: no mpiexec


def _running_from_source():
    """An editable install (or a source checkout on sys.path): setup.py sits beside the package."""
    import mpikernel

    return (Path(mpikernel.__file__).resolve().parent.parent / "setup.py").is_file()


def test_installed_package_ships_the_spec():
    """`pip install` put mpikernel-4 where Jupyter looks (sys.prefix/share/jupyter/kernels)."""
    from jupyter_client.kernelspec import KernelSpecManager

    installed = Path(sys.prefix) / "share" / "jupyter" / "kernels" / "mpikernel-4"
    if not installed.is_dir() and _running_from_source():
        pytest.skip(
            "editable install without data files: setuptools' editable wheels skip data_files "
            "unless setup.py installs them (see docs/kernel.md)"
        )
    assert json.loads((installed / "kernel.json").read_text()) == ks.get_kernel_dict(tutorial=True)
    specs = KernelSpecManager().find_kernel_specs()
    assert "mpikernel-4" in specs


def test_install_no_hints_sets_the_spec_env(tmp_path):
    from jupyter_client.kernelspec import KernelSpecManager

    from mpikernel.cells.diagnose import HINTS_ENV

    ks.install(ranks=2, prefix=str(tmp_path), hints=False)
    ks.install(ranks=3, prefix=str(tmp_path))
    ksm = KernelSpecManager(kernel_dirs=[str(tmp_path / "share" / "jupyter" / "kernels")])
    assert ksm.get_kernel_spec("mpikernel-2").env[HINTS_ENV] == "0"
    assert HINTS_ENV not in ksm.get_kernel_spec("mpikernel-3").env
