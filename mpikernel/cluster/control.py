"""The owner's side of the control channel: one signed zmq socket to the agent in every rank.

ipyparallel's requests queue behind a running cell; this channel does not, so the owner can
ask a busy rank where it is, or interrupt it (see engine.EngineAgent for the ranks' side).
"""

from __future__ import annotations

import time

from mpikernel.cluster import security


class ControlChannel:
    """The owner's side of the agents' sockets: a zmq ROUTER bound on loopback (see engine.EngineAgent).

    On a shared machine a random port may have been someone else's a moment ago, and their
    sockets keep reconnecting to it; and anyone on the machine can connect to a loopback port.
    So every message is signed (HMAC-SHA256, `security.signed`) with this world's key, given to
    the ranks in their environment (never on a command line, which `ps` shows to everyone), and
    anything unsigned or signed with another key is dropped unread.
    """

    def __init__(self, ip=security.LOOPBACK):
        import zmq

        self.key = security.new_key()
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        port = self.sock.bind_to_random_port(f"tcp://{ip}")
        self.url = f"tcp://{ip}:{port}"
        self.hellos: dict[int, dict] = {}
        self._seq = 0

    def _recv(self, timeout):
        """The next valid (rank, message), or None after `timeout` seconds."""
        until = time.monotonic() + timeout
        while True:
            left = until - time.monotonic()
            if not self.sock.poll(max(0, int(left * 1000))):
                return None
            frames = self.sock.recv_multipart()
            got = self._parse(frames)
            if got is not None:
                return got

    def _parse(self, frames):
        if len(frames) != 3:
            return None
        msg = security.verified(self.key, frames[1:])
        if msg is None:
            return None  # not one of our agents
        try:
            rank = int(frames[0].decode().split("-", 1)[1])
        except (ValueError, IndexError, UnicodeDecodeError):
            return None
        if msg.get("rank") != rank:
            return None  # signed, but sent under another rank's name
        if msg.get("op") == "hello":
            self.hellos[rank] = msg
        return rank, msg

    def wait_hellos(self, n, until):
        """Collect hellos until `n` ranks said hello or the monotonic time `until`; how many did."""
        while len(self.hellos) < n and time.monotonic() < until:
            self._recv(min(0.1, max(0.0, until - time.monotonic())))
        return len(self.hellos)

    def request(self, ranks, op, timeout=1.0):
        """Send {"op": op} to each rank; {rank: reply or None} once all answered or `timeout` passed."""
        self._seq += 1
        seq = self._seq
        for r in ranks:
            msg = {"op": op, "seq": seq}
            self.sock.send_multipart([f"rank-{r}".encode(), *security.signed(self.key, msg)])
        replies: dict[int, dict | None] = {r: None for r in ranks}
        until = time.monotonic() + timeout
        while any(v is None for v in replies.values()):
            left = until - time.monotonic()
            if left <= 0:
                break
            got = self._recv(left)
            if got is None:
                break
            rank, msg = got
            if msg.get("seq") == seq and rank in replies:
                replies[rank] = msg
        return replies

    def close(self):
        self.sock.close(linger=0)
        self.ctx.term()
