"""Port-forwarding through the API server that yields a stable local URL, on every cluster.

Each accepted connection opens its own port-forward stream (the Python client's ``portforward``, the
API server's ``pods/portforward``, the kubelet, the pod's port), to the target chosen at connect time:
for a Service a ready Endpoint, so new connections follow the Service when the chosen pod goes away
(``kubectl port-forward svc/...`` picks one pod for its whole life).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from labkit.errors import LabError

CHUNK = 65536
CONNECT_TRIES = 2  # a target that fails to open is replaced by a fresh choice once


class Stream(Protocol):
    """One connection's byte stream to the target (a socket, or the client's port-forward socket)."""

    def sendall(self, data: bytes, /) -> None: ...
    def recv(self, size: int, /) -> bytes: ...
    def close(self) -> None: ...


Opener = Callable[[], Stream]


class ApiForwarder:
    """Listen on 127.0.0.1 and pipe each accepted connection to a stream from ``open_stream()``."""

    def __init__(self, open_stream: Opener) -> None:
        self._open = open_stream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._open_sockets: set[Any] = set()
        self._accepter = threading.Thread(target=self._accept, name="labkit-forwarder", daemon=True)
        self.port = int(self._listener.getsockname()[1])

    def start(self) -> int:
        """Start accepting and return the local port."""
        self._accepter.start()
        return self.port

    def stop(self) -> None:
        """Stop accepting and close every open connection, both ends."""
        self._closing.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._accepter.join(timeout=10)
        with self._lock:
            sockets = list(self._open_sockets)
        for sock in sockets:
            _close(sock)

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _track(self, sock: Any) -> None:
        with self._lock:
            self._open_sockets.add(sock)

    def _forget(self, sock: Any) -> None:
        with self._lock:
            self._open_sockets.discard(sock)
        _close(sock)

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        try:
            upstream = open_with_retry(self._open)
        except (LabError, OSError, ConnectionError):
            self._forget(client)  # no target: the client sees the connection closed
            return
        self._track(upstream)
        back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        back.start()
        _pump(client, upstream)
        back.join()
        self._forget(upstream)
        self._forget(client)


def open_with_retry(open_stream: Opener) -> Stream:
    """``open_stream()``, tried again once when it fails (its target went away since it was chosen)."""
    error: BaseException | None = None
    for _ in range(CONNECT_TRIES):
        try:
            return open_stream()
        except (LabError, OSError, ConnectionError) as exc:
            error = exc
    raise ConnectionError(f"no target reachable: {error}")


def _pump(source: Stream, destination: Stream) -> None:
    """Copy bytes until ``source`` ends, then close ``destination`` so the other side sees the end."""
    try:
        while data := source.recv(CHUNK):
            destination.sendall(data)
    except OSError:
        pass
    finally:
        _close(destination)


def _close(sock: Any) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@contextlib.contextmanager
def forwarding(open_stream: Opener) -> Iterator[str]:
    """Run an ApiForwarder for the block and yield its ``http://127.0.0.1:PORT`` URL."""
    forwarder = ApiForwarder(open_stream)
    port = forwarder.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        forwarder.stop()


def pod_port_stream(core_api: Any, namespace: str, pod: str, port: int) -> Stream:
    """A new port-forward stream to ``pod``'s ``port`` through the API server (the Python client's)."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.stream import portforward

    try:
        forwarded = portforward(
            core_api.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port)
        )
    except ApiException as exc:
        raise LabError(f"port-forward to pod/{pod}:{port} was refused: {exc.status} {exc.reason}") from None
    except Exception as exc:  # the websocket upgrade failed (the pod is gone or not running)
        raise LabError(f"port-forward to pod/{pod}:{port} failed: {exc}") from None
    sock = forwarded.socket(port)
    sock.setblocking(True)
    return sock
