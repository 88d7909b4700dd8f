"""Target resolution: container ports by number or name, Service ports, ready Endpoints."""

from __future__ import annotations

import pytest

from labkit.errors import BadParameter, LabError
from labkit.service_targets import container_port, ready_endpoints, service_port

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


SERVICE = {
    "metadata": {"name": "reg"},
    "spec": {"selector": {"app": "reg"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
}
ENDPOINTS = {
    "subsets": [
        {
            "addresses": [
                {"ip": "10.0.0.2", "targetRef": {"kind": "Pod", "name": "reg-1"}},
                {"ip": "10.0.0.1", "targetRef": {"kind": "Pod", "name": "reg-0"}},
            ],
            "notReadyAddresses": [{"ip": "10.0.0.3", "targetRef": {"kind": "Pod", "name": "reg-2"}}],
            "ports": [{"name": "metrics", "port": 9090}, {"name": "http", "port": 8000}],
        }
    ]
}


def test_a_service_port_is_found_by_number_digits_or_name() -> None:
    assert service_port(SERVICE, 80)["name"] == "http"
    assert service_port(SERVICE, "80")["name"] == "http"
    assert service_port(SERVICE, "http")["port"] == 80


def test_an_unknown_service_port_names_the_ports_there_are() -> None:
    with pytest.raises(BadParameter, match=r"svc/reg has no port 81 \(it has: 80\)"):
        service_port(SERVICE, 81)


def test_only_ready_endpoints_of_that_port_are_targets() -> None:
    assert ready_endpoints(ENDPOINTS, service_port(SERVICE, 80)) == [("reg-0", 8000), ("reg-1", 8000)]
    assert ready_endpoints({}, service_port(SERVICE, 80)) == []
