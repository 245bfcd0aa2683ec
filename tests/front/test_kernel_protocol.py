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
    supported_history_operations = ("tail", "range", "search")
    code_clear_output = "from IPython.display import clear_output; clear_output()"
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

    # ------------------------------------------------------- beyond the suite: execute_request's fields

    def test_user_expressions_on_rank0(self):
        self.flush_channels()
        reply = self.kc.execute_interactive("x = rank + 10", timeout=jkt.TIMEOUT,
                                            user_expressions={"x": "x", "s": "size", "bad": "1/0"})
        ue = reply["content"]["user_expressions"]
        assert ue["x"] == {"status": "ok", "data": {"text/plain": "10"}, "metadata": {}}
        assert ue["s"]["data"]["text/plain"] == "4"
        assert (ue["bad"]["status"], ue["bad"]["ename"]) == ("error", "ZeroDivisionError")

    def test_silent_cell_publishes_nothing(self):
        self.flush_channels()
        before, _ = self.execute_helper("1")
        reply, outputs = self.execute_helper("print('quiet'); y = 5; y", silent=True)
        assert reply["content"]["status"] == "ok"
        assert outputs == []
        after, outputs = self.execute_helper("y")  # it ran on the ranks, and did not count
        assert outputs[-1]["content"]["data"]["text/plain"] == "5"
        assert after["content"]["execution_count"] == before["content"]["execution_count"] + 1

    def test_store_history_false_keeps_the_count(self):
        self.flush_channels()
        before, _ = self.execute_helper("1")
        self.execute_helper("2", store_history=False)
        after, _ = self.execute_helper("3")
        assert after["content"]["execution_count"] == before["content"]["execution_count"] + 1

    def test_payloads_come_from_rank0(self):
        self.flush_channels()
        self.execute_helper("open('kload_sample.py', 'w').write('print(1)\\n') if rank == 0 else None")
        try:
            reply, _ = self.execute_helper("%load kload_sample.py")
        finally:
            self.execute_helper("import os; os.remove('kload_sample.py') if rank == 0 else None")
        (payload,) = reply["content"]["payload"]
        assert payload["source"] == "set_next_input"
        assert payload["text"] == "# %load kload_sample.py\nprint(1)\n"
        reply, _ = self.execute_helper("get_ipython().set_next_input(f'on rank {rank}')")
        assert [p["text"] for p in reply["content"]["payload"]] == ["on rank 0"]

    def test_history_and_out_on_the_ranks(self):
        self.flush_channels()
        self.execute_helper("6*7 + rank")
        _, outputs = self.execute_helper("(_, Out[len(Out) and max(Out)])")
        text = outputs[-1]["content"]["data"]["text/plain"]
        assert text.startswith("[rank 0]\n(42, 42)") and "[rank 3]\n(45, 45)" in text
        _, outputs = self.execute_helper("%history -l 1")
        streams = [m["content"]["text"] for m in outputs if m["msg_type"] == "stream"]
        assert "(_, Out[len(Out) and max(Out)])" in "".join(streams)

    def test_stop_on_error_aborts_the_queue(self):
        self.flush_channels()
        failing = self.kc.execute("raise ValueError('first')")
        queued = self.kc.execute("print('must not run')")
        replies = {}
        while len(replies) < 2:
            msg = self.kc.get_shell_msg(timeout=jkt.TIMEOUT)
            replies[msg["parent_header"]["msg_id"]] = msg["content"]
        assert replies[failing]["status"] == "error" and replies[failing]["ename"] == "ValueError"
        assert replies[queued]["status"] == "aborted"
