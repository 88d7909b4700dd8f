"""Service resolution's port lookup: numbers, digit strings and container port names."""

from __future__ import annotations

import pytest

from labkit.errors import LabError
from labkit.service_targets import container_port

POD = {
    "metadata": {"name": "registry-0"},
    "spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8000}]}]},
}


def test_numbers_and_digit_strings_are_the_port() -> None:
    assert container_port(POD, 9000) == 9000
    assert container_port(POD, "9000") == 9000


def test_a_name_resolves_to_its_container_port() -> None:
    assert container_port(POD, "http") == 8000


def test_an_unknown_name_names_the_pod_and_the_port() -> None:
    with pytest.raises(LabError, match=r"pod/registry-0 has no container port named 'grpc'"):
        container_port(POD, "grpc")
