"""Where a world that spans hosts listens: the address of the interface that routes to its nodes.

On one host a world listens on loopback (`security`). When its ranks run on other nodes they must
reach the controller and the control channel, so those listen on the one interface that carries
the route to the nodes (found here without sending anything: a UDP socket's connect only asks the
kernel's routing table), never on 0.0.0.0. The ranks do the same on their side for the MPI
library's own TCP sockets (`mpi_interface_env`).
"""

from __future__ import annotations

import fcntl
import socket
import struct

SIOCGIFADDR = 0x8915  # <linux/sockios.h>: an interface's IPv4 address


def route_source(peer: str) -> str:
    """This host's address on the route to `peer` (an IPv4 address); OSError if there is none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((peer, 9))  # UDP: no packet is sent, the kernel only picks the route
        return s.getsockname()[0]


def interface_of(address: str) -> str | None:
    """The name of the interface that holds IPv4 `address` here ("eth0"), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            try:
                raw = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue  # no IPv4 address on it
            if socket.inet_ntoa(raw[20:24]) == address:
                return name
    return None


def cluster_address(peers: list[str]) -> str:
    """The one local address that reaches every peer; ValueError (a sentence) when there is none or
    the peers are reached through different interfaces (then the person must choose: --ip)."""
    sources = {}
    for peer in peers:
        try:
            sources.setdefault(route_source(peer), []).append(peer)
        except OSError as e:
            raise ValueError(f"no route from this host to the node at {peer} ({e.strerror}); "
                             "give the address to listen on with --ip") from None
    if len(sources) != 1:
        ways = "; ".join(f"{', '.join(p)} through {a}" for a, p in sources.items())
        raise ValueError(f"the nodes are reached through different interfaces ({ways}); "
                         "choose the one to listen on with --ip")
    return next(iter(sources))


def mpi_interface_env(interface: str) -> dict[str, str]:
    """Environment that keeps the MPI library's TCP traffic on `interface` (UCX, libfabric, Open MPI)."""
    return {"UCX_NET_DEVICES": interface, "FI_TCP_IFACE": interface, "FI_SOCKETS_IFACE": interface,
            "OMPI_MCA_btl_tcp_if_include": interface, "OMPI_MCA_oob_tcp_if_include": interface}
