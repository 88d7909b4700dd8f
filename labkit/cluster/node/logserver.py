"""The kubelet's log endpoint over HTTPS, so that ``kubectl logs [-f] [-p] [--tail]`` works.

The API server calls ``GET /containerLogs/{namespace}/{pod}/{container}`` at the node's InternalIP and
``daemonEndpoints.kubeletEndpoint.Port`` with its kubelet client certificate; when the cluster CA is
known, only clients with a certificate it signed are served.
"""

from __future__ import annotations

import datetime as dt
import http.server
import logging
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogTarget:
    """A container instance's log file, and whether that instance still runs (for ``follow``)."""

    path: Path
    running: Callable[[], bool]


class LogLookupError(Exception):
    """No such pod/container/instance; the message is what ``kubectl logs`` shows."""


LogFinder = Callable[[str, str, str, bool], LogTarget]


def self_signed_certificate(directory: Path, host_ip: str) -> tuple[Path, Path]:
    """A serving certificate for ``host_ip`` when the cluster did not provide one."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "labkit-node")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host_ip))]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "serving.crt", directory / "serving.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def tail_bytes(data: bytes, lines: int | None) -> bytes:
    """The last ``lines`` lines of ``data`` (all of it when None)."""
    if lines is None:
        return data
    if lines <= 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


class _Handler(http.server.BaseHTTPRequestHandler):
    server: LogServer
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:
        log.debug("logserver: " + format, *args)

    def _plain(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz":
            self._plain(200, "ok")
            return
        parts = url.path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "containerLogs":
            self._plain(404, f"not found: {url.path} (this node serves /containerLogs only)")
            return
        query = urllib.parse.parse_qs(url.query)

        def flag(name: str) -> bool:
            return query.get(name, ["false"])[0].lower() in ("true", "1")

        def number(name: str) -> int | None:
            raw = query.get(name, [None])[0]
            return int(raw) if raw not in (None, "") else None

        try:
            tail, limit = number("tailLines"), number("limitBytes")
        except ValueError:
            self._plain(400, "tailLines and limitBytes must be integers")
            return
        _, namespace, pod, container = parts
        try:
            target = self.server.finder(namespace, pod, container, flag("previous"))
        except LogLookupError as exc:
            self._plain(404 if "not found" in str(exc) else 400, str(exc))
            return
        try:
            data = target.path.read_bytes()
        except FileNotFoundError:
            data = b""
        data = tail_bytes(data, tail)
        if limit is not None:
            data = data[:limit]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        if not flag("follow") or flag("previous"):
            return
        self._follow(target, target.path.stat().st_size if target.path.exists() else 0)

    def _follow(self, target: LogTarget, offset: int) -> None:
        try:
            while True:
                running = target.running()
                with target.path.open("rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
                if chunk:
                    offset += len(chunk)
                    self.wfile.write(chunk)
                    self.wfile.flush()
                elif not running:
                    return
                else:
                    time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError, FileNotFoundError, ssl.SSLError):
            return


class LogServer(http.server.ThreadingHTTPServer):
    """HTTPS server for container logs, run in a daemon thread."""

    daemon_threads = True

    def __init__(
        self, host: str, port: int, finder: LogFinder, cert: Path, key: Path, client_ca: Path | None
    ) -> None:
        super().__init__((host, port), _Handler)
        self.finder = finder
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        if client_ca is not None and client_ca.exists():
            context.load_verify_locations(str(client_ca))
            context.verify_mode = ssl.CERT_REQUIRED
        self.socket = context.wrap_socket(self.socket, server_side=True)

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.server_address[1])

    def start(self) -> threading.Thread:
        """Serve in a daemon thread."""
        thread = threading.Thread(target=self.serve_forever, name="logserver", daemon=True)
        thread.start()
        return thread

    def handle_error(self, request: object, client_address: object) -> None:
        log.debug("logserver: connection from %s failed", client_address, exc_info=True)
