"""Suite-wide test helpers: how a test that needs a machine service decides to skip or fail."""

from __future__ import annotations

import os
import socket

import pytest

pytest_plugins = ["tests.cluster_fixture"]


def running_in_ci() -> bool:
    """CI sets CI=true; there a missing service is a failure, not a skip."""
    return os.environ.get("CI", "").lower() == "true"


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or, under CI=true, fail) unless the named service answers on host:port."""
    if port_open(host, port):
        return
    reason = f"{name} is not reachable on {host}:{port}"
    if running_in_ci():
        pytest.fail(f"{reason}, and CI=true requires it")
    pytest.skip(reason)
