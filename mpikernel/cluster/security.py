"""Who may talk to a world: where it listens, how its messages are signed, who can read its files.

A world is a handful of processes that run whatever code they are sent, so it must be reachable
only by its owner:

- it listens on loopback (127.0.0.1) unless asked otherwise (`listen_ip`, which warns when the
  answer is anything else), and the MPI library's own network sockets are kept on loopback too
  (`loopback_mpi_env`);
- every message is signed with a key made for this world only: ipyparallel's (jupyter_client
  Session, HMAC-SHA256) and ours on the control channel (`sign` / `verified`);
- its files (connection files with those keys, the log) live in a directory only the owner can
  enter (`private_dir`, 0700) and are created 0600 (`private_file`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import socket
import tempfile
import warnings
from pathlib import Path

LOOPBACK = "127.0.0.1"


class ExposedWorldWarning(UserWarning):
    """The world listens on an interface other machines can reach."""


def is_loopback(ip: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"."""
    if ip == "localhost":
        return True
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def listen_ip(ip: str | None = None, say=None) -> str:
    """The address a world binds to: loopback by default; anything else is checked and warned about.

    `ip` may be an IPv4/IPv6 address, "*" / "0.0.0.0" (every interface), or a host name of this
    machine (resolved). A non-loopback answer emits ExposedWorldWarning and, when `say` is given
    (print, a notebook's progress line), tells the person too: on a shared network anyone who can
    reach the port can try to connect, and only the world's key keeps them out.
    """
    if ip is None or str(ip).strip() in ("", "localhost", LOOPBACK):
        return LOOPBACK
    text = str(ip).strip()
    if text == "*":
        text = "0.0.0.0"
    try:
        addr = str(ipaddress.ip_address(text))
    except ValueError:
        try:
            addr = socket.gethostbyname(text)
        except OSError:
            raise ValueError(f"--ip needs an IP address of this machine (like 127.0.0.1 or "
                             f"0.0.0.0 for every interface), not {ip!r}") from None
    if not is_loopback(addr):
        note = (f"the MPI world will listen on {addr}, not only on this machine's loopback: other "
                "machines that reach this address can connect to it (messages must still carry the "
                "world's key). Use this only on a network you trust (e.g. for ranks on other hosts).")
        warnings.warn(note, ExposedWorldWarning, stacklevel=2)
        if say is not None:
            say(f"warning: {note}")
    return addr


def loopback_mpi_env(environ=None, mpi=None) -> dict[str, str]:
    """Environment that keeps the MPI library's own TCP listeners on loopback (single-host worlds).

    Measured with the mpich wheel (ch4:ucx): without it every rank also listens on the machine's
    public address; with UCX_NET_DEVICES=lo only on 127.0.0.1 (shared memory still carries the
    data between ranks on one host). The libfabric and Open MPI names do the same for those builds.
    Open MPI's TCP BTL listens on every interface whatever btl_tcp_if_include says (measured:
    Debian's 4.1.4, and the 5.0.11 wheel on 0.0.0.0 and :: from port 1024), so for a build against
    Open MPI (`mpi`: the build's config) the ranks use only shared memory and self (the shared
    memory BTL is `vader` before 5, `sm` from 5).
    """
    environ = os.environ if environ is None else environ
    env = {"UCX_NET_DEVICES": "lo", "FI_TCP_IFACE": "lo", "FI_SOCKETS_IFACE": "lo"}
    if "OMPI_MCA_btl_tcp_if_exclude" not in environ:  # Open MPI refuses include + exclude
        env["OMPI_MCA_btl_tcp_if_include"] = "lo"
    if mpi and mpi.get("vendor") == "Open MPI":
        env["OMPI_MCA_btl"] = "self,vader" if _major(mpi.get("version")) < 5 else "self,sm"
    return {k: v for k, v in env.items() if k not in environ}  # the user's own choice wins


def _major(version) -> int:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return 0


def new_key() -> str:
    """A fresh 128-bit secret for one world."""
    return secrets.token_hex(16)


def sign(key: str, payload: bytes) -> bytes:
    """HMAC-SHA256 of payload, hex (the control channel's second frame)."""
    return hmac.new(key.encode(), payload, hashlib.sha256).hexdigest().encode()


def signed(key: str, message: dict) -> list[bytes]:
    """[signature, json] frames of a control-channel message."""
    raw = json.dumps(message, default=str).encode()
    return [sign(key, raw), raw]


def verified(key: str, frames) -> dict | None:
    """The message of [signature, json] frames if the signature is this key's, else None."""
    try:
        signature, raw = frames
    except (TypeError, ValueError):
        return None
    if not key or not hmac.compare_digest(sign(key, raw), bytes(signature)):
        return None
    try:
        msg = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return msg if isinstance(msg, dict) else None


def private_dir(prefix: str = "mpikernel-world-") -> Path:
    """A new directory only this user can enter (mkdtemp makes it 0700; checked, not assumed)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o700)
    return path


def private_file(path, mode: str = "ab"):
    """open(path, mode) for a file created 0600 whatever the umask (logs may hold secrets)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode)

