"""Fixtures for labkit's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.labkit.stub_registry import StubState, stub_registry


@pytest.fixture
def stub() -> Iterator[tuple[str, StubState]]:
    """A stand-in registry on loopback: (url, state)."""
    with stub_registry() as served:
        yield served
