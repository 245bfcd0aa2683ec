import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # tests/programs (the binding's programs)
sys.path.insert(0, str(HERE / "support"))  # helpers shared by the test folders

import mpirun as _mpirun  # noqa: E402


@pytest.fixture
def mpirun(tmp_path):
    """mpirun(code, n=2, timeout=60, ...) -> Result; see tests/support/mpirun.py."""

    def runner(code, n=2, **kw):
        kw.setdefault("tmp_path", tmp_path)
        return _mpirun.run(code, n=n, **kw)

    return runner


@pytest.fixture(scope="module")
def shell():
    """An IPython shell with the extension loaded; the module's world is stopped after it."""
    from IPython.core.interactiveshell import InteractiveShell

    from mpikernel.front import magics

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "mpikernel")
    yield ip
    magics.stop_world()
