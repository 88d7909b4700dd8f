"""Loopback ports for the cluster's components: pick free ones, or check a requested one is free."""

from __future__ import annotations

import socket

from labkit.cluster.errors import PortInUse

HOST = "127.0.0.1"


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether nothing listens on host:port and it can be bound now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(count: int, host: str = HOST) -> list[int]:
    """``count`` distinct ports that are free on ``host`` right now (held open together while chosen)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def require_free(port: int, what: str, host: str = HOST) -> None:
    """Raise PortInUse naming the component when the requested port is taken."""
    if not 0 < port < 65536:
        raise PortInUse(f"{what} port {port} is not a valid TCP port (1-65535)")
    if not port_is_free(port, host):
        raise PortInUse(
            f"{what} port {port} on {host} is in use by another program: stop it, or choose another port"
        )
