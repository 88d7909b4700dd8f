"""Fixtures for tests that use real clients and peers: the Go registry binary and our registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.go_registry import GoRegistryUnavailable, go_registry_binary
from tests.conftest import running_in_ci


@pytest.fixture(scope="session")
def go_registry_bin() -> Path:
    """The real Go registry binary, fetched once; skip (fail under CI=true) when it cannot be had."""
    try:
        return go_registry_binary()
    except GoRegistryUnavailable as exc:
        if running_in_ci():
            pytest.fail(f"the Go registry is needed under CI=true: {exc}")
        pytest.skip(f"the Go registry is not available: {exc}")
