"""The Jupyter messaging conformance suite (jupyter_kernel_test) against the shipped mpikernel-4 spec.

The spec is found through JUPYTER_PATH pointing at the source tree's share/jupyter, so what is
tested is the kernel.json that ships (its "python" becomes this interpreter, as in Jupyter).
"""

import os
from pathlib import Path

import jupyter_kernel_test as jkt
import pytest

SHARE = str(Path(__file__).resolve().parents[2] / "share" / "jupyter")

pytestmark = [pytest.mark.mpi, pytest.mark.kernel, pytest.mark.timeout(300)]


class MPIKernelTests(jkt.KernelTests):
    kernel_name = "mpikernel-4"
    language_name = "python"
    file_extension = ".py"

    code_hello_world = "print('hello, world')"
    code_stderr = "import sys; print('oops', file=sys.stderr)"
    code_generate_error = "raise ValueError('boom on every rank')"
    code_execute_result = [
        {"code": "6*7", "result": "42"},
        {"code": "comm.allreduce(1)", "result": "4"},
        {"code": "size", "result": "4"},
    ]
    code_display_data = [
        {"code": "from IPython.display import HTML, display; display(HTML('<b>hi</b>'))",
         "mime": "text/html"},
    ]
    code_history_pattern = "6*7"
    # as ipykernel's own conformance test: IPython answers a range over the current session with
    # session number 0, which the suite's range check does not expect
    supported_history_operations = ("tail", "search")
    code_inspect_sample = "comm.allreduce"
    code_page_something = "comm.allreduce?"
    completion_samples = [{"text": "zi", "matches": {"zip"}}]
    complete_code_samples = ["1", "print('hello, world')", "def f(x):\n  return x*2\n\n\n"]
    incomplete_code_samples = ["print('''hello", "def f(x):\n  x*2", "for r in range(size):"]
    invalid_code_samples = ["import = 7q"]

    @classmethod
    def setUpClass(cls):
        cls._old_path = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = SHARE + (os.pathsep + cls._old_path if cls._old_path else "")
        super().setUpClass()
        # the first cell may wait for the ranks to come up (and say so): not part of the suite
        cls.kc.execute_interactive("1", timeout=120)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        if cls._old_path is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = cls._old_path

    def test_mpikernel_info(self):
        self.flush_channels()
        self.kc.kernel_info()
        reply = self.kc.get_shell_msg(timeout=jkt.TIMEOUT)
        content = reply["content"]
        import sys

        assert content["implementation"] == "mpikernel"
        assert content["language_info"]["name"] == "python"
        assert content["language_info"]["version"] == sys.version.split()[0]
        assert "4 MPI ranks" in content["banner"]
        from mpikernel.front.kernel import mpi_library

        vendor = mpi_library().split()[0]  # "MPICH" / "Open MPI": the library the ranks loaded
        assert f"({vendor}" in content["banner"]

    def test_error_reply_and_count(self):
        self.flush_channels()
        reply, outputs = self.execute_helper("1")
        n = reply["content"]["execution_count"]
        reply, outputs = self.execute_helper("1/0")
        content = reply["content"]
        assert content["status"] == "error"
        assert content["ename"] == outputs[0]["content"]["ename"]
        assert content["evalue"] == outputs[0]["content"]["evalue"]
        assert content["traceback"] == outputs[0]["content"]["traceback"]
        assert "ZeroDivisionError" in "\n".join(content["traceback"])
        assert "[ranks 0-3]" in "\n".join(content["traceback"])
        assert content["execution_count"] == n + 1
        reply, _ = self.execute_helper("2")
        assert reply["content"]["execution_count"] == n + 2
