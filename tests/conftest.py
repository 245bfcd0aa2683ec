import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # tests/programs (the binding's programs)
sys.path.insert(0, str(HERE / "support"))  # helpers shared by the test folders

import mpirun as _mpirun  # noqa: E402
from world_helpers import use_shipped_kernel_specs, wait_all_gone  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "world(ranks=4, shell=False): how the `world` fixture (tests/conftest.py) starts the module's world")


@pytest.fixture
def mpirun(tmp_path):
    """mpirun(code, n=2, timeout=60, ...) -> Result; see tests/support/mpirun.py."""

    def runner(code, n=2, **kw):
        kw.setdefault("tmp_path", tmp_path)
        return _mpirun.run(code, n=n, **kw)

    return runner


@pytest.fixture(scope="module")
def shipped_kernel_specs():
    """This checkout's kernel specs (share/jupyter) first on JUPYTER_PATH for a module's tests."""
    restore = use_shipped_kernel_specs()
    yield
    restore()


@pytest.fixture(scope="module")
def shell():
    """An IPython shell with the extension loaded; the module's world is stopped after it."""
    from IPython.core.interactiveshell import InteractiveShell

    from mpikernel.front import magics

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "mpikernel")
    yield ip
    magics.stop_world()


@pytest.fixture(scope="module")
def world(request):
    """The module's one MPI world (starting ranks costs seconds), stopped after its last test; every
    process of it must be gone 5 s later, so a world that leaves one behind fails its module.

    4 ranks, unless the module says `pytestmark = pytest.mark.world(ranks=2)` or a test
    parametrises `world` indirectly with a rank count. `pytest.mark.world(shell=True)`: the world
    of `%mpi_start` in the module's `shell`, for modules whose `%%px_mpi` cells run on it;
    otherwise a `World` the fixture owns, with no IPython in between.
    """
    mark = request.node.get_closest_marker("world")
    how = dict(mark.kwargs) if mark else {}
    ranks = getattr(request, "param", how.get("ranks", 4))
    if how.get("shell"):
        from mpikernel.front import magics

        w = _start_in_shell(request.getfixturevalue("shell"), ranks)
        stop = magics.stop_world
    else:
        from mpikernel.cluster.world import World

        w = World(ranks).start()
        stop = w.stop
    pids = w.processes()
    yield w
    stop()
    assert wait_all_gone(pids, 5) == []


def _start_in_shell(shell, ranks):
    """`%mpi_start -n ranks` in `shell` (after stopping a world an earlier module left in it)."""
    from IPython.utils.capture import capture_output

    from mpikernel.front import magics

    magics.stop_world()
    with capture_output() as cap:
        shell.run_line_magic("mpi_start", f"-n {ranks}")
    assert f"MPI world ready: {ranks} ranks" in cap.stdout, cap.stdout + cap.stderr
    return magics.world()
