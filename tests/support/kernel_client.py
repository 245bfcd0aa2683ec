"""The MPI kernel driven through jupyter_client, as the kernel, debugger, diagnostics, fault and
security tests all drive it: one helper so a change to how a kernel is started or read is made once.

- `Kernel()` starts an `mpikernel-4` (call `use_shipped_kernel_specs()` from world_helpers first
  when the spec is not installed) with a blocking client, and records every process under it so
  `close()` kills by pid whatever a failed test left behind.
- `stream_of(msg)` reads a stream message, or the kernel's labelled display of one, as (name, text).
"""

import time

import psutil
from jupyter_client.manager import KernelManager

from mpikernel.front.display import as_stream
from world_helpers import alive, kill_all


class Kernel:
    """A started mpikernel-4 with a blocking client and a record of every process under it."""

    def __init__(self):
        for attempt in (1, 2):  # a port picked for the kernel can be taken by another job meanwhile
            self.km = KernelManager(kernel_name="mpikernel-4")
            self.t_launch = time.perf_counter()
            self.km.start_kernel()
            self.kc = self.km.client()
            self.kc.start_channels()
            try:
                self.kc.wait_for_ready(timeout=60)
                break
            except RuntimeError:
                self.kc.stop_channels()
                self.km.shutdown_kernel(now=True)
                if attempt == 2:
                    raise
        self.seen: set[int] = set()

    @property
    def pid(self) -> int:
        return self.km.provisioner.process.pid

    def descendants(self) -> list[psutil.Process]:
        try:
            procs = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        self.seen.update(p.pid for p in procs)
        return procs

    def run(self, code, timeout=60, **kw):
        """(reply content, [iopub messages]) for one cell."""
        msgs = []
        reply = self.kc.execute_interactive(
            code, timeout=timeout, output_hook=msgs.append, **kw
        )
        return reply["content"], [m for m in msgs if m["msg_type"] not in ("status", "execute_input")]

    def wait_idle(self, msg_id, timeout=30):
        """Read iopub until the kernel says it is idle after request `msg_id`, as a notebook
        does before it marks a cell done. ipykernel 7 sends an error's execute_reply before it
        arms the abort of queued requests (ipython/ipykernel#609), so a request sent the moment
        the reply arrives can still come back "aborted"; after idle it cannot."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            if (msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
                    and msg["parent_header"].get("msg_id") == msg_id):
                return
        raise AssertionError(f"the kernel did not go idle after {msg_id} within {timeout} s")

    def stdout(self, code, **kw):
        content, msgs = self.run(code, **kw)
        assert content["status"] == "ok", content
        return "".join(text for name, text in map(stream_of, msgs) if name == "stdout")

    def close(self):
        try:
            self.kc.stop_channels()
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=True)
        finally:
            kill_all([pid for pid in self.seen if alive(pid)])


def stream_of(msg):
    """(name, text) of a stream message or of the kernel's labelled display of one, else (None, "")."""
    c = msg["content"]
    if msg["msg_type"] == "stream":
        return c["name"], c["text"]
    if msg["msg_type"] == "display_data":
        return as_stream(c["data"], c.get("metadata")) or (None, "")
    return None, ""
