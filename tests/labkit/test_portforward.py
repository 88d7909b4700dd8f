"""Port-forwarding pieces without a cluster: the local TCP forwarder and the kubectl process wrapper."""

from __future__ import annotations

import sys
import textwrap
import time

import httpx
import pytest

from labkit.errors import LabError
from labkit.portforward import kubectl_forward, local_forward
from tests.labkit.stub_registry import StubState, stub_registry
from tests.processes import free_port


def test_the_local_forwarder_re_resolves_its_target_per_connection(stub: tuple[str, StubState]) -> None:
    url, state = stub
    with stub_registry() as (other_url, other_state):
        targets = [("127.0.0.1", int(url.rsplit(":", 1)[1]))]
        with local_forward(lambda: targets[-1]) as forwarded:
            assert forwarded.startswith("http://127.0.0.1:")
            httpx.post(forwarded + "/agents", json={"id": "first", "capabilities": [], "endpoint": "x"})
            targets.append(("127.0.0.1", int(other_url.rsplit(":", 1)[1])))  # a failover moved the Service
            deadline = time.monotonic() + 5  # the old target may stay cached for a moment
            while "second" not in other_state.agents and time.monotonic() < deadline:
                httpx.post(forwarded + "/agents", json={"id": "second", "capabilities": [], "endpoint": "x"})
                time.sleep(0.1)
    assert "first" in state.agents
    assert "second" in other_state.agents


def test_the_local_forwarder_closes_a_connection_it_cannot_place() -> None:
    def nowhere() -> tuple[str, int]:
        raise LabError("svc/x has no ready pods behind it")

    with local_forward(nowhere) as url, pytest.raises(httpx.TransportError):
        httpx.get(url + "/health", timeout=5)


def fake_kubectl(script: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(script)]


def test_kubectl_forward_waits_for_forwarding_from_and_stops_the_process(stub: tuple[str, StubState]) -> None:
    url, _ = stub
    port = url.rsplit(":", 1)[1]
    command = fake_kubectl(
        f"""
        import time
        print("Forwarding from 127.0.0.1:{port} -> 8000", flush=True)
        print("Forwarding from [::1]:{port} -> 8000", flush=True)
        time.sleep(60)
        """
    )
    with kubectl_forward(command, {}) as forwarded:
        assert forwarded == f"http://127.0.0.1:{port}"
        assert httpx.get(forwarded + "/health").json() == {"status": "healthy"}


def test_kubectl_forward_that_exits_is_one_clear_error() -> None:
    command = fake_kubectl(
        """
        import sys
        print('error: unable to forward port because pod is not running. Current status=Pending', flush=True)
        sys.exit(1)
        """
    )
    with (
        pytest.raises(
            LabError, match=r"kubectl port-forward exited with status 1: error: unable to forward port"
        ),
        kubectl_forward(command, {}, timeout=10),
    ):
        pass


def test_kubectl_forward_that_never_forwards_times_out() -> None:
    command = fake_kubectl("import time; time.sleep(30)")
    with (
        pytest.raises(LabError, match=r"did not start forwarding within 1s"),
        kubectl_forward(command, {}, timeout=1),
    ):
        pass
    assert free_port()  # the port helper still works: nothing leaked a listening socket
