"""Container probes (httpGet, tcpSocket, exec) and the kubelet's threshold bookkeeping."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ExecRunner = Callable[[list[str], float], tuple[int, str]]


@dataclass(frozen=True)
class ProbeResult:
    """One probe attempt: success or failure, with the kubelet-style message on failure."""

    ok: bool
    message: str = ""


def resolve_port(port: Any, container: Mapping[str, Any]) -> int:
    """A probe port as a number; a name is looked up in the container's ports."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"port {port!r} is not a named port of container {container.get('name')!r}")


def http_get(
    spec: Mapping[str, Any], pod_ip: str, container: Mapping[str, Any], timeout: float
) -> ProbeResult:
    """Success for a status from 200 to 399, as the kubelet."""
    host = spec.get("host") or pod_ip
    scheme = str(spec.get("scheme") or "HTTP").upper()
    path = str(spec.get("path") or "/")
    if not path.startswith("/"):
        path = "/" + path
    try:
        port = resolve_port(spec.get("port"), container)
    except ValueError as exc:
        return ProbeResult(False, str(exc))
    url = f"{scheme.lower()}://{host}:{port}{path}"
    conn: http.client.HTTPConnection
    if scheme == "HTTPS":
        conn = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl._create_unverified_context()
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"User-Agent": "kube-probe/1.20", "Accept": "*/*"}
    headers.update({h["name"]: h["value"] for h in spec.get("httpHeaders") or []})
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read(10 * 1024)
        status = response.status
    except TimeoutError:
        return ProbeResult(
            False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
        )
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, ConnectionRefusedError):
            reason = "connect: connection refused"
        return ProbeResult(False, f'Get "{url}": dial tcp {host}:{port}: {reason}')
    except http.client.HTTPException as exc:
        return ProbeResult(False, f'Get "{url}": {exc!r}')
    finally:
        conn.close()
    if 200 <= status < 400:
        return ProbeResult(True)
    return ProbeResult(False, f"HTTP probe failed with statuscode: {status}")


def tcp_socket(
    spec: Mapping[str, Any], pod_ip: str, container: Mapping[str, Any], timeout: float
) -> ProbeResult:
    """Success when a TCP connection opens."""
    host = spec.get("host") or pod_ip
    try:
        port = resolve_port(spec.get("port"), container)
        with socket.create_connection((host, port), timeout=timeout):
            return ProbeResult(True)
    except ValueError as exc:
        return ProbeResult(False, str(exc))
    except OSError as exc:
        return ProbeResult(False, f"dial tcp {host}:{spec.get('port')}: {exc.strerror or exc}")


def run_probe(
    probe: Mapping[str, Any], pod_ip: str, container: Mapping[str, Any], run_exec: ExecRunner
) -> ProbeResult:
    """Run one probe attempt of whichever kind the spec declares."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    if probe.get("httpGet"):
        return http_get(probe["httpGet"], pod_ip, container, timeout)
    if probe.get("tcpSocket"):
        return tcp_socket(probe["tcpSocket"], pod_ip, container, timeout)
    if probe.get("exec"):
        command = [str(word) for word in probe["exec"].get("command") or []]
        try:
            code, output = run_exec(command, timeout)
        except TimeoutError:
            return ProbeResult(False, f"command {command!r} timed out")
        if code == 0:
            return ProbeResult(True)
        return ProbeResult(False, output.strip() or f"command {command!r} exited with {code}")
    kinds = sorted(k for k in probe if isinstance(probe[k], dict))
    return ProbeResult(False, f"probe type {kinds} is not supported by the labkit node")


class ProbeTracker:
    """When one probe is due, and what its thresholds make of the attempts so far."""

    def __init__(self, kind: str, probe: Mapping[str, Any], started_monotonic: float, initial: bool) -> None:
        self.kind = kind
        self.probe = probe
        self.initial_delay = float(probe.get("initialDelaySeconds") or 0)
        self.period = float(probe.get("periodSeconds") or 10)
        self.success_threshold = int(probe.get("successThreshold") or 1)
        self.failure_threshold = int(probe.get("failureThreshold") or 3)
        self.started = started_monotonic
        self.next_due = started_monotonic + self.initial_delay
        self.successes = 0
        self.failures = 0
        self.healthy = initial

    def due(self, now: float | None = None) -> bool:
        """Whether an attempt is due now."""
        return (time.monotonic() if now is None else now) >= self.next_due

    def record(self, result: ProbeResult, now: float | None = None) -> bool:
        """Count an attempt; return whether the probe's verdict (``healthy``) changed."""
        self.next_due = (time.monotonic() if now is None else now) + self.period
        before = self.healthy
        if result.ok:
            self.failures = 0
            self.successes += 1
            if self.successes >= self.success_threshold:
                self.healthy = True
        else:
            self.successes = 0
            self.failures += 1
            if self.failures >= self.failure_threshold:
                self.healthy = False
        return before != self.healthy
