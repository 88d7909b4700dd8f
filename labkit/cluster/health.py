"""Readiness probes of the components over loopback, and a bounded wait that says what it saw last."""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from labkit.cluster.errors import ClusterError


def http_ok(url: str, context: ssl.SSLContext | None = None, timeout: float = 2.0) -> tuple[bool, str]:
    """Whether GET url answers 200, and a short description of what it answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            body = response.read(200).decode(errors="replace")
            return response.status == 200, f"{response.status} {body.strip()[:80]}"
    except urllib.error.HTTPError as error:
        return False, f"{error.code} {error.read(200).decode(errors='replace').strip()[:80]}"
    except (OSError, ssl.SSLError) as error:
        return False, str(getattr(error, "reason", error))


def client_context(ca_cert: Path, client_cert: Path, client_key: Path) -> ssl.SSLContext:
    """TLS context that trusts the cluster CA and presents a client certificate."""
    context = ssl.create_default_context(cafile=str(ca_cert))
    context.load_cert_chain(str(client_cert), str(client_key))
    return context


def insecure_context() -> ssl.SSLContext:
    """TLS context for the controller-manager's and scheduler's self-signed health endpoints."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def wait_until(
    condition: Callable[[], tuple[bool, str]],
    what: str,
    timeout: float,
    still_running: Callable[[], str | None] | None = None,
    interval: float = 0.25,
) -> None:
    """Poll ``condition`` until it holds; raise ClusterError naming ``what`` and the last answer.

    ``still_running`` returns an error message when a process the wait depends on has died, which ends
    the wait at once instead of at the timeout.
    """
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while True:
        ok, last = condition()
        if ok:
            return
        if still_running is not None:
            problem = still_running()
            if problem:
                raise ClusterError(f"{what}: {problem}")
        if time.monotonic() >= deadline:
            raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last}")
        time.sleep(interval)
